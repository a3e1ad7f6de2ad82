// The repository lock (one writing process; docs/durability.md) and what
// a writer cleans up on open: the leftovers of processes that died.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "store/refs.h"
#include "store/store_impl.h"

namespace xgdb {

namespace fs = std::filesystem;
using namespace store;

namespace {

constexpr char kLockFile[] = "xgdb.lock";

std::string LockPath(const std::string& repo) { return (fs::path(repo) / kLockFile).string(); }

// Parses the lock file's "pid N" and "served_at X" lines.
RepositoryHolder ReadHolder(const std::string& repo) {
  RepositoryHolder h;
  std::ifstream in(LockPath(repo));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("pid ", 0) == 0) h.pid = std::atoll(line.c_str() + 4);
    if (line.rfind("served_at ", 0) == 0) h.served_at = line.substr(10);
  }
  return h;
}

}  // namespace

std::optional<RepositoryHolder> Store::Holder(const std::string& path) {
  // A shared flock on a read-only descriptor: it fails exactly while a
  // writer holds the exclusive one, and creates nothing.
  int fd = ::open(LockPath(path).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  if (!held) return std::nullopt;
  return ReadHolder(path);
}

void Store::Impl::LockRepository() {
  repo_lock = env->TryLockFile(LockPath(options.path));
  if (!repo_lock) {
    RepositoryHolder h = ReadHolder(options.path);
    throw Error(ErrorKind::kBusy,
                "repository " + options.path + " is in use by process " +
                    (h.pid > 0 ? std::to_string(h.pid) : std::string("(unknown)")) +
                    (h.served_at.empty() ? "" : ", serving " + h.served_at) +
                    " (one writer at a time: stop it, or send writes through it)");
  }
}

void Store::Impl::AnnounceHolder() {
  std::string note = "pid " + std::to_string(getpid()) + "\n";
  if (!options.served_at.empty()) note += "served_at " + options.served_at + "\n";
  auto file = env->NewWritableFile(LockPath(options.path), 0600);
  file->Append(note);
  file->Close();
}

void Store::Impl::Recover() {
  const std::string& path = options.path;
  size_t locks = RemoveStaleRefLocks(*env, path);
  if (locks > 0) {
    spdlog::warn("store {}: removed {} lock file(s) of refs left by a process that died", path,
                 locks);
  }
  // Temporary packs (tmp_xgdb_*) and a repack's scratch directory belong to
  // the process holding the lock, which is this one: any found now are
  // leftovers of a crash.
  std::error_code ec;
  size_t leftovers = 0;
  for (const auto& e : fs::directory_iterator(fs::path(path) / "objects" / "pack", ec)) {
    if (e.path().filename().string().rfind("tmp_xgdb_", 0) == 0) {
      env->RemoveFile(e.path().string());
      ++leftovers;
    }
  }
  if (fs::exists(fs::path(path) / "xgdb-repack", ec)) {
    fs::remove_all(fs::path(path) / "xgdb-repack", ec);
    ++leftovers;
  }
  if (leftovers > 0) {
    spdlog::warn("store {}: removed {} temporary file(s) left by a process that died", path,
                 leftovers);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    // The repository holds secrets (the secret table): the owner only.
    if (::chmod(path.c_str(), st.st_mode & 0700) == 0) {
      spdlog::warn("store {}: was readable by others (mode {:o}); now {:o}", path,
                   st.st_mode & 0777, st.st_mode & 0700);
    }
  }
}

}  // namespace xgdb
