// The seam between the store and the operating system, after LevelDB's Env.
//
// Every file the store writes (packs and their indexes, refs and reflogs,
// the repository lock, state.db exports) and every wall-clock read it makes
// goes through an Env. Tests wrap one (EnvWrapper) to inject faults: a write
// that fails with ENOSPC or EIO, or a crash that loses everything not yet
// synced (tests/fault_env.h). Reads go to libgit2 directly: a fault there
// is a corrupt repository, which Store::Open refuses.
//
// Errors are xgdb::Error of kind kIo naming the path and errno's text,
// except where a method says otherwise.
#ifndef XGDB_ENV_H_
#define XGDB_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace xgdb {

// A file open for writing. Not thread-safe.
class WritableFile {
 public:
  virtual ~WritableFile();  // closes it if Close() was not called (errors ignored)
  virtual void Append(std::string_view data) = 0;
  // Makes everything appended so far durable (fsync): a sync point.
  virtual void Sync() = 0;
  virtual void Close() = 0;  // once; nothing may be appended after it
};

// An exclusive lock on a file (flock): held until destroyed, and released by
// the kernel when its process dies, so a crash never leaves it behind.
class FileLock {
 public:
  virtual ~FileLock();
};

class Env {
 public:
  virtual ~Env();
  // The real file system and clock. Never deleted.
  static Env* Default();

  // Creates `path` (truncating an existing file) for writing; the file gets
  // permission bits `mode` even when it existed.
  virtual std::unique_ptr<WritableFile> NewWritableFile(const std::string& path,
                                                        int mode = 0600) = 0;
  // Opens `path` for appending, creating it (mode `mode`) when absent.
  virtual std::unique_ptr<WritableFile> NewAppendableFile(const std::string& path,
                                                          int mode = 0600) = 0;
  // rename(2): atomically replaces `to`.
  virtual void RenameFile(const std::string& from, const std::string& to) = 0;
  // Removes a file; an absent one is not an error.
  virtual void RemoveFile(const std::string& path) = 0;
  // Creates a directory (and missing parents); an existing one is not an error.
  virtual void CreateDir(const std::string& path, int mode = 0700) = 0;
  // Makes the directory's entries (files created, renamed or removed in it)
  // durable: a sync point.
  virtual void SyncDir(const std::string& path) = 0;
  // Takes the exclusive lock of `path` (created with mode 0600 when absent)
  // without waiting. Null when another process (or another lock in this
  // one) holds it.
  virtual std::unique_ptr<FileLock> TryLockFile(const std::string& path) = 0;
  // Wall-clock time, microseconds since the epoch (commit and reflog times).
  virtual int64_t NowMicros() = 0;
  // A clock that never jumps, microseconds from an arbitrary start (how long
  // a task has been idle).
  virtual int64_t MonotonicMicros() = 0;
};

// Forwards every call to another Env; tests override what they inject into.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path, int mode) override {
    return target_->NewWritableFile(path, mode);
  }
  std::unique_ptr<WritableFile> NewAppendableFile(const std::string& path, int mode) override {
    return target_->NewAppendableFile(path, mode);
  }
  void RenameFile(const std::string& from, const std::string& to) override {
    target_->RenameFile(from, to);
  }
  void RemoveFile(const std::string& path) override { target_->RemoveFile(path); }
  void CreateDir(const std::string& path, int mode) override { target_->CreateDir(path, mode); }
  void SyncDir(const std::string& path) override { target_->SyncDir(path); }
  std::unique_ptr<FileLock> TryLockFile(const std::string& path) override {
    return target_->TryLockFile(path);
  }
  int64_t NowMicros() override { return target_->NowMicros(); }
  int64_t MonotonicMicros() override { return target_->MonotonicMicros(); }

 private:
  Env* target_;
};

// Writes `data` to `path` through `env` so that a crash leaves either the
// old file or the new one: a temporary beside it, synced, renamed over it,
// and (with `sync`) the directory synced.
void WriteFileAtomically(Env& env, const std::string& path, std::string_view data, int mode,
                         bool sync);

}  // namespace xgdb

#endif  // XGDB_ENV_H_
