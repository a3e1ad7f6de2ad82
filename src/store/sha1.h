// SHA-1 for pack and index checksums (git's pack format names and seals
// files with it; libgit2 has no public API for raw bytes) and for the ids of
// large objects (ObjectSink::Put: faster than libgit2's SHA-1DC, same ids).
// OpenSSL (already linked for TLS) does the hashing.
#ifndef XGDB_STORE_SHA1_H_
#define XGDB_STORE_SHA1_H_

#include <cstddef>
#include <string_view>

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace xgdb::store {

class Sha1 {
 public:
  Sha1();
  ~Sha1();
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;
  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // The 20-byte digest; the object must not be updated afterwards.
  void Final(unsigned char out[20]);

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace xgdb::store

#endif  // XGDB_STORE_SHA1_H_
