#include "store/refs.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "store/git_ptr.h"
#include "xgdb/error.h"

namespace xgdb::store {

namespace fs = std::filesystem;

namespace {

std::string Join(const std::string& git_dir, const std::string& rel) {
  std::string out = git_dir;
  if (!out.empty() && out.back() != '/') out += '/';
  return out + rel;
}

std::string Parent(const std::string& path) { return fs::path(path).parent_path().string(); }

// A reflog message is one line.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

}  // namespace

void WriteRef(Env& env, const std::string& git_dir, const std::string& ref, const git_oid* old,
              const git_oid& target, const RefAuthor& author, const std::string& message,
              bool sync) {
  const std::string path = Join(git_dir, ref);
  const std::string dir = Parent(path);
  env.CreateDir(dir, 0700);
  const std::string lock = path + ".lock";
  {
    auto file = env.NewWritableFile(lock, 0600);
    file->Append(OidHex(target) + "\n");
    if (sync) file->Sync();
    file->Close();
  }
  env.RenameFile(lock, path);
  if (sync) env.SyncDir(dir);

  const std::string log_path = Join(git_dir, "logs/" + ref);
  std::string line = (old != nullptr ? OidHex(*old) : std::string(GIT_OID_HEXSZ, '0')) + " " +
                     OidHex(target) + " " + OneLine(author.name) + " <" + OneLine(author.email) +
                     "> " + std::to_string(author.time) + " +0000\t" + OneLine(message) + "\n";
  try {
    env.CreateDir(Parent(log_path), 0700);
    auto log = env.NewAppendableFile(log_path, 0600);
    log->Append(line);
    log->Close();
  } catch (const Error& e) {
    // The ref has moved; its reflog is a record for people, not state.
    spdlog::warn("{}: {} moved, but its reflog was not written: {}", git_dir, ref, e.what());
  }
}

void DeleteRef(Env& env, const std::string& git_dir, const std::string& ref, bool sync) {
  const std::string path = Join(git_dir, ref);
  env.RemoveFile(path);
  env.RemoveFile(Join(git_dir, "logs/" + ref));
  // A ref that `git pack-refs` moved into packed-refs is there too.
  const std::string packed_path = Join(git_dir, "packed-refs");
  std::ifstream in(packed_path);
  if (in) {
    std::string line, kept;
    bool found = false, skip_peeled = false;
    while (std::getline(in, line)) {
      if (skip_peeled && !line.empty() && line[0] == '^') continue;
      skip_peeled = false;
      if (line.size() == GIT_OID_HEXSZ + 1 + ref.size() &&
          line.compare(GIT_OID_HEXSZ + 1, std::string::npos, ref) == 0) {
        found = skip_peeled = true;
        continue;
      }
      kept += line + "\n";
    }
    if (found) WriteFileAtomically(env, packed_path, kept, 0600, sync);
  }
  if (sync) env.SyncDir(Parent(path));
}

size_t RemoveStaleRefLocks(Env& env, const std::string& git_dir) {
  size_t removed = 0;
  std::vector<std::string> locks;
  for (const char* name : {"HEAD.lock", "packed-refs.lock"}) {
    std::error_code ec;
    if (fs::exists(Join(git_dir, name), ec)) locks.push_back(Join(git_dir, name));
  }
  for (const char* top : {"refs", "logs"}) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(Join(git_dir, top), ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->path().extension() == ".lock") locks.push_back(it->path().string());
    }
  }
  for (const std::string& lock : locks) {
    env.RemoveFile(lock);
    ++removed;
  }
  return removed;
}

}  // namespace xgdb::store
