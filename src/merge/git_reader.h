// Reading trees and blobs for the merge engine, counting every read.
//
// The merge promises a cost that follows the change, not the database; the
// counters make that promise checkable (tests/tree_merge_test.cc asserts
// the number of trees a merge into a large tree reads).
#ifndef XGDB_MERGE_GIT_READER_H_
#define XGDB_MERGE_GIT_READER_H_

#include <git2.h>

#include <string>

#include "store/git_ptr.h"

namespace xgdb::merge {

struct ReadStats {
  size_t trees_read = 0;
  size_t blobs_read = 0;
  size_t trees_written = 0;
};

class GitReader {
 public:
  explicit GitReader(git_repository* repo) : repo_(repo) {}

  git_repository* repo() const { return repo_; }
  ReadStats& stats() { return stats_; }

  store::TreePtr Tree(const git_oid& id) {
    git_tree* raw = nullptr;
    store::Check(git_tree_lookup(&raw, repo_, &id), "reading tree " + store::OidHex(id),
                 ErrorKind::kCorrupt);
    ++stats_.trees_read;
    return store::TreePtr(raw);
  }

  // The tree an entry names, or null when the entry is absent or a blob.
  store::TreePtr Tree(const git_tree_entry* e) {
    if (e == nullptr || git_tree_entry_type(e) != GIT_OBJECT_TREE) return nullptr;
    return Tree(*git_tree_entry_id(e));
  }

  std::string Blob(const git_oid& id) {
    git_blob* raw = nullptr;
    store::Check(git_blob_lookup(&raw, repo_, &id), "reading blob " + store::OidHex(id),
                 ErrorKind::kCorrupt);
    store::BlobPtr blob(raw);
    ++stats_.blobs_read;
    return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                       static_cast<size_t>(git_blob_rawsize(blob.get())));
  }

 private:
  git_repository* repo_;
  ReadStats stats_;
};

}  // namespace xgdb::merge

#endif  // XGDB_MERGE_GIT_READER_H_
