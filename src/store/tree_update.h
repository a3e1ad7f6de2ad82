// Splicing changed paths into an existing tree (what git_tree_create_updated
// does, but writing through the ObjectSink: see object_sink.h). Untouched
// subtrees are reused by id; only the trees on the changed paths are read
// (through the repository's object cache) and rewritten.
#ifndef XGDB_STORE_TREE_UPDATE_H_
#define XGDB_STORE_TREE_UPDATE_H_

#include <git2.h>

#include <string>
#include <vector>

#include "store/object_sink.h"

namespace xgdb::store {

struct PathUpdate {
  std::string path;  // "a/b/c", entries already encoded
  bool remove = false;
  git_oid id{};      // upserts: the new entry
  git_filemode_t mode = GIT_FILEMODE_BLOB;
};

// The id of `root` with `updates` applied in order (a later update of the
// same path wins). Removing a missing path does nothing; a directory left
// empty by a removal disappears (git has no empty trees). An update below a
// path that is a file is an Error(kCorrupt).
git_oid UpdateTree(git_repository* repo, ObjectSink& sink, const git_oid& root,
                   const std::vector<PathUpdate>& updates);

}  // namespace xgdb::store

#endif  // XGDB_STORE_TREE_UPDATE_H_
