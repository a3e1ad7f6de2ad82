#include "statedb/gzip.h"

#include <zlib.h>

#include <algorithm>

#include "xgdb/error.h"

namespace xgdb::statedb {

namespace {

// inflate/deflate take 32-bit lengths; feed large inputs in slices.
constexpr size_t kSlice = 1u << 30;
constexpr size_t kChunk = 1u << 20;

}  // namespace

bool IsGzip(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

size_t GunzipLimit(size_t compressed_bytes) {
  return std::max<size_t>(size_t{64} << 20, compressed_bytes * 64);
}

std::string Gunzip(std::string_view data) {
  const size_t limit = GunzipLimit(data.size());
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (CRC and length checked).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    throw Error(ErrorKind::kIo, "gzip: cannot initialise zlib");
  }
  std::string out;
  out.reserve(data.size() * 4);
  size_t in_pos = 0;
  int rc = Z_OK;
  for (;;) {
    if (zs.avail_in == 0 && in_pos < data.size()) {
      size_t n = std::min(kSlice, data.size() - in_pos);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_pos));
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    size_t old = out.size();
    out.resize(old + kChunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    zs.avail_out = static_cast<uInt>(kChunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(old + (kChunk - zs.avail_out));
    if (out.size() > limit) {
      inflateEnd(&zs);
      throw Error(ErrorKind::kInvalidArgument,
                  "gzip: compressed state.db of " + std::to_string(data.size()) +
                      " bytes expands beyond " + std::to_string(limit) +
                      " bytes; refused (a real one compresses 10-20 times, not 64)");
    }
    if (rc == Z_STREAM_END) {
      // Another member may follow (what `cat a.gz b.gz` makes).
      if (zs.avail_in == 0 && in_pos == data.size()) break;
      if (inflateReset(&zs) != Z_OK) break;
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_pos == data.size()) {
      inflateEnd(&zs);
      throw Error(ErrorKind::kInvalidArgument,
                  "gzip: compressed state.db is truncated (after " +
                      std::to_string(zs.total_in) + " compressed bytes)");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      std::string why = zs.msg ? zs.msg : "error " + std::to_string(rc);
      size_t at = zs.total_in;
      inflateEnd(&zs);
      throw Error(ErrorKind::kInvalidArgument,
                  "gzip: compressed state.db is damaged near compressed byte " +
                      std::to_string(at) + ": " + why);
    }
  }
  inflateEnd(&zs);
  return out;
}

std::string Gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    throw Error(ErrorKind::kIo, "gzip: cannot initialise zlib");
  }
  std::string out;
  out.reserve(data.size() / 4 + 64);
  size_t in_pos = 0;
  for (;;) {
    if (zs.avail_in == 0 && in_pos < data.size()) {
      size_t n = std::min(kSlice, data.size() - in_pos);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_pos));
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    int flush = (in_pos == data.size()) ? Z_FINISH : Z_NO_FLUSH;
    size_t old = out.size();
    out.resize(old + kChunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    zs.avail_out = static_cast<uInt>(kChunk);
    int rc = deflate(&zs, flush);
    out.resize(old + (kChunk - zs.avail_out));
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      deflateEnd(&zs);
      throw Error(ErrorKind::kIo, "gzip: compression failed");
    }
  }
  deflateEnd(&zs);
  return out;
}

}  // namespace xgdb::statedb
