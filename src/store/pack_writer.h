// A minimal pack writer (git's Documentation/gitformat-pack.txt): a version 2
// pack of whole (undeltified) zlib-deflated objects plus its version 2 index.
//
// Commits write a handful of small objects; git_packbuilder's delta search,
// object lookups and indexer cost far more than the writing itself there.
// Deltas are left to the background repacker (repack.cc), which uses
// git_packbuilder.
#ifndef XGDB_STORE_PACK_WRITER_H_
#define XGDB_STORE_PACK_WRITER_H_

#include <git2.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "xgdb/env.h"

namespace xgdb::store {

struct PackObject {
  git_oid id;
  git_object_t type;
  const std::string* data;  // the object's content (without git's header)
};

// Fresh empty files for new packs, made ahead of time by a background
// thread in <git_dir>/xgdb-spare/. Allocating an inode can cost more than the
// rest of a commit (0.5 ms per file measured on this project's ext4, mounted
// without a journal, after heavy churn), so commits should not wait for it.
// Only files this pool made are handed out: a retired pack is never reused,
// as readers (git, other handles) may still have it mapped.
class SparePool {
 public:
  SparePool(Env& env, std::string git_dir);  // removes leftovers of a crash
  ~SparePool();
  SparePool(const SparePool&) = delete;
  SparePool& operator=(const SparePool&) = delete;
  // The path of a fresh empty file, or "" when none is ready.
  std::string Take();

 private:
  void Run();
  Env& env_;
  std::string dir_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> ready_;
  bool stop_ = false;
  uint64_t made_ = 0;
  std::thread thread_;
};

// Writes pack-<checksum>.{pack,idx} into <git_dir>/objects/pack through
// `env`: each file
// is written under a temporary name (from `spares` when it has one), synced
// when `fsync`, and renamed, the pack before its index (an index makes a
// pack visible to readers); with `fsync` the directory is synced last.
// Returns the .pack path. Error(kIo) on failure (temporaries are removed).
std::string WritePackFiles(Env& env, const std::string& git_dir,
                           const std::vector<PackObject>& objects, bool fsync,
                           SparePool* spares = nullptr);

// Puts a finished pack and its index (bytes, checksums included) into
// <git_dir>/objects/pack as pack-<name>.{pack,idx}, as WritePackFiles does.
std::string InstallPackFiles(Env& env, const std::string& git_dir, const std::string& name,
                             const std::string& pack, const std::string& idx, bool fsync,
                             SparePool* spares = nullptr);

// Appends a pack entry's header: type (GIT_OBJECT_REF_DELTA for a delta)
// and inflated size, 4 bits then 7 per byte.
void PutObjectHeader(std::string& out, git_object_t type, uint64_t size);

// An entry copied as is from another pack: its pack header and zlib data
// (undeltified: a delta's base would be at another offset), and its CRC32.
struct RawPackEntry {
  git_oid id;
  uint32_t crc;
  std::string_view bytes;
};

// As WritePackFiles, from entries already encoded (the repacker combining
// packs this writer made: no inflating and deflating again).
std::string WriteRawPackFiles(Env& env, const std::string& git_dir,
                              const std::vector<RawPackEntry>& entries, bool fsync);

}  // namespace xgdb::store

#endif  // XGDB_STORE_PACK_WRITER_H_
