// New objects go to memory first, then into one pack per commit.
//
// libgit2 1.5 writes every object as a loose file (one file, plus a block of
// disk, per field: an import would make a million files), and its mempack
// backend can only dump whole reachable trees. So an ObjectSink is an
// in-memory odb backend registered at the highest priority: every object
// libgit2 writes through the repository (blobs, treebuilder trees,
// git_tree_create_updated trees, commits) lands in it and is readable from
// it at once; WritePack() then puts exactly those objects into one pack
// (pack_writer.h) and forgets them.
//
// The store itself adds objects with Put(), not through git_odb_write:
// libgit2 answers every write of a new object by asking each backend whether
// it exists and, on the expected miss, re-scanning objects/pack (a directory
// read per object: most of a commit's cost). Put() hashes the object and
// checks the packs already known without that refresh; after a pack is
// written the odb is refreshed once.
#ifndef XGDB_STORE_OBJECT_SINK_H_
#define XGDB_STORE_OBJECT_SINK_H_

#include <git2.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xgdb/env.h"

namespace xgdb::store {

class SparePool;

class ObjectSink {
 public:
  // Registers a new sink on `repo`'s odb. The odb owns it: the pointer is
  // valid as long as the repository handle. Packs are written through
  // `env`, which must outlive the handle. Throws Error(kIo).
  static ObjectSink* Attach(git_repository* repo, Env& env);

  // Where WritePack takes its temporary files from (may be null: it
  // creates them). Not owned; must outlive the sink's use.
  void set_spares(SparePool* spares) { spares_ = spares; }

  // Adds an object unless the odb already has it (without re-scanning
  // objects/pack); returns its id. Error(kIo).
  git_oid Put(git_object_t type, std::string_view data);

  // Objects written since the last WritePack/Discard, in write order.
  size_t pending() const;
  size_t pending_bytes() const;

  // Writes the pending objects as one pack (+ index) into objects/pack and
  // forgets them; returns the pack's path ("" when nothing was pending).
  // With `fsync`, the pack, its index and objects/pack are synced first.
  std::string WritePack(bool fsync);

  // Forgets the pending objects (after a failed commit: nothing refers to them).
  void Discard();

  struct Backend;  // the git_odb_backend (object_sink.cc)

 private:
  void Forget();  // drops the pending objects (packed, or being discarded)
  ObjectSink(git_repository* repo, git_odb* odb, Backend* backend, Env& env)
      : repo_(repo), odb_(odb), env_(env), backend_(backend) {}
  git_repository* repo_;
  git_odb* odb_;  // the repository's (which it keeps alive as long as us)
  Env& env_;
  SparePool* spares_ = nullptr;
  // Ids of short blobs stored (packed or pending): content -> id.
  static constexpr size_t kCachedBlobBytes = 64, kCachedBlobs = 1 << 16;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, git_oid, StringHash, std::equal_to<>> blob_ids_;
  Backend* backend_;
};

}  // namespace xgdb::store

#endif  // XGDB_STORE_OBJECT_SINK_H_
