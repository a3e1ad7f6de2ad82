// gzip for state.db files: xapi's `compress:true` databases are gzip files
// holding the same XML (xapi-data-model.md 1.1).
#ifndef XGDB_STATEDB_GZIP_H_
#define XGDB_STATEDB_GZIP_H_

#include <string>
#include <string_view>

namespace xgdb::statedb {

// True when `data` starts with the gzip magic bytes 1f 8b.
bool IsGzip(std::string_view data);
// Decompresses a whole gzip stream (concatenated members too).
// Error(kInvalidArgument) naming the problem when it is damaged or
// truncated, or when it would expand beyond GunzipLimit(data.size()) bytes
// (a decompression bomb must not take the machine's memory).
std::string Gunzip(std::string_view data);
// The most Gunzip expands `compressed_bytes` to: 64 times as much, and at
// least 64 MiB. A real state.db compresses 10-20 times.
size_t GunzipLimit(size_t compressed_bytes);
// Compresses `data` as one gzip member.
std::string Gzip(std::string_view data);

}  // namespace xgdb::statedb

#endif  // XGDB_STATEDB_GZIP_H_
