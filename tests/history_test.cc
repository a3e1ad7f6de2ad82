// History: resolving revisions and times, log with path filters, images of
// old commits, and field-level diffs.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store_test_util.h"

namespace xgdb::test {
namespace {

const std::string kVm = "OpaqueRef:3a000000-0000-4000-8000-000000000001";
const std::string kVbd = "OpaqueRef:b0000000-0000-4000-8000-000000000002";

// create (c0) -> VM added (c1) -> label + tags changed (c2) -> VBD added,
// other_config key added (c3) -> VM deleted (c4).
struct History {
  TempDir dir;
  std::unique_ptr<Store> store;
  std::string c[5];

  History() {
    store = Store::Create(TestOptions(dir / "repo.git"), StoreTestSchema());
    c[0] = store->Head();
    Database& db = store->db();
    db.CreateRow("VM", {{"uuid", "u1"}, {"name__label", "one"}, {"tags", "()"},
                        {"other_config", "()"}}, kVm);
    c[1] = store->Commit();
    db.WriteField("VM", kVm, "name__label", "uno");
    db.WriteField("VM", kVm, "tags", "('x' 'y/z')");
    c[2] = store->Commit("relabel");
    db.CreateRow("VBD", {{"uuid", "b1"}, {"VM", kVm}, {"device", "xvda"}}, kVbd);
    db.ProcessStructuredField("k", "v", "VM", "other_config", kVm, StructuredOp::kAddMap);
    c[3] = store->Commit();
    db.DeleteRow("VM", kVm);
    c[4] = store->Commit();
  }
};

TEST(History, ResolveNamesAndIds) {
  History h;
  EXPECT_EQ(h.store->Resolve("master"), h.c[4]);
  EXPECT_EQ(h.store->Resolve("HEAD"), h.c[4]);
  EXPECT_EQ(h.store->Resolve("master~2"), h.c[2]);
  EXPECT_EQ(h.store->Resolve(h.c[1].substr(0, 12)), h.c[1]);
  EXPECT_EQ(h.store->Head(), h.c[4]);
  try {
    h.store->Resolve("no-such-branch");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
}

TEST(History, ResolveTime) {
  TempDir dir;
  auto store = Store::Create(TestOptions(dir / "repo.git"), StoreTestSchema());
  AddVm(store->db(), 1, "a");
  std::string first = store->Commit();
  int64_t t1 = store->GetCommit(first).time;
  // Commit times have one-second resolution.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  AddVm(store->db(), 2, "b");
  std::string second = store->Commit();
  int64_t t2 = store->GetCommit(second).time;
  ASSERT_GT(t2, t1);
  EXPECT_EQ(store->Resolve("@" + std::to_string(t1)), first);
  EXPECT_EQ(store->Resolve("@" + std::to_string(t2)), second);
  EXPECT_EQ(store->Resolve("@" + std::to_string(t2 + 1000)), second);
  char iso[32];
  time_t tt = static_cast<time_t>(t1);
  strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", gmtime(&tt));
  EXPECT_EQ(store->Resolve(iso), first);
  EXPECT_THROW(store->Resolve("1970-01-01T00:00:00Z"), Error);  // before everything
}

TEST(History, LoadAtRebuildsOldImages) {
  History h;
  auto at1 = h.store->LoadAt(h.c[1]);
  EXPECT_EQ(at1->ReadField("VM", "name__label", kVm), "one");
  auto at3 = h.store->LoadAt(h.c[3]);
  EXPECT_EQ(at3->ReadField("VM", "name__label", kVm), "uno");
  EXPECT_EQ(at3->ReadField("VM", "tags", kVm), "('x' 'y/z')");
  EXPECT_EQ(at3->ReadField("VM", "VBDs", kVm), "('" + kVbd + "')");
  EXPECT_EQ(h.store->LoadAt(h.c[4])->RowCount("VM"), 0u);
  EXPECT_EQ(h.store->LoadAt(h.c[0])->TotalRows(), 0u);
}

TEST(History, LogFiltersByPath) {
  History h;
  auto all = h.store->Log("master", 100);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].id, h.c[4]);
  EXPECT_EQ(all[4].id, h.c[0]);
  EXPECT_EQ(all[2].message.substr(0, 8), "relabel\n");
  EXPECT_EQ(all[0].author_name, "host-a");
  EXPECT_EQ(all[0].parents, std::vector<std::string>{h.c[3]});
  EXPECT_EQ(h.store->Log("master", 2).size(), 2u);

  auto ids = [](const std::vector<CommitInfo>& v) {
    std::vector<std::string> out;
    for (const auto& c : v) out.push_back(c.id);
    return out;
  };
  EXPECT_EQ(ids(h.store->Log("master", 100, "VBD")), (std::vector<std::string>{h.c[3]}));
  EXPECT_EQ(ids(h.store->Log("master", 100, "VM/" + kVm)),
            (std::vector<std::string>{h.c[4], h.c[3], h.c[2], h.c[1]}));
  EXPECT_EQ(ids(h.store->Log("master", 100, "VM/" + kVm + "/name__label")),
            (std::vector<std::string>{h.c[4], h.c[2], h.c[1]}));
  EXPECT_EQ(ids(h.store->Log("master", 100, "VM/" + kVm + "/other_config")),
            (std::vector<std::string>{h.c[4], h.c[3]}));
  EXPECT_EQ(ids(h.store->Log(h.c[2], 100, "VM/" + kVm + "/name__label")),
            (std::vector<std::string>{h.c[2], h.c[1]}));
}

TEST(History, DiffReportsRowsAndFields) {
  History h;
  using K = FieldChange::Kind;
  auto d01 = h.store->Diff(h.c[0], h.c[1]);
  ASSERT_EQ(d01.size(), 1u);
  EXPECT_EQ(d01[0].kind, K::kRowAdded);
  EXPECT_EQ(d01[0].table, "VM");
  EXPECT_EQ(d01[0].ref, kVm);

  auto d12 = h.store->Diff(h.c[1], h.c[2]);
  ASSERT_EQ(d12.size(), 2u);
  EXPECT_EQ(d12[0].kind, K::kModified);
  EXPECT_EQ(d12[0].field, "name__label");
  EXPECT_EQ(d12[0].old_value, "one");
  EXPECT_EQ(d12[0].new_value, "uno");
  EXPECT_EQ(d12[1].kind, K::kAdded);  // an empty set is no entry at all
  EXPECT_EQ(d12[1].field, "tags");
  EXPECT_EQ(d12[1].old_value, "()");
  EXPECT_EQ(d12[1].new_value, "('x' 'y/z')");

  auto d23 = h.store->Diff(h.c[2], h.c[3]);
  ASSERT_EQ(d23.size(), 2u);
  EXPECT_EQ(d23[0].table, "VBD");
  EXPECT_EQ(d23[0].kind, K::kRowAdded);
  EXPECT_EQ(d23[1].field, "other_config");
  EXPECT_EQ(d23[1].new_value, "(('k' 'v'))");

  auto d34 = h.store->Diff(h.c[3], h.c[4]);
  ASSERT_EQ(d34.size(), 1u);
  EXPECT_EQ(d34[0].kind, K::kRowRemoved);
  EXPECT_EQ(d34[0].ref, kVm);

  EXPECT_TRUE(h.store->Diff(h.c[2], h.c[2]).empty());
  auto back = h.store->Diff(h.c[2], h.c[1]);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].kind, K::kRemoved);
}

TEST(History, GenerationCountsFirstParentCommits) {
  History h;
  EXPECT_EQ(h.store->GenerationAt(h.c[0]), 1);
  EXPECT_EQ(h.store->GenerationAt("master"), 5);
  EXPECT_EQ(h.store->GetCommit("master~1").id, h.c[3]);
}

// A replication merge's first parent is the smaller id, which may be the
// shorter line: the merge still counts more than both (event tokens sort
// by it).
TEST(History, GenerationGrowsAcrossAMergeWhateverItsFirstParent) {
  History h;
  const std::string repo = h.dir / "repo.git";
  CommandResult merge = Git(repo, "commit-tree " + h.c[4] + "^{tree} -p " + h.c[1] + " -p " +
                                      h.c[4] + " -m merge");
  ASSERT_EQ(merge.exit_code, 0) << merge.output;
  std::string id = merge.output.substr(0, 40);
  EXPECT_EQ(h.store->GenerationAt(h.c[1]), 2);
  EXPECT_EQ(h.store->GenerationAt(h.c[4]), 5);
  EXPECT_EQ(h.store->GenerationAt(id), 6);
  // A commit on top of the merge, asked after it was counted: one more.
  CommandResult next = Git(repo, "commit-tree " + h.c[4] + "^{tree} -p " + id + " -m next");
  ASSERT_EQ(next.exit_code, 0) << next.output;
  EXPECT_EQ(h.store->GenerationAt(next.output.substr(0, 40)), 7);
}

}  // namespace
}  // namespace xgdb::test
