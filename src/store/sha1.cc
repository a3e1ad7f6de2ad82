#include "store/sha1.h"

#include <algorithm>
#include <cstring>

namespace xgdb::store {
namespace {

uint32_t Rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

}  // namespace

Sha1::Sha1() : h_{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0} {}

void Sha1::Block(const unsigned char* p) {
  uint32_t w[80];
  for (int i = 0; i < 16; ++i) {
    w[i] = (uint32_t{p[4 * i]} << 24) | (uint32_t{p[4 * i + 1]} << 16) |
           (uint32_t{p[4 * i + 2]} << 8) | uint32_t{p[4 * i + 3]};
  }
  for (int i = 16; i < 80; ++i) w[i] = Rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
  for (int i = 0; i < 80; ++i) {
    uint32_t f, k;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5A827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = b ^ c ^ d;
      k = 0xCA62C1D6;
    }
    uint32_t t = Rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = Rol(b, 30);
    b = a;
    a = t;
  }
  h_[0] += a;
  h_[1] += b;
  h_[2] += c;
  h_[3] += d;
  h_[4] += e;
}

void Sha1::Update(const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  total_ += len;
  if (buffered_ > 0) {
    size_t take = std::min(len, sizeof buf_ - buffered_);
    std::memcpy(buf_ + buffered_, p, take);
    buffered_ += take;
    p += take;
    len -= take;
    if (buffered_ < sizeof buf_) return;
    Block(buf_);
    buffered_ = 0;
  }
  for (; len >= 64; p += 64, len -= 64) Block(p);
  std::memcpy(buf_, p, len);
  buffered_ = len;
}

void Sha1::Final(unsigned char out[20]) {
  uint64_t bits = total_ * 8;
  unsigned char pad[72] = {0x80};
  size_t pad_len = (buffered_ < 56 ? 56 : 120) - buffered_;
  Update(pad, pad_len);
  unsigned char len_be[8];
  for (int i = 0; i < 8; ++i) len_be[i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
  Update(len_be, 8);
  for (int i = 0; i < 5; ++i) {
    out[4 * i] = static_cast<unsigned char>(h_[i] >> 24);
    out[4 * i + 1] = static_cast<unsigned char>(h_[i] >> 16);
    out[4 * i + 2] = static_cast<unsigned char>(h_[i] >> 8);
    out[4 * i + 3] = static_cast<unsigned char>(h_[i]);
  }
}

}  // namespace xgdb::store
