// Keeps the number of packs bounded. Every commit adds one small pack; a
// background thread, with its own repository handle (libgit2 objects are not
// thread-safe), combines the small packs into one once there are more than
// kMaxPacks, choosing them so that the remaining packs grow geometrically
// (each at least twice the size of all smaller ones together, as
// `git repack --geometric=2` does): total rewrite work stays O(n log n).
#ifndef XGDB_STORE_REPACK_H_
#define XGDB_STORE_REPACK_H_

#include <git2.h>

#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "xgdb/env.h"

namespace xgdb::store {

constexpr size_t kMaxPacks = 16;
// Commits wait for the repacker while there are more than kMaxPacks + this
// many packs (it shares the cores with the committer, and a burst of back
// to back commits can outrun it). At most kMaxPacks + this + 2 packs exist at
// any time: the limit, the pack of the commit that passed the check, and a
// combined pack written just before the packs it replaces are deleted.
constexpr size_t kMaxUnmergedPacks = 64;

// The object ids listed in a pack index (.idx version 2). Error(kCorrupt).
std::vector<git_oid> ReadPackIndex(const std::string& idx_path);

// The packs (paths of the .pack files) under <repo>/objects/pack.
std::vector<std::string> ListPacks(const std::string& repo_path);

// Combines packs of the bare repository at `repo_path` when there are more
// than `max_packs`. The new pack is written first; the old ones are deleted
// inside `swap` (which the store runs under its git lock, then reopens its
// handle). Returns the number of packs combined (0: nothing to do).
//
// Small combinations (below kDeltaRepackBytes together: the frequent ones
// under a stream of commits) are made without delta search -- entries of
// packs the store's writer made are copied byte for byte -- so they take
// milliseconds and the pack count stays bounded even
// when commits come back to back; larger ones, which happen geometrically
// rarely, go through git_packbuilder and get deltas (a single-field commit
// is ~3.7 KB undeltified, ~1.7 KB with deltas).
constexpr uintmax_t kDeltaRepackBytes = 4u << 20;
size_t RepackOnce(Env& env, const std::string& repo_path, size_t max_packs, bool fsync,
                  const std::function<void(const std::function<void()>&)>& swap);

class Repacker {
 public:
  Repacker(Env& env, std::string repo_path, bool fsync,
           std::function<void(const std::function<void()>&)> swap);
  ~Repacker();  // waits for a running repack
  // A commit added a pack: check (in the background) whether to combine.
  void Poke();
  // Combines every pack into one now and waits (`xapi-gitdb gc`). It runs on
  // the repacker's thread, so never beside another repack. Returns the
  // number of packs combined; Error when a repack fails.
  size_t Compact();

 private:
  void Run();
  size_t CompactAll();
  Env& env_;
  std::string path_;
  bool fsync_;
  std::function<void(const std::function<void()>&)> swap_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false, stop_ = false;
  std::vector<std::promise<size_t>> compactions_;  // Compact() callers waiting
  std::thread thread_;
};

}  // namespace xgdb::store

#endif  // XGDB_STORE_REPACK_H_
