// Helpers of the merge module's tests (tree_merge_test.cc, ownership_test.cc):
// real repositories written by the Store, forked into base / ours / theirs.
#ifndef XGDB_TESTS_MERGE_TEST_UTIL_H_
#define XGDB_TESTS_MERGE_TEST_UTIL_H_

#include <git2.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "merge/merge.h"
#include "store/git_ptr.h"
#include "store_test_util.h"

namespace xgdb::test {

using DbEdit = std::function<void(Database&)>;

struct Fork {
  std::string path;
  std::shared_ptr<const Schema> schema;
  std::string base, ours, theirs;  // commit ids
};

// A repository at `path` whose master is `base` (setup) plus `ours`, and a
// branch `theirs` = base plus `theirs`; both sides committed by the Store.
inline Fork MakeFork(const std::string& path, std::shared_ptr<const Schema> schema,
                     const DbEdit& setup, const DbEdit& ours, const DbEdit& theirs) {
  Fork f{path, schema, "", "", ""};
  {
    auto store = Store::Create(TestOptions(path), schema);
    setup(store->db());
    store->Commit("setup");
    f.base = store->Head();
    theirs(store->db());
    store->Commit("theirs");
    f.theirs = store->Head();
  }
  EXPECT_EQ(Git(path, "update-ref refs/heads/theirs " + f.theirs).exit_code, 0);
  EXPECT_EQ(Git(path, "update-ref refs/heads/master " + f.base).exit_code, 0);
  {
    auto store = Store::Open(TestOptions(path));
    ours(store->db());
    store->Commit("ours");
    f.ours = store->Head();
  }
  return f;
}

inline store::RepoPtr OpenRepo(const std::string& path) {
  store::EnsureLibgit2();
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, path.c_str()) != 0) {
    throw Error(ErrorKind::kIo, "cannot open " + path);
  }
  return store::RepoPtr(raw);
}

inline merge::MergeOutcome MergeFork(const Fork& f, const merge::MergeOptions& options = {}) {
  store::RepoPtr repo = OpenRepo(f.path);
  return merge::MergeCommits(repo.get(), f.ours, f.theirs, options);
}

// The database as of a commit of the fork's repository.
inline std::unique_ptr<Database> LoadCommit(const Fork& f, const std::string& commit) {
  auto store = Store::Open(TestOptions(f.path));
  return store->LoadAt(commit);
}

inline git_oid TreeOfCommit(git_repository* repo, const std::string& hex) {
  git_oid id;
  git_oid_fromstr(&id, hex.c_str());
  git_commit* raw = nullptr;
  store::Check(git_commit_lookup(&raw, repo, &id), "commit");
  store::CommitPtr c(raw);
  return *git_commit_tree_id(c.get());
}

}  // namespace xgdb::test

#endif  // XGDB_TESTS_MERGE_TEST_UTIL_H_
