#include "store/object_sink.h"

#include <git2/sys/odb_backend.h>

#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "store/git_ptr.h"

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

ObjectSink* ObjectSink::Attach(git_repository* repo) {
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
  backend->sink.reset(new ObjectSink(repo, backend.get()));
  ObjectSink* sink = backend->sink.get();
  // Priority above the loose (1) and pack (2) backends: writes come here.
  Check(git_odb_add_backend(odb, &backend->parent, 1000), "registering the object sink");
  backend.release();  // owned by the odb now
  return sink;
}

size_t ObjectSink::pending() const { return backend_->order.size(); }
size_t ObjectSink::pending_bytes() const { return backend_->bytes; }

void ObjectSink::Discard() {
  backend_->objects.clear();
  backend_->order.clear();
  backend_->bytes = 0;
}

namespace {

struct ProgressPayload {
  const std::function<void(size_t, size_t)>* fn;
};

int PackProgress(int stage, uint32_t current, uint32_t total, void* payload) {
  auto* p = static_cast<ProgressPayload*>(payload);
  if (stage == GIT_PACKBUILDER_ADDING_OBJECTS) return 0;
  (*p->fn)(current, total);
  return 0;
}

}  // namespace

std::string ObjectSink::WritePack(const std::function<void(size_t, size_t)>& progress) {
  if (backend_->order.empty()) return "";
  git_packbuilder* raw_pb = nullptr;
  Check(git_packbuilder_new(&raw_pb, repo_), "creating a pack");
  PackBuilderPtr pb(raw_pb);
  git_packbuilder_set_threads(pb.get(), 1);
  ProgressPayload payload{&progress};
  if (progress) {
    git_packbuilder_set_callbacks(pb.get(), &PackProgress, &payload);
  }
  for (const git_oid& id : backend_->order) {
    Check(git_packbuilder_insert(pb.get(), &id, nullptr), "adding an object to a pack");
  }
  std::string dir = std::string(git_repository_path(repo_)) + "objects/pack";
  Check(git_packbuilder_write(pb.get(), dir.c_str(), 0, nullptr, nullptr), "writing a pack");
  std::string pack = dir + "/pack-" + git_packbuilder_name(pb.get()) + ".pack";
  // Make the pack backend see the new pack before the objects leave memory.
  git_odb* odb = nullptr;
  Check(git_repository_odb(&odb, repo_), "opening the object database");
  OdbPtr odb_owner(odb);
  Check(git_odb_refresh(odb), "refreshing the object database");
  Discard();
  return pack;
}

}  // namespace xgdb::store
