// For the tests of the store's own tree splicing (store/tree_update.h): a
// scratch bare repository with an ObjectSink like the store's, and the same
// path updates applied by our UpdateTree and by libgit2's
// git_tree_create_updated, whose answer is the oracle.
#ifndef XGDB_TESTS_TREE_UPDATE_ORACLE_H_
#define XGDB_TESTS_TREE_UPDATE_ORACLE_H_

#include <string>
#include <vector>

#include "store/git_ptr.h"
#include "store/object_sink.h"
#include "store/tree_update.h"
#include "store_test_util.h"

namespace xgdb::test {

struct Scratch {
  TempDir dir;
  store::RepoPtr repo;
  store::ObjectSink* sink = nullptr;
  Scratch() {
    store::EnsureLibgit2();
    git_repository* raw = nullptr;
    store::Check(git_repository_init(&raw, (dir / "r.git").c_str(), 1), "init");
    repo.reset(raw);
    sink = store::ObjectSink::Attach(repo.get(), *Env::Default());
  }
  std::string path() const { return dir / "r.git"; }
};

struct UpdateCase {
  std::string path;
  bool remove;
  git_oid id;
  git_filemode_t mode;
};

// `root` with `updates` applied by the store's UpdateTree.
inline git_oid OursUpdated(Scratch& s, const git_oid& root,
                           const std::vector<UpdateCase>& updates) {
  std::vector<store::PathUpdate> ours;
  for (const UpdateCase& c : updates) ours.push_back({c.path, c.remove, c.id, c.mode});
  return store::UpdateTree(s.repo.get(), *s.sink, root, ours);
}

// The same by libgit2; returns its error code (0 on success) and the tree in
// `*out`.
inline int Libgit2Updated(Scratch& s, const git_oid& root, const std::vector<UpdateCase>& updates,
                          git_oid* out) {
  git_tree* raw = nullptr;
  store::Check(git_tree_lookup(&raw, s.repo.get(), &root), "root");
  store::TreePtr base(raw);
  std::vector<git_tree_update> theirs;
  for (const UpdateCase& c : updates) {
    git_tree_update u{};
    u.action = c.remove ? GIT_TREE_UPDATE_REMOVE : GIT_TREE_UPDATE_UPSERT;
    u.id = c.id;
    u.filemode = c.mode;
    u.path = c.path.c_str();
    theirs.push_back(u);
  }
  return git_tree_create_updated(out, s.repo.get(), base.get(), theirs.size(), theirs.data());
}

}  // namespace xgdb::test

#endif  // XGDB_TESTS_TREE_UPDATE_ORACLE_H_
