// Crashes and disk errors at every point where the store makes something
// durable (LevelDB's fault_injection_test is the model): a commit, a
// repack and an import are run through a FaultEnv that "loses power" at
// each sync point in turn, or fails each write with ENOSPC or EIO. After
// each, the repository must open, `git fsck --strict` must be clean (so
// master never names a missing object), and every write acknowledged
// before the fault must be there.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <condition_variable>
#include <mutex>
#include <string>

#include "store/repack.h"
#include "store_test_util.h"
#include "support/fault_env.h"
#include "xgdb/store.h"

namespace xgdb::test {
namespace {

namespace fs = std::filesystem;

StoreOptions DurableOptions(const std::string& path, Env* env) {
  StoreOptions o = TestOptions(path);
  o.fsync = true;  // the sync points are what is under test
  o.env = env;
  return o;
}

// A repository holding VM 1, committed, to copy before each run.
std::string MakeTemplate(const TempDir& dir) {
  std::string path = dir / "template.git";
  auto store = Store::Create(TestOptions(path), StoreTestSchema());
  AddVm(store->db(), 1, "first");
  store->Commit();
  return path;
}

std::string CopyOf(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  return to;
}

std::unique_ptr<Database> OpenAndLoad(const std::string& path) {
  auto store = Store::Open(TestOptions(path));
  return store->LoadAt("master");
}

// What one commit (a new VM) does on a copy of `tmpl`: its sync points and
// its writes.
struct CommitCost {
  int syncs = 0, writes = 0;
};
CommitCost MeasureCommit(const TempDir& dir, const std::string& tmpl) {
  FaultEnv env;
  auto store = Store::Open(DurableOptions(CopyOf(tmpl, dir / "count.git"), &env));
  AddVm(store->db(), 2, "second");
  const int syncs = env.sync_points(), writes = env.writes();
  store->Commit();
  return {env.sync_points() - syncs, env.writes() - writes};
}

TEST(FaultInjection, CommitSurvivesACrashAtEverySyncPoint) {
  TempDir dir;
  const std::string tmpl = MakeTemplate(dir);
  // How many sync points one commit has (pack, index, their directory, the
  // ref, its directory).
  const int points = MeasureCommit(dir, tmpl).syncs;
  ASSERT_GE(points, 5);
  for (int k = 0; k < points; ++k) {
    SCOPED_TRACE("crash at sync point " + std::to_string(k) + " of " + std::to_string(points));
    const std::string path = CopyOf(tmpl, dir / ("crash" + std::to_string(k) + ".git"));
    FaultEnv env;
    {
      auto store = Store::Open(DurableOptions(path, &env));
      AddVm(store->db(), 2, "acknowledged");
      store->Commit();  // returned: acknowledged under --sync
      AddVm(store->db(), 3, "in flight");
      env.CrashAt(k);
      EXPECT_THROW(store->Commit(), Error);
    }  // the store dies with the "process"
    env.DropUnsynced();
    std::unique_ptr<Database> db;
    ASSERT_NO_THROW(db = OpenAndLoad(path));
    EXPECT_EQ(db->ReadField("VM", "name__label", VmRef(1)), "first");
    EXPECT_EQ(db->ReadField("VM", "name__label", VmRef(2)), "acknowledged");
    ExpectFsckClean(path);
  }
}

TEST(FaultInjection, RepackSurvivesACrashAtEverySyncPoint) {
  TempDir dir;
  const std::string tmpl = dir / "template.git";
  std::vector<std::string> expected;
  {
    auto store = Store::Create(TestOptions(tmpl), StoreTestSchema());
    for (int i = 0; i < static_cast<int>(store::kMaxPacks) + 4; ++i) {
      AddVm(store->db(), i, "vm");
      store->Commit();  // one pack each
    }
    expected = Dump(store->db());
  }
  auto no_lock = [](const std::function<void()>& fn) { fn(); };
  // The store's own repacker kept the count low meanwhile: combine down to 2.
  constexpr size_t kMaxPacks = 2;
  int points = 0;
  {
    FaultEnv env;
    const std::string path = CopyOf(tmpl, dir / "count.git");
    ASSERT_GT(store::RepackOnce(env, path, kMaxPacks, true, no_lock), 0u);
    points = env.sync_points();
  }
  ASSERT_GE(points, 3);
  for (int k = 0; k < points; ++k) {
    SCOPED_TRACE("crash at sync point " + std::to_string(k) + " of " + std::to_string(points));
    const std::string path = CopyOf(tmpl, dir / ("crash" + std::to_string(k) + ".git"));
    FaultEnv env;
    env.CrashAt(k);
    EXPECT_THROW(store::RepackOnce(env, path, kMaxPacks, true, no_lock), Error);
    env.DropUnsynced();
    std::unique_ptr<Database> db;
    ASSERT_NO_THROW(db = OpenAndLoad(path));
    EXPECT_EQ(Dump(*db), expected);
    ExpectFsckClean(path);
  }
}

std::unique_ptr<Database> Vms(int n, const std::string& label) {
  auto db = std::make_unique<Database>(StoreTestSchema());
  for (int i = 0; i < n; ++i) {
    db->LoadRow("VM", VmRef(i), {{"uuid", "u" + std::to_string(i)}, {"name__label", label}});
  }
  db->FinishLoad();
  return db;
}

TEST(FaultInjection, ImportSurvivesACrashAtEverySyncPoint) {
  TempDir dir;
  const std::string tmpl = MakeTemplate(dir);
  const std::vector<std::string> old_rows = Dump(*OpenAndLoad(tmpl));
  const std::vector<std::string> new_rows = Dump(*Vms(50, "imported"));
  int points = 0;
  {
    FaultEnv env;
    Store::Import(DurableOptions(CopyOf(tmpl, dir / "count.git"), &env), Vms(50, "imported"),
                  "import");
    points = env.sync_points();
  }
  ASSERT_GE(points, 5);
  for (int k = 0; k < points; ++k) {
    SCOPED_TRACE("crash at sync point " + std::to_string(k) + " of " + std::to_string(points));
    const std::string path = CopyOf(tmpl, dir / ("crash" + std::to_string(k) + ".git"));
    FaultEnv env;
    env.CrashAt(k);
    EXPECT_THROW(Store::Import(DurableOptions(path, &env), Vms(50, "imported"), "import"), Error);
    env.DropUnsynced();
    std::unique_ptr<Database> db;
    ASSERT_NO_THROW(db = OpenAndLoad(path));
    std::vector<std::string> rows = Dump(*db);
    EXPECT_TRUE(rows == old_rows || rows == new_rows) << "neither the old nor the new database";
    ExpectFsckClean(path);
  }
}

// A full disk or a failing one at each write of a commit: the commit fails,
// the error is sticky (writes refused, reads served), and once the disk
// works again the next commit writes what was pending; nothing that was
// acknowledged is lost.
void WriteErrorsAtEveryWrite(int err) {
  TempDir dir;
  const std::string tmpl = MakeTemplate(dir);
  const int writes = MeasureCommit(dir, tmpl).writes;
  ASSERT_GE(writes, 3);
  for (int k = 0; k < writes; ++k) {
    SCOPED_TRACE("write " + std::to_string(k) + " of " + std::to_string(writes) + " fails: " +
                 std::strerror(err));
    const std::string path = CopyOf(tmpl, dir / ("fail" + std::to_string(k) + ".git"));
    FaultEnv env;
    {
      auto store = Store::Open(DurableOptions(path, &env));
      AddVm(store->db(), 2, "acknowledged");
      store->Commit();
      env.FailWritesFrom(k, err);
      store->db().WriteField("VM", VmRef(1), "name__label", "pending");
      if (k == writes - 1) {
        // The last write is master's reflog line, after master moved: a
        // record for people, not state. The commit stands.
        EXPECT_NE(store->Commit(), "");
        EXPECT_FALSE(store->BackgroundError().has_value());
        continue;
      }
      try {
        store->Commit();
        ADD_FAILURE() << "the commit succeeded on a failing disk";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kIo);
        EXPECT_NE(std::string(e.what()).find(std::strerror(err)), std::string::npos) << e.what();
      }
      ASSERT_TRUE(store->BackgroundError().has_value());
      try {
        store->db().WriteField("VM", VmRef(2), "name__label", "refused");
        ADD_FAILURE() << "a write was accepted while the store cannot commit";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kIo);
      }
      EXPECT_EQ(store->db().ReadField("VM", "name__label", VmRef(1)), "pending");  // reads go on
      env.Heal();
      EXPECT_NE(store->Commit(), "");  // the pending write, retried
      EXPECT_FALSE(store->BackgroundError().has_value());
      store->db().WriteField("VM", VmRef(2), "name__label", "accepted again");
      store->Commit();
    }
    auto db = OpenAndLoad(path);
    EXPECT_EQ(db->ReadField("VM", "name__label", VmRef(1)), "pending");
    EXPECT_EQ(db->ReadField("VM", "name__label", VmRef(2)), "accepted again");
    ExpectFsckClean(path);
  }
}

TEST(FaultInjection, DiskFullAtEveryWriteOfACommit) { WriteErrorsAtEveryWrite(ENOSPC); }
TEST(FaultInjection, IoErrorAtEveryWriteOfACommit) { WriteErrorsAtEveryWrite(EIO); }

// With the committer running (as the daemon runs it): a writer waiting for
// durability (--sync) is woken with the error instead of hanging, and the
// committer's own retries bring writes back once the disk works again.
TEST(FaultInjection, DurabilityWaitersGetTheErrorAndWritesComeBackByThemselves) {
  TempDir dir;
  const std::string path = MakeTemplate(dir);
  FaultEnv env;
  auto store = Store::Open(DurableOptions(path, &env));
  std::mutex mu;
  std::condition_variable cv;
  int moves = 0;
  store->AddHeadListener([&](const std::string&) {
    std::lock_guard<std::mutex> lock(mu);
    ++moves;
    cv.notify_all();
  });
  store->StartCommitter(5);
  env.FailWritesFrom(0, ENOSPC);
  store->db().WriteField("VM", VmRef(1), "name__label", "in doubt");
  try {
    store->WaitDurable(store->db().Sequence());
    ADD_FAILURE() << "WaitDurable returned on a full disk";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
  EXPECT_THROW(store->db().WriteField("VM", VmRef(1), "name__label", "refused"), Error);
  env.Heal();
  {
    std::unique_lock<std::mutex> lock(mu);  // the retry's commit moves master
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return moves > 0; }));
  }
  EXPECT_FALSE(store->BackgroundError().has_value());
  store->db().WriteField("VM", VmRef(1), "name__label", "acknowledged");
  store->WaitDurable(store->db().Sequence());
  store.reset();
  EXPECT_EQ(OpenAndLoad(path)->ReadField("VM", "name__label", VmRef(1)), "acknowledged");
}

}  // namespace
}  // namespace xgdb::test
