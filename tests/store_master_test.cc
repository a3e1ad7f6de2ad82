// The one writer of master (Store::UpdateMaster): master and its image move
// together, after every pending write is committed, and every move is told
// to the head listeners; nothing else moves master. Also the store's clock
// seam: commit times come from the Env.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store_test_util.h"
#include "xgdb/store.h"

namespace xgdb::test {
namespace {

// The row of VM `i` as it is in `db`, with its label changed.
RowDelta Relabelled(const Database& db, int i, const std::string& label) {
  RowDelta d;
  d.table = db.schema().FindTable("VM");
  d.ref = VmRef(i);
  d.exists = true;
  for (const Column& c : d.table->columns) {
    d.values.push_back(c.name == "name__label" ? label : db.ReadField("VM", c.name, VmRef(i)));
  }
  return d;
}

class StoreMasterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Store::Create(TestOptions(dir_ / "repo.git"), StoreTestSchema());
    AddVm(store_->db(), 1, "one");
    AddVm(store_->db(), 2, "two");
    store_->Commit();
  }
  // A plan moving master to a commit that relabels VM `i`.
  Store::MasterMove Relabel(const std::string& head, int i, const std::string& label) {
    Store::MasterMove move;
    move.rows = {Relabelled(store_->db(), i, label)};
    move.commit = store_->WriteRowsCommit(head, move.rows, "relabel\n");
    move.log_message = "test: relabel";
    return move;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreMasterTest, MasterAndItsImageMoveTogether) {
  std::string moved = store_->UpdateMaster(
      [&](const std::string& head) { return Relabel(head, 1, "relabelled"); });
  EXPECT_EQ(store_->Head(), moved);
  EXPECT_EQ(store_->db().ReadField("VM", "name__label", VmRef(1)), "relabelled");
  EXPECT_EQ(store_->Commit(), "");  // nothing left pending: the commit holds it
  EXPECT_EQ(Dump(*store_->LoadAt("master")), Dump(store_->db()));
  ExpectFsckClean(store_->path());
}

TEST_F(StoreMasterTest, ThePlanSeesEveryAcknowledgedWrite) {
  store_->db().WriteField("VM", VmRef(2), "name__label", "written, not committed");
  store_->UpdateMaster([&](const std::string& head) {
    EXPECT_EQ(store_->LoadAt(head)->ReadField("VM", "name__label", VmRef(2)),
              "written, not committed");
    return Relabel(head, 1, "relabelled");
  });
  auto at_head = store_->LoadAt("master");
  EXPECT_EQ(at_head->ReadField("VM", "name__label", VmRef(1)), "relabelled");
  EXPECT_EQ(at_head->ReadField("VM", "name__label", VmRef(2)), "written, not committed");
}

TEST_F(StoreMasterTest, AFailedPlanOrRefusedRowsChangeNothing) {
  const std::string head = store_->Head();
  const std::vector<std::string> image = Dump(store_->db());
  EXPECT_THROW(store_->UpdateMaster([](const std::string&) -> Store::MasterMove {
    throw Error(ErrorKind::kConflict, "the merge conflicts");
  }),
               Error);
  // Rows the image refuses (VM 2 taking VM 1's uuid): master stays too.
  EXPECT_THROW(store_->UpdateMaster([&](const std::string& h) {
    Store::MasterMove move = Relabel(h, 2, "two");
    move.rows[0].values[move.rows[0].table->FindColumn("uuid")->index] = "uuid-vm-1";
    return move;
  }),
               Error);
  EXPECT_EQ(store_->Head(), head);
  EXPECT_EQ(Dump(store_->db()), image);
}

TEST_F(StoreMasterTest, HeadListenersHearEveryMoveOfMaster) {
  std::vector<std::string> heard;
  int id = store_->AddHeadListener([&](const std::string& head) { heard.push_back(head); });
  store_->db().WriteField("VM", VmRef(1), "name__label", "group commit");
  std::string committed = store_->Commit();
  std::string updated = store_->UpdateMaster(
      [&](const std::string& head) { return Relabel(head, 2, "update"); });
  EXPECT_EQ(heard, (std::vector<std::string>{committed, updated}));
  store_->RemoveHeadListener(id);
  store_->db().WriteField("VM", VmRef(1), "name__label", "unheard");
  store_->Commit();
  EXPECT_EQ(heard.size(), 2u);
}

// Events pair ServedHead with the image (docs/events.md): while master
// moves, the head it answers is never newer than what the image holds. (It
// once read master after checking for a move in progress, so a move could
// fall between: a head whose rows the image did not hold yet.)
TEST_F(StoreMasterTest, ServedHeadIsNeverAheadOfTheImage) {
  std::mutex mu;
  std::map<std::string, int> label_of;  // commit -> the label it gives VM 1
  std::atomic<bool> done{false};
  std::thread mover([&] {
    for (int n = 1; n <= 150; ++n) {
      store_->UpdateMaster([&](const std::string& head) {
        Store::MasterMove move = Relabel(head, 1, std::to_string(n));
        std::lock_guard<std::mutex> lock(mu);
        label_of[move.commit] = n;
        return move;
      });
    }
    done = true;
  });
  // Readers outnumber the cores, so that one is often preempted inside
  // ServedHead, where a move could slip in.
  std::atomic<int> checks{0}, behind{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 6; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        std::string served = store_->ServedHead();
        int at_served;
        {
          std::lock_guard<std::mutex> lock(mu);
          auto it = label_of.find(served);
          if (it == label_of.end()) continue;  // the first commit
          at_served = it->second;
        }
        // Read after ServedHead: the image can only have moved on since.
        int in_image = std::stoi(store_->db().ReadField("VM", "name__label", VmRef(1)));
        behind += in_image < at_served;
        ++checks;
      }
    });
  }
  for (auto& r : readers) r.join();
  mover.join();
  EXPECT_EQ(behind.load(), 0) << "of " << checks.load() << " checks";
  EXPECT_GT(checks.load(), 0);
}

TEST_F(StoreMasterTest, NothingElseMovesOrDeletesMaster) {
  const std::string head = store_->Head();
  EXPECT_THROW(store_->MoveRef("refs/heads/master", head, head, "no"), Error);
  EXPECT_THROW(store_->DeleteRef("refs/heads/master"), Error);
  EXPECT_EQ(store_->Head(), head);
}

// Refs are the store's own loose files; one that `git pack-refs` moved into
// packed-refs is still moved and deleted as git would.
TEST_F(StoreMasterTest, RefsPackedByGitAreMovedAndDeleted) {
  const std::string repo = store_->path(), head = store_->Head();
  store_->MoveRef("refs/heads/tasks/1", head, "", "a branch");
  store_->MoveRef("refs/heads/tasks/2", head, "", "another");
  ASSERT_EQ(Git(repo, "pack-refs --all").exit_code, 0);
  store_->db().WriteField("VM", VmRef(1), "name__label", "after packing");
  const std::string next = store_->Commit();
  store_->MoveRef("refs/heads/tasks/2", next, head, "moved while packed");
  store_->DeleteRef("refs/heads/tasks/1");
  EXPECT_EQ(Git(repo, "for-each-ref '--format=%(refname):%(objectname)' refs/heads").output,
            "refs/heads/master:" + next + "\nrefs/heads/tasks/2:" + next + "\n");
  EXPECT_EQ(store_->RefTarget("refs/heads/tasks/1"), "");
  ExpectFsckClean(repo);
}

// Commit and reflog times are read from the Env, as every clock read of the
// store is: a test can set the time.
class FixedClockEnv : public EnvWrapper {
 public:
  FixedClockEnv() : EnvWrapper(Env::Default()) {}
  int64_t NowMicros() override { return 1'500'000'000'000'000; }
};

TEST(StoreHost, TheRepositoryRemembersItsHostForOpensWithoutTheUuid) {
  TempDir dir;
  const std::string path = dir / "repo.git";
  Store::Create(TestOptions(path), StoreTestSchema());
  StoreOptions with = TestOptions(path);
  with.host_uuid = "host-a";
  std::string first;
  {
    auto store = Store::Open(with);
    EXPECT_EQ(store->RefTarget("refs/hosts/host-a"), store->Head());  // the first head
  }
  {
    // An offline tool opens without the uuid: its commit is host-a's too.
    auto store = Store::Open(TestOptions(path));
    EXPECT_EQ(store->HostRef(), "refs/hosts/host-a");
    AddVm(store->db(), 1, "offline");
    store->Commit();
    EXPECT_EQ(store->RefTarget("refs/hosts/host-a"), store->Head());
  }
  StoreOptions other = TestOptions(path);
  other.host_uuid = "host-b";
  try {
    Store::Open(other);
    ADD_FAILURE() << "opened host-a's repository as host-b";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
  }
}

TEST(StoreClock, CommitTimesComeFromTheEnv) {
  TempDir dir;
  FixedClockEnv env;
  StoreOptions options = TestOptions(dir / "repo.git");
  options.env = &env;
  auto store = Store::Create(options, StoreTestSchema());
  AddVm(store->db(), 1, "one");
  store->Commit();
  EXPECT_EQ(store->GetCommit("master").time, 1'500'000'000);
  std::string reflog = ReadFile(dir / "repo.git/logs/refs/heads/master");
  EXPECT_NE(reflog.find("> 1500000000 +0000\tcommit: "), std::string::npos) << reflog;
  EXPECT_EQ(Git(dir / "repo.git", "log -1 --format=%at master").output, "1500000000\n");
}

}  // namespace
}  // namespace xgdb::test
