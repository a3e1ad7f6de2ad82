// Backups as git bundles (docs/operations.md, "Back up and restore"): a v2
// bundle is a header naming refs and one pack of every object they reach,
// so plain git verifies and clones it, and a repository is rebuilt from it
// by indexing that pack.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include <spdlog/spdlog.h>

#include "store/layout.h"
#include "store/store_impl.h"

namespace xgdb {

using namespace store;

namespace {

constexpr char kBundleSignature[] = "# v2 git bundle";

// The refs a backup holds: master (and HEAD pointing at it) and each host's.
bool IsBackedUpRef(const std::string& name) {
  if (name == "HEAD" || name == kMasterRef) return true;
  if (name.rfind(kHostRefPrefix, 0) != 0) return false;
  return IsHostUuid(std::string_view(name).substr(std::string_view(kHostRefPrefix).size()));
}

void WriteAll(int fd, const void* data, size_t size, const std::string& file) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorKind::kIo, "writing " + file + ": " + std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

struct Bundle {
  std::vector<std::pair<std::string, git_oid>> refs;  // name, target
};

Bundle ReadBundleHeader(std::ifstream& in, const std::string& file) {
  auto bad = [&file](const std::string& why) {
    return Error(ErrorKind::kInvalidArgument, file + ": " + why);
  };
  std::string line;
  if (!std::getline(in, line) || line != kBundleSignature) {
    throw bad("not a git bundle of version 2 (its first line is not '" +
              std::string(kBundleSignature) + "')");
  }
  Bundle b;
  while (std::getline(in, line) && !line.empty()) {
    if (line[0] == '-') {
      throw bad("the bundle needs commits it does not hold (" + line.substr(0, 48) +
                "): restore needs a whole history");
    }
    git_oid id;
    if (line.size() < GIT_OID_HEXSZ + 2 || line[GIT_OID_HEXSZ] != ' ' ||
        git_oid_fromstrn(&id, line.data(), GIT_OID_HEXSZ) != 0) {
      throw bad("malformed ref line '" + line.substr(0, 80) + "'");
    }
    std::string name = line.substr(GIT_OID_HEXSZ + 1);
    if (!IsBackedUpRef(name)) {
      throw bad("names ref '" + name.substr(0, 80) +
                "', which a repository of xapi-gitdb does not hold");
    }
    b.refs.emplace_back(name, id);
  }
  if (!in) throw bad("the header ends before the pack");
  return b;
}

}  // namespace

size_t Store::Backup(const std::string& file) const {
  const std::vector<std::string> hosts = ListRefs(kHostRefPrefix);
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  bool found = false;
  git_oid master = impl_->MasterId(&found);
  if (!found) throw Error(ErrorKind::kCorrupt, "repository " + path() + " has no master branch");
  std::vector<std::pair<std::string, git_oid>> refs = {{"HEAD", master}, {kMasterRef, master}};
  for (const std::string& host : hosts) {
    git_oid id;
    Check(git_reference_name_to_id(&id, repo, host.c_str()), "reading " + host);
    refs.emplace_back(host, id);
  }

  git_packbuilder* raw_pb = nullptr;
  Check(git_packbuilder_new(&raw_pb, repo), "starting a pack");
  GitPtr<git_packbuilder, git_packbuilder_free> pb(raw_pb);
  git_revwalk* raw_walk = nullptr;
  Check(git_revwalk_new(&raw_walk, repo), "walking history");
  RevwalkPtr walk(raw_walk);
  for (const auto& [ref, id] : refs) Check(git_revwalk_push(walk.get(), &id), "walking " + ref);
  Check(git_packbuilder_insert_walk(pb.get(), walk.get()), "collecting the objects to back up",
        ErrorKind::kCorrupt);

  std::string header = std::string(kBundleSignature) + "\n";
  for (const auto& [ref, id] : refs) header += OidHex(id) + " " + ref + "\n";
  header += "\n";
  const std::string tmp = file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ErrorKind::kIo, "creating " + tmp + ": " + std::strerror(errno));
  try {
    WriteAll(fd, header.data(), header.size(), tmp);
    struct Sink {
      int fd;
      const std::string* file;
      std::optional<Error> error;
    } sink{fd, &tmp, std::nullopt};
    int rc = git_packbuilder_foreach(
        pb.get(),
        [](void* buf, size_t size, void* payload) {
          auto* s = static_cast<Sink*>(payload);
          try {
            WriteAll(s->fd, buf, size, *s->file);
          } catch (const Error& e) {
            s->error = e;
            return -1;
          }
          return 0;
        },
        &sink);
    if (sink.error) throw *sink.error;
    Check(rc, "writing the pack of " + tmp);
    if (::fsync(fd) != 0) throw Error(ErrorKind::kIo, "syncing " + tmp + ": " + std::strerror(errno));
    ::close(fd);
    fd = -1;
    if (std::rename(tmp.c_str(), file.c_str()) != 0) {
      throw Error(ErrorKind::kIo, "renaming " + tmp + " to " + file + ": " + std::strerror(errno));
    }
  } catch (...) {
    if (fd >= 0) ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  std::string dir = std::filesystem::path(file).parent_path().string();
  impl_->env->SyncDir(dir.empty() ? "." : dir);
  return git_packbuilder_object_count(pb.get());
}

std::unique_ptr<Store> Store::Restore(const StoreOptions& options, const std::string& file) {
  if (!IsEmptyOrMissingDir(options.path)) {
    throw Error(ErrorKind::kInvalidArgument,
                options.path + " already exists and is not empty; not restoring into it");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorKind::kIo, "cannot read " + file);
  Bundle bundle = ReadBundleHeader(in, file);
  const git_oid* master = nullptr;
  for (const auto& [ref, id] : bundle.refs) {
    if (ref == kMasterRef) master = &id;
  }
  if (master == nullptr) {
    throw Error(ErrorKind::kInvalidArgument, file + ": the bundle holds no " + kMasterRef);
  }
  const std::filesystem::path created_root = FirstMissingAncestor(options.path);
  try {
    {
      auto impl = Impl::New(options);
      std::lock_guard<std::mutex> lock(impl->git_mu);
      impl->InitRepository();
      impl->LockRepository();
      git_odb* raw_odb = nullptr;
      Check(git_repository_odb(&raw_odb, impl->repo.get()), "opening the object database");
      GitPtr<git_odb, git_odb_free> odb(raw_odb);
      git_indexer_options opts = GIT_INDEXER_OPTIONS_INIT;
      opts.verify = 1;  // every object a commit or tree names must be in the pack
      git_indexer* raw_idx = nullptr;
      std::string pack_dir = options.path + "/objects/pack";
      Check(git_indexer_new(&raw_idx, pack_dir.c_str(), 0400, odb.get(), &opts),
            "indexing the pack of " + file);
      GitPtr<git_indexer, git_indexer_free> idx(raw_idx);
      git_indexer_progress stats{};
      std::vector<char> buf(1 << 20);
      while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        if (in.gcount() > 0) {
          Check(git_indexer_append(idx.get(), buf.data(), static_cast<size_t>(in.gcount()), &stats),
                file + ": the pack", ErrorKind::kCorrupt);
        }
      }
      Check(git_indexer_commit(idx.get(), &stats), file + ": the pack", ErrorKind::kCorrupt);
      for (const auto& [ref, id] : bundle.refs) {
        git_commit* raw_commit = nullptr;
        Check(git_commit_lookup(&raw_commit, impl->repo.get(), &id),
              file + ": " + ref + " names a commit the pack does not hold", ErrorKind::kCorrupt);
        git_commit_free(raw_commit);
        if (ref == "HEAD") continue;  // HEAD is the symbolic ref to master
        WriteRef(*impl->env, options.path, ref, nullptr, id, impl->Author(),
                 "restore: from " + file, options.fsync);
      }
      spdlog::info("store {}: restored {} objects and {} refs from {}", options.path,
                   stats.total_objects, bundle.refs.size(), file);
    }
    return Open(options);  // checks master whole: format, schema, every row
  } catch (...) {
    RemoveCreated(options.path, created_root);
    throw;
  }
}

}  // namespace xgdb
