#include "store/object_sink.h"

#include <git2/sys/odb_backend.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "store/git_ptr.h"
#include "store/pack_writer.h"
#include "store/sha1.h"

namespace xgdb::store {
namespace {

struct OidHash {
  size_t operator()(const git_oid& id) const {
    size_t h;
    std::memcpy(&h, id.id, sizeof h);  // ids are uniformly random already
    return h;
  }
};
struct OidEq {
  bool operator()(const git_oid& a, const git_oid& b) const { return git_oid_equal(&a, &b); }
};

// An object's id. libgit2 hashes with SHA-1DC (collision detection), ~3x
// slower than OpenSSL's SHA-1, which gives the same id for any real object;
// a task commit hashes a whole bucket tree (tens of KB) per changed row, so
// large objects go through OpenSSL. Small ones stay with git_odb_hash,
// where setting up an OpenSSL context would cost more than the hashing.
git_oid HashObject(git_object_t type, std::string_view data) {
  git_oid id;
  constexpr size_t kOpenSslFrom = 1024;
  if (data.size() < kOpenSslFrom) {
    Check(git_odb_hash(&id, data.data(), data.size(), type), "hashing an object");
    return id;
  }
  char header[64];
  int n = std::snprintf(header, sizeof header, "%s %zu", git_object_type2string(type),
                        data.size());
  Sha1 sha;
  sha.Update(header, static_cast<size_t>(n) + 1);  // with its NUL, as git hashes it
  sha.Update(data);
  sha.Final(id.id);
  return id;
}

struct StoredObject {
  git_object_t type;
  std::string data;
};

}  // namespace

struct ObjectSink::Backend {
  git_odb_backend parent;  // first member: libgit2 hands us &parent
  std::unique_ptr<ObjectSink> sink;
  std::unordered_map<git_oid, StoredObject, OidHash, OidEq> objects;
  std::vector<git_oid> order;
  size_t bytes = 0;

  static Backend* From(git_odb_backend* b) { return reinterpret_cast<Backend*>(b); }

  static int Read(void** out, size_t* len, git_object_t* type, git_odb_backend* b,
                  const git_oid* id) {
    Backend* self = From(b);
    auto it = self->objects.find(*id);
    if (it == self->objects.end()) return GIT_ENOTFOUND;
    void* buf = git_odb_backend_data_alloc(b, it->second.data.size() + 1);
    if (buf == nullptr) return -1;
    std::memcpy(buf, it->second.data.data(), it->second.data.size());
    static_cast<char*>(buf)[it->second.data.size()] = '\0';
    *out = buf;
    *len = it->second.data.size();
    *type = it->second.type;
    return 0;
  }

  static int ReadHeader(size_t* len, git_object_t* type, git_odb_backend* b,
                        const git_oid* id) {
    Backend* self = From(b);
    auto it = self->objects.find(*id);
    if (it == self->objects.end()) return GIT_ENOTFOUND;
    *len = it->second.data.size();
    *type = it->second.type;
    return 0;
  }

  static int Write(git_odb_backend* b, const git_oid* id, const void* data, size_t len,
                   git_object_t type) {
    Backend* self = From(b);
    auto [it, inserted] = self->objects.try_emplace(*id);
    if (inserted) {
      it->second.type = type;
      it->second.data.assign(static_cast<const char*>(data), len);
      self->order.push_back(*id);
      self->bytes += len;
    }
    return 0;
  }

  static int Exists(git_odb_backend* b, const git_oid* id) {
    return From(b)->objects.count(*id) != 0 ? 1 : 0;
  }

  static void Free(git_odb_backend* b) { delete From(b); }
};

ObjectSink* ObjectSink::Attach(git_repository* repo, Env& env) {
  git_odb* odb = nullptr;
  Check(git_repository_odb(&odb, repo), "opening the object database");
  OdbPtr odb_owner(odb);
  auto backend = std::make_unique<Backend>();
  std::memset(&backend->parent, 0, sizeof backend->parent);
  Check(git_odb_init_backend(&backend->parent, GIT_ODB_BACKEND_VERSION), "odb backend");
  backend->parent.read = &Backend::Read;
  backend->parent.read_header = &Backend::ReadHeader;
  backend->parent.write = &Backend::Write;
  backend->parent.exists = &Backend::Exists;
  backend->parent.free = &Backend::Free;
  backend->sink.reset(new ObjectSink(repo, odb, backend.get(), env));
  ObjectSink* sink = backend->sink.get();
  // Priority above the loose (1) and pack (2) backends: writes come here.
  Check(git_odb_add_backend(odb, &backend->parent, 1000), "registering the object sink");
  backend.release();  // owned by the odb now
  return sink;
}

size_t ObjectSink::pending() const { return backend_->order.size(); }
size_t ObjectSink::pending_bytes() const { return backend_->bytes; }

void ObjectSink::Discard() {
  blob_ids_.clear();  // some may name objects that are dropped now
  Forget();
}

void ObjectSink::Forget() {
  backend_->objects.clear();
  backend_->order.clear();
  backend_->bytes = 0;
}

git_oid ObjectSink::Put(git_object_t type, std::string_view data) {
  // Most field values are short and repeat ("Halted", "()", "false"...):
  // remember their blob ids instead of hashing them again (SHA-1 with
  // collision detection costs ~1 us even for a few bytes).
  bool cacheable = type == GIT_OBJECT_BLOB && data.size() <= kCachedBlobBytes;
  if (cacheable) {
    auto it = blob_ids_.find(data);
    if (it != blob_ids_.end()) return it->second;
  }
  git_oid id = HashObject(type, data);
  if (backend_->objects.count(id) == 0 &&
      git_odb_exists_ext(odb_, &id, GIT_ODB_LOOKUP_NO_REFRESH) != 1) {
    Backend::Write(&backend_->parent, &id, data.data(), data.size(), type);
  }
  if (cacheable) {
    if (blob_ids_.size() >= kCachedBlobs) blob_ids_.clear();
    blob_ids_.emplace(std::string(data), id);
  }
  return id;
}

std::string ObjectSink::WritePack(bool fsync) {
  if (backend_->order.empty()) return "";
  std::vector<PackObject> objects;
  objects.reserve(backend_->order.size());
  for (const git_oid& id : backend_->order) {
    const StoredObject& o = backend_->objects.at(id);
    objects.push_back({id, o.type, &o.data});
  }
  std::string pack =
      WritePackFiles(env_, git_repository_path(repo_), objects, fsync, spares_);
  // Make the pack backend see the new pack before the objects leave memory
  // (one directory read, instead of one per missed lookup later).
  Check(git_odb_refresh(odb_), "refreshing the object database");
  Forget();  // packed now: the blob id cache stays valid
  return pack;
}

}  // namespace xgdb::store
