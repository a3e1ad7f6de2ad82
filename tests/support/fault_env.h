// An Env for crash and disk-error tests (after LevelDB's
// fault_injection_test): it remembers what a power cut would keep, and can
// fail at a chosen point.
//
// Every file written through it is tracked with the length last synced;
// every directory change (a file created, renamed over another, removed)
// is kept as an undo record until its directory is synced. CrashAt(n)
// makes the n-th sync from now, and every call after it, fail as if the
// process had died there; DropUnsynced() then leaves the disk as the power
// cut would: files cut back to what was synced, unsynced directory changes
// undone. FailWrites makes appends fail with ENOSPC or EIO instead, until
// Heal(). Files libgit2 writes itself (a new repository's skeleton) are not
// seen and count as durable.
#ifndef XGDB_TESTS_SUPPORT_FAULT_ENV_H_
#define XGDB_TESTS_SUPPORT_FAULT_ENV_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "xgdb/env.h"

namespace xgdb::test {

class FaultEnv : public EnvWrapper {
 public:
  FaultEnv() : EnvWrapper(Env::Default()) {}

  // Sync points (file syncs and directory syncs) that succeeded so far.
  int sync_points() const;
  // Appends that succeeded so far.
  int writes() const;
  // The `n`-th sync from now (0: the next one) fails, and so does every
  // call after it: the process is dead from there on.
  void CrashAt(int n);
  bool crashed() const;
  // From the `n`-th append from now on, appends fail with errno `err`
  // (ENOSPC, EIO) until Heal().
  void FailWritesFrom(int n, int err);
  void Heal();
  // What a power cut at the crash would have left on disk. Call once every
  // user of this Env is gone.
  void DropUnsynced();

  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path, int mode) override;
  std::unique_ptr<WritableFile> NewAppendableFile(const std::string& path, int mode) override;
  void RenameFile(const std::string& from, const std::string& to) override;
  void RemoveFile(const std::string& path) override;
  void CreateDir(const std::string& path, int mode) override;
  void SyncDir(const std::string& path) override;
  std::unique_ptr<FileLock> TryLockFile(const std::string& path) override;

 private:
  friend class FaultFile;
  struct Undo {
    enum Kind { kCreate, kRename, kRemove } kind;
    std::string path, from;               // kRename: from -> path
    std::optional<std::string> previous;  // what `path` held before, if anything
  };
  // Opens `path` through the target and starts tracking what is durable.
  std::unique_ptr<WritableFile> Track(const std::string& path, bool append, int mode);
  void CheckAlive();                   // throws after a crash
  void BeforeSync(const std::string& what);  // counts; may crash here
  void BeforeAppend(const std::string& path);
  void Record(const std::string& path, Undo undo);

  mutable std::mutex mu_;
  int syncs_ = 0, writes_ = 0;
  int crash_at_ = -1;  // absolute sync count; -1: never
  bool crashed_ = false;
  int fail_writes_at_ = -1, fail_errno_ = 0;  // absolute append count
  std::map<std::string, size_t> synced_;      // path -> bytes a crash keeps
  std::map<std::string, size_t> size_;        // path -> bytes written
  std::map<std::string, std::vector<Undo>> unsynced_dirs_;
};

}  // namespace xgdb::test

#endif  // XGDB_TESTS_SUPPORT_FAULT_ENV_H_
