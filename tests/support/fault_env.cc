#include "support/fault_env.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "xgdb/error.h"

namespace xgdb::test {

namespace fs = std::filesystem;

namespace {

std::string DirOf(const std::string& path) {
  return fs::path(path).parent_path().lexically_normal().string();
}

std::optional<std::string> Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void Put(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

// A file that reports its appends and syncs to the FaultEnv.
class FaultFile : public WritableFile {
 public:
  FaultFile(FaultEnv& env, std::unique_ptr<WritableFile> file, std::string path)
      : env_(env), file_(std::move(file)), path_(std::move(path)) {}
  void Append(std::string_view data) override {
    env_.BeforeAppend(path_);
    file_->Append(data);
    std::lock_guard<std::mutex> lock(env_.mu_);
    env_.size_[path_] += data.size();
  }
  void Sync() override {
    env_.BeforeSync("sync " + path_);
    file_->Sync();
    std::lock_guard<std::mutex> lock(env_.mu_);
    env_.synced_[path_] = env_.size_[path_];
  }
  void Close() override {
    env_.CheckAlive();
    file_->Close();
  }

 private:
  FaultEnv& env_;
  std::unique_ptr<WritableFile> file_;
  std::string path_;
};

int FaultEnv::sync_points() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

int FaultEnv::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writes_;
}

void FaultEnv::CrashAt(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_at_ = syncs_ + n;
}

bool FaultEnv::crashed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return crashed_;
}

void FaultEnv::FailWritesFrom(int n, int err) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_writes_at_ = writes_ + n;
  fail_errno_ = err;
}

void FaultEnv::Heal() {
  std::lock_guard<std::mutex> lock(mu_);
  fail_writes_at_ = -1;
}

void FaultEnv::CheckAlive() {
  std::lock_guard<std::mutex> lock(mu_);
  if (crashed_) throw Error(ErrorKind::kIo, "simulated crash: the process is gone");
}

void FaultEnv::BeforeSync(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  if (crashed_ || (crash_at_ >= 0 && syncs_ >= crash_at_)) {
    crashed_ = true;
    throw Error(ErrorKind::kIo, "simulated crash before " + what);
  }
  ++syncs_;
}

void FaultEnv::BeforeAppend(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (crashed_) throw Error(ErrorKind::kIo, "simulated crash: the process is gone");
  if (fail_writes_at_ >= 0 && writes_ >= fail_writes_at_) {
    throw Error(ErrorKind::kIo, "cannot write " + path + ": " + std::strerror(fail_errno_));
  }
  ++writes_;
}

void FaultEnv::Record(const std::string& path, Undo undo) {
  std::lock_guard<std::mutex> lock(mu_);
  unsynced_dirs_[DirOf(path)].push_back(std::move(undo));
}

std::unique_ptr<WritableFile> FaultEnv::Track(const std::string& path, bool append,
                                              int mode) {
  CheckAlive();
  std::optional<std::string> previous = Contents(path);
  auto file = append ? target()->NewAppendableFile(path, mode)
                     : target()->NewWritableFile(path, mode);
  if (!previous) Record(path, Undo{Undo::kCreate, path, "", std::nullopt});
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Truncated: nothing of it is durable until a sync. Appended to: what
    // was there before counts as durable.
    size_t had = append && previous ? previous->size() : 0;
    synced_[path] = had;
    size_[path] = had;
  }
  return std::make_unique<FaultFile>(*this, std::move(file), path);
}

std::unique_ptr<WritableFile> FaultEnv::NewWritableFile(const std::string& path, int mode) {
  return Track(path, /*append=*/false, mode);
}

std::unique_ptr<WritableFile> FaultEnv::NewAppendableFile(const std::string& path, int mode) {
  return Track(path, /*append=*/true, mode);
}

void FaultEnv::RenameFile(const std::string& from, const std::string& to) {
  CheckAlive();
  std::optional<std::string> previous = Contents(to);
  target()->RenameFile(from, to);
  Record(to, Undo{Undo::kRename, to, from, previous});
  std::lock_guard<std::mutex> lock(mu_);
  if (synced_.count(from) != 0) {
    synced_[to] = synced_[from];
    size_[to] = size_[from];
    synced_.erase(from);
    size_.erase(from);
  } else {
    synced_.erase(to);  // a file not written through us: durable as it is
    size_.erase(to);
  }
}

void FaultEnv::RemoveFile(const std::string& path) {
  CheckAlive();
  std::optional<std::string> previous = Contents(path);
  target()->RemoveFile(path);
  if (previous) Record(path, Undo{Undo::kRemove, path, "", previous});
}

void FaultEnv::CreateDir(const std::string& path, int mode) {
  CheckAlive();
  target()->CreateDir(path, mode);
}

void FaultEnv::SyncDir(const std::string& path) {
  BeforeSync("syncing directory " + path);
  target()->SyncDir(path);
  std::lock_guard<std::mutex> lock(mu_);
  unsynced_dirs_.erase(fs::path(path).lexically_normal().string());
  unsynced_dirs_.erase(path);
}

std::unique_ptr<FileLock> FaultEnv::TryLockFile(const std::string& path) {
  CheckAlive();
  return target()->TryLockFile(path);
}

void FaultEnv::DropUnsynced() {
  std::lock_guard<std::mutex> lock(mu_);
  // Data first, under the names the files have now.
  for (const auto& [path, keep] : synced_) {
    std::error_code ec;
    if (fs::exists(path, ec) && fs::file_size(path, ec) > keep) fs::resize_file(path, keep, ec);
  }
  // Then the directory changes no sync made durable, newest first.
  for (auto& [dir, undos] : unsynced_dirs_) {
    for (auto it = undos.rbegin(); it != undos.rend(); ++it) {
      std::error_code ec;
      switch (it->kind) {
        case Undo::kCreate:
          fs::remove(it->path, ec);
          break;
        case Undo::kRename:
          if (fs::exists(it->path, ec)) fs::rename(it->path, it->from, ec);
          if (it->previous) Put(it->path, *it->previous);
          break;
        case Undo::kRemove:
          Put(it->path, *it->previous);
          break;
      }
    }
  }
  unsynced_dirs_.clear();
  synced_.clear();
  size_.clear();
}

}  // namespace xgdb::test
