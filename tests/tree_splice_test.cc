// The fast paths of a task commit's tree writing (docs/tasks.md,
// "Measurements"): large objects hashed with OpenSSL get the ids git gives
// them, and UpdateTree splicing rows into a bucket of hundreds of rows (in
// place, re-sorting only when a name is new or changes kind) makes the tree
// libgit2's git_tree_create_updated makes.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "store/git_ptr.h"
#include "store/object_sink.h"
#include "store/tree_update.h"
#include "store/tree_writer.h"
#include "store_test_util.h"
#include "tree_update_oracle.h"

namespace xgdb::test {
namespace {

using namespace store;

git_oid GitHash(const std::string& data, git_object_t type) {
  git_oid id;
  Check(git_odb_hash(&id, data.data(), data.size(), type), "hash");
  return id;
}

TEST(TreeSplice, LargeAndSmallObjectsGetGitsIds) {
  Scratch s;
  for (size_t size : {0, 5, 1023, 1024, 1025, 40000, 1 << 20}) {
    std::string data(size, 'x');
    for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>('a' + (i * 7) % 26);
    git_oid put = s.sink->Put(GIT_OBJECT_BLOB, data);
    EXPECT_EQ(OidHex(put), OidHex(GitHash(data, GIT_OBJECT_BLOB))) << size;
    // ...and the object reads back under that id.
    git_blob* raw = nullptr;
    ASSERT_EQ(git_blob_lookup(&raw, s.repo.get(), &put), 0) << size;
    BlobPtr blob(raw);
    EXPECT_EQ(static_cast<size_t>(git_blob_rawsize(blob.get())), size);
  }
}

// A bucket like the store's at 100,000 rows per table (~390 row
// directories), with names that exercise git's order around '/'.
TEST(TreeSplice, BigBucketUpdatesMatchLibgit2) {
  Scratch s;
  git_oid file = WriteBlob(*s.sink, "v");
  git_oid dir = WriteTree(*s.sink, {{"f", file, GIT_FILEMODE_BLOB}});
  std::vector<EntrySpec> rows;
  for (int i = 0; i < 390; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "OpaqueRef:%08x-%d", i * 2654435761u, i);
    rows.push_back({name, dir, GIT_FILEMODE_TREE});
  }
  rows.push_back({"a", dir, GIT_FILEMODE_TREE});  // sorts as "a/"
  rows.push_back({"a.b", file, GIT_FILEMODE_BLOB});
  rows.push_back({"a-", file, GIT_FILEMODE_BLOB});
  git_oid bucket = WriteTree(*s.sink, rows);
  git_oid root = WriteTree(*s.sink, {{"b", bucket, GIT_FILEMODE_TREE}});
  git_oid other = WriteTree(*s.sink, {{"g", file, GIT_FILEMODE_BLOB}});

  std::vector<std::vector<UpdateCase>> cases = {
      {{"b/" + rows[0].name, false, other, GIT_FILEMODE_TREE},
       {"b/" + rows[200].name, false, other, GIT_FILEMODE_TREE},
       {"b/" + rows[389].name, true, {}, GIT_FILEMODE_TREE}},
      {{"b/OpaqueRef:new", false, other, GIT_FILEMODE_TREE},  // a new name: re-sorted
       {"b/" + rows[5].name + "/f", false, WriteBlob(*s.sink, "w"), GIT_FILEMODE_BLOB}},
      {{"b/a", false, file, GIT_FILEMODE_BLOB},  // a directory becomes a file
       {"b/a.b", false, dir, GIT_FILEMODE_TREE}},  // and a file a directory
      {{"b/a-", true, {}, GIT_FILEMODE_BLOB}, {"b/a", true, {}, GIT_FILEMODE_TREE}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    git_oid got = OursUpdated(s, root, cases[i]);
    if (i == 2) {  // libgit2 refuses to change an entry's kind: build it whole
      std::vector<EntrySpec> changed = rows;
      for (EntrySpec& e : changed) {
        if (e.name == "a") e = {"a", file, GIT_FILEMODE_BLOB};
        if (e.name == "a.b") e = {"a.b", dir, GIT_FILEMODE_TREE};
      }
      git_oid want =
          WriteTree(*s.sink, {{"b", WriteTree(*s.sink, changed), GIT_FILEMODE_TREE}});
      EXPECT_EQ(OidHex(got), OidHex(want)) << "case " << i;
      continue;
    }
    git_oid want;
    ASSERT_EQ(Libgit2Updated(s, root, cases[i], &want), 0)
        << "case " << i << ": " << git_error_last()->message;
    EXPECT_EQ(OidHex(got), OidHex(want)) << "case " << i;
  }
}

TEST(TreeSplice, RefusesBadNames) {
  Scratch s;
  git_oid root = WriteTree(*s.sink, {{"d", WriteBlob(*s.sink, "x"), GIT_FILEMODE_BLOB}});
  EXPECT_THROW(UpdateTree(s.repo.get(), *s.sink, root, {{"..", false, WriteBlob(*s.sink, "y")}}),
               Error);
  EXPECT_THROW(UpdateTree(s.repo.get(), *s.sink, root, {{"e/.git", false, WriteBlob(*s.sink, "y")}}),
               Error);
}

}  // namespace
}  // namespace xgdb::test
