#include "store/sha1.h"

#include <openssl/evp.h>

#include "xgdb/error.h"

namespace xgdb::store {

Sha1::Sha1() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha1(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw Error(ErrorKind::kIo, "SHA-1: cannot set up OpenSSL's digest");
  }
}

Sha1::~Sha1() { EVP_MD_CTX_free(ctx_); }

void Sha1::Update(const void* data, size_t len) { EVP_DigestUpdate(ctx_, data, len); }

void Sha1::Final(unsigned char out[20]) { EVP_DigestFinal_ex(ctx_, out, nullptr); }

}  // namespace xgdb::store
