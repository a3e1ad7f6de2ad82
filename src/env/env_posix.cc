// The default Env: POSIX files, flock, the system clock.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "xgdb/env.h"
#include "xgdb/error.h"

namespace xgdb {

WritableFile::~WritableFile() = default;
FileLock::~FileLock() = default;
Env::~Env() = default;

namespace {

[[noreturn]] void Fail(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorKind::kIo, what + " " + path + ": " + std::strerror(err));
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  void Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Fail("cannot write", path_, errno);
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void Sync() override {
    if (::fdatasync(fd_) != 0) Fail("cannot sync", path_, errno);
  }
  void Close() override {
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) Fail("cannot close", path_, errno);
  }

 private:
  int fd_;
  std::string path_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // closing releases the flock

 private:
  int fd_;
};

class PosixEnv : public Env {
 public:
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path, int mode) override {
    return Open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  }
  std::unique_ptr<WritableFile> NewAppendableFile(const std::string& path, int mode) override {
    return Open(path, O_WRONLY | O_CREAT | O_APPEND, mode);
  }
  void RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) Fail("cannot rename " + from + " to", to, errno);
  }
  void RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) Fail("cannot remove", path, errno);
  }
  void CreateDir(const std::string& path, int mode) override {
    // One mkdir when the directory exists (every ref write asks); missing
    // parents are made the same way, each with `mode` (create_directories
    // would give the umask's, and a parent made here must not be readable
    // by others).
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) == 0) {
      ::chmod(path.c_str(), static_cast<mode_t>(mode));  // past the umask
      return;
    }
    if (errno == EEXIST) return;
    const std::string parent = std::filesystem::path(path).parent_path().string();
    if (errno != ENOENT || parent.empty() || parent == path) {
      Fail("cannot create directory", path, errno);
    }
    CreateDir(parent, mode);
    CreateDir(path, mode);
  }
  void SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) Fail("cannot open directory", path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) Fail("cannot sync directory", path, err);
  }
  std::unique_ptr<FileLock> TryLockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) Fail("cannot open lock file", path, errno);
    // flock locks belong to the open file description, so a second open in
    // this process conflicts too, as a second Store on one repository must.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) return nullptr;
      Fail("cannot lock", path, err);
    }
    return std::make_unique<PosixFileLock>(fd);
  }
  int64_t NowMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  std::unique_ptr<WritableFile> Open(const std::string& path, int flags, int mode) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd < 0) Fail("cannot create", path, errno);
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
      int err = errno;
      ::close(fd);
      Fail("cannot chmod", path, err);
    }
    return std::make_unique<PosixWritableFile>(fd, path);
  }
};

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv;  // never deleted: threads may outlive statics
  return env;
}

void WriteFileAtomically(Env& env, const std::string& path, std::string_view data, int mode,
                         bool sync) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  try {
    auto file = env.NewWritableFile(tmp, mode);
    file->Append(data);
    if (sync) file->Sync();
    file->Close();
    env.RenameFile(tmp, path);
  } catch (...) {
    try {
      env.RemoveFile(tmp);
    } catch (const Error&) {
    }
    throw;
  }
  if (sync) env.SyncDir(DirectoryOf(path));
}

}  // namespace xgdb
