// New objects go to memory first, then into one pack per commit.
//
// libgit2 1.5 writes every object as a loose file (one file, plus a block of
// disk, per field: an import would make a million files), and its mempack
// backend can only dump whole reachable trees. So an ObjectSink is an
// in-memory odb backend registered at the highest priority: every object
// libgit2 writes through the repository (blobs, treebuilder trees,
// git_tree_create_updated trees, commits) lands in it and is readable from
// it at once; WritePack() then puts exactly those objects into one pack with
// git_packbuilder and forgets them.
#ifndef XGDB_STORE_OBJECT_SINK_H_
#define XGDB_STORE_OBJECT_SINK_H_

#include <git2.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace xgdb::store {

class ObjectSink {
 public:
  // Registers a new sink on `repo`'s odb. The odb owns it: the pointer is
  // valid as long as the repository handle. Throws Error(kIo).
  static ObjectSink* Attach(git_repository* repo);

  // Objects written since the last WritePack/Discard, in write order.
  size_t pending() const;
  size_t pending_bytes() const;

  // Writes the pending objects as one pack (+ index) into objects/pack and
  // forgets them; returns the pack's path ("" when nothing was pending).
  // `progress` is called with (objects done, objects total) now and then.
  std::string WritePack(const std::function<void(size_t, size_t)>& progress = nullptr);

  // Forgets the pending objects (after a failed commit: nothing refers to them).
  void Discard();

  struct Backend;  // the git_odb_backend (object_sink.cc)

 private:
  ObjectSink(git_repository* repo, Backend* backend) : repo_(repo), backend_(backend) {}
  git_repository* repo_;
  Backend* backend_;
};

}  // namespace xgdb::store

#endif  // XGDB_STORE_OBJECT_SINK_H_
