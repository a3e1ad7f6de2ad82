// SHA-1 for pack and index checksums (git's pack format names and seals
// files with it). Object ids come from git_odb_hash; this is only for raw
// bytes, which libgit2 has no public API for.
#ifndef XGDB_STORE_SHA1_H_
#define XGDB_STORE_SHA1_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace xgdb::store {

class Sha1 {
 public:
  Sha1();
  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // The 20-byte digest; the object must not be updated afterwards.
  void Final(unsigned char out[20]);

 private:
  void Block(const unsigned char* p);
  uint32_t h_[5];
  unsigned char buf_[64];
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

}  // namespace xgdb::store

#endif  // XGDB_STORE_SHA1_H_
