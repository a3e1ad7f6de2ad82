// Tasks as git branches (docs/tasks.md) on real repositories: isolation,
// field-level merges into master, nesting three deep, conflicts and
// ownership refusals, abort, reaping, deterministic merges across two
// repositories, and what the plain git command sees.
#include "task/task_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "merge/merge.h"
#include "merge/merge_commit.h"
#include "store_test_util.h"

namespace xgdb::test {
namespace {

using task::TaskManager;
using task::TaskOptions;

TaskOptions NoReaper() {
  TaskOptions o;
  o.reap_after_ms = 0;
  return o;
}

class TaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ / "repo";
    store_ = Store::Create(TestOptions(path_), StoreTestSchema());
    for (int i = 1; i <= 3; ++i) AddVm(store_->db(), i, "vm" + std::to_string(i));
    store_->Commit("three VMs");
    tasks_ = std::make_unique<TaskManager>(*store_, NoReaper());
  }

  // Reads and writes through the manager, as the daemon does.
  std::string Read(const std::string& task, int vm, const std::string& field = "name__label") {
    std::string out;
    tasks_->Run(task, [&](Database& db) { out = db.ReadField("VM", field, VmRef(vm)); });
    return out;
  }
  void Write(const std::string& task, int vm, const std::string& value,
             const std::string& field = "name__label") {
    tasks_->Run(task, [&](Database& db) { db.WriteField("VM", VmRef(vm), field, value); });
  }
  std::string GitOut(const std::string& args) {
    CommandResult r = Git(path_, args);
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.output;
    return r.output;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<TaskManager> tasks_;
};

TEST_F(TaskTest, ConcurrentTasksAreIsolatedFromEachOtherAndFromMaster) {
  std::string t1 = tasks_->Begin(), t2 = tasks_->Begin();
  Write(t1, 1, "one");
  Write(t2, 2, "two");
  Write("", 3, "master");
  EXPECT_EQ(Read(t1, 1), "one");
  EXPECT_EQ(Read(t1, 2), "vm2");  // never another task's uncommitted write
  EXPECT_EQ(Read(t1, 3), "vm3");  // nor master's writes after it began
  EXPECT_EQ(Read(t2, 1), "vm1");
  EXPECT_EQ(Read(t2, 2), "two");
  EXPECT_EQ(Read("", 1), "vm1");
  EXPECT_EQ(Read("", 2), "vm2");
  // Both are real branches.
  std::string branches = GitOut("branch --list");
  EXPECT_NE(branches.find("tasks/" + t1), std::string::npos) << branches;
  EXPECT_NE(branches.find("tasks/" + t2), std::string::npos) << branches;

  tasks_->Commit(t1);
  EXPECT_EQ(Read("", 1), "one");
  EXPECT_EQ(Read(t2, 1), "vm1");  // t2 still reads what master had when it began
  tasks_->Commit(t2);
  EXPECT_EQ(Read("", 1), "one");
  EXPECT_EQ(Read("", 2), "two");
  EXPECT_EQ(Read("", 3), "master");
}

TEST_F(TaskTest, CommitMergesFieldsAndGitSeesBranchMergeAndMessages) {
  std::string t = tasks_->Begin();
  Write(t, 1, "from-task");
  Write(t, 2, "only the task");  // taken whole from the task's image
  Write("", 1, "(('k' 'v'))", "other_config");  // same row, other field
  store_->Commit("master meanwhile");
  task::CommitOutcome out = tasks_->Commit(t);
  EXPECT_EQ(out.kind, "merged");
  EXPECT_EQ(out.into, "master");
  EXPECT_EQ(store_->Head(), out.commit);
  EXPECT_EQ(Read("", 1), "from-task");
  EXPECT_EQ(Read("", 1, "other_config"), "(('k' 'v'))");

  // The commit reached git as a merge whose second parent is the task's
  // commit, carrying the host and the task.
  CommitInfo merge = store_->GetCommit(out.commit);
  ASSERT_EQ(merge.parents.size(), 2u);
  CommitInfo task_commit = store_->GetCommit(merge.parents[1]);
  EXPECT_NE(task_commit.message.find("Task: " + t), std::string::npos) << task_commit.message;
  EXPECT_NE(task_commit.message.find("Host: host-a-uuid@pool"), std::string::npos);
  EXPECT_NE(task_commit.message.find("write VM " + VmRef(1)), std::string::npos);
  std::string log = GitOut("log --format=%P%x09%s master");
  EXPECT_NE(log.find("Task " + t + ": 2 rows changed"), std::string::npos) << log;
  EXPECT_NE(log.find("Merge " + merge.parents[1] + " into " + merge.parents[0]),
            std::string::npos) << log;
  // A committed task's branch is gone; master's history has its work.
  EXPECT_EQ(GitOut("branch --list 'tasks/*'"), "");

  // The merged state is what a fresh open sees, row for row.
  EXPECT_EQ(Read("", 2), "only the task");
  std::vector<std::string> served = Dump(store_->db());
  store_.reset();
  auto reopened = Store::Open(TestOptions(path_));
  EXPECT_EQ(Dump(reopened->db()), served);
  EXPECT_EQ(reopened->db().ReadField("VM", "name__label", VmRef(1)), "from-task");
  EXPECT_EQ(reopened->db().ReadField("VM", "other_config", VmRef(1)), "(('k' 'v'))");
  store_ = std::move(reopened);
  tasks_.reset();
}

TEST_F(TaskTest, UntouchedMasterFastForwards) {
  std::string t = tasks_->Begin();
  Write(t, 2, "ff");
  task::CommitOutcome out = tasks_->Commit(t);
  EXPECT_EQ(out.kind, "fast-forward");
  EXPECT_EQ(store_->GetCommit(out.commit).parents.size(), 1u);
  EXPECT_EQ(Read("", 2), "ff");
}

TEST_F(TaskTest, NestedTasksThreeDeepReachTheirParentOnlyWhenCommitted) {
  std::string a = tasks_->Begin();
  Write(a, 1, "a");
  std::string b = tasks_->Begin(a);
  EXPECT_EQ(b, a + ".1");
  EXPECT_EQ(Read(b, 1), "a");  // what its parent had when it began
  Write(b, 2, "b");
  std::string c = tasks_->Begin(b);
  EXPECT_EQ(c, a + ".1.1");
  Write(c, 3, "c");
  Write(a, 1, "a2");  // the parent goes on; the child does not see it
  EXPECT_EQ(Read(c, 1), "a");
  EXPECT_EQ(Read(c, 2), "b");
  std::string branches = GitOut("branch --list 'tasks/*'");
  for (const std::string& id : {a, b, c}) {
    EXPECT_NE(branches.find("tasks/" + id + "\n"), std::string::npos) << branches;
  }

  // A task with an open child cannot commit.
  EXPECT_THROW(tasks_->Commit(b), Error);

  task::CommitOutcome out = tasks_->Commit(c);
  EXPECT_EQ(out.into, b);
  EXPECT_EQ(Read(b, 3), "c");
  EXPECT_EQ(Read(a, 3), "vm3");
  EXPECT_EQ(Read("", 3), "vm3");
  tasks_->Commit(b);
  EXPECT_EQ(Read(a, 3), "c");
  EXPECT_EQ(Read(a, 2), "b");
  EXPECT_EQ(Read(a, 1), "a2");
  EXPECT_EQ(Read("", 2), "vm2");
  tasks_->Commit(a);
  EXPECT_EQ(Read("", 1), "a2");
  EXPECT_EQ(Read("", 2), "b");
  EXPECT_EQ(Read("", 3), "c");
  EXPECT_TRUE(tasks_->List().empty());
  // Every level's commit is in master's history.
  std::string log = GitOut("log --format=%B master");
  for (const std::string& id : {a, b, c}) {
    EXPECT_NE(log.find("Task: " + id + "\n"), std::string::npos) << id;
  }
}

TEST_F(TaskTest, ConflictFailsNamingTableRefFieldAndKeepsTheBranch) {
  std::string t = tasks_->Begin();
  Write(t, 1, "task");
  Write("", 1, "master");
  store_->Commit();
  std::string master_before = store_->Head();
  try {
    tasks_->Commit(t);
    FAIL() << "expected a conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
    std::string m = e.what();
    EXPECT_NE(m.find("VM " + VmRef(1) + " name__label"), std::string::npos) << m;
    EXPECT_NE(m.find("refs/heads/tasks/" + t), std::string::npos) << m;
    ASSERT_GE(e.args().size(), 3u);
    EXPECT_EQ(e.args()[0], "VM");
    EXPECT_EQ(e.args()[1], VmRef(1));
    EXPECT_EQ(e.args()[2], "name__label");
  }
  // Master untouched, in git and in memory.
  EXPECT_EQ(store_->Head(), master_before);
  EXPECT_EQ(Read("", 1), "master");
  // The branch holds the task's work for inspection; the task is still open.
  std::string shown = GitOut("show tasks/" + t + ":" + Store::ObjectPath("VM", VmRef(1)) +
                             "name__label");
  EXPECT_EQ(shown, "task");
  EXPECT_EQ(Read(t, 1), "task");
  EXPECT_EQ(tasks_->Abort(t), std::vector<std::string>{t});
  EXPECT_EQ(GitOut("branch --list 'tasks/*'"), "");
  EXPECT_EQ(Read("", 1), "master");
}

// Fencing with a stand-in for the lock service (the daemons' lock service
// does the same for real in lock_service_test.cc): a guarded task's commits
// name their lock and token, and its commit into master asks whether that
// token is still held.
TEST_F(TaskTest, AGuardedTaskCommitsOnlyWhileItsLockIsHeld) {
  using task::LockGuard;
  EXPECT_THROW(tasks_->Begin("", "", {{"SR:1", 7}}), Error);  // no lock service to ask

  std::set<uint64_t> held = {7};
  std::vector<LockGuard> asked;
  TaskOptions options = NoReaper();
  options.check_guard = [&](const LockGuard& g) {
    asked.push_back(g);
    if (held.count(g.token) == 0) throw Error(ErrorKind::kFenced, "lock " + g.name + " lost");
  };
  tasks_ = std::make_unique<TaskManager>(*store_, options);

  std::string t = tasks_->Begin("", "", {{"SR:1", 7}});
  std::string nested = tasks_->Begin(t, "", {{"VDI:2", 9}});
  Write(nested, 1, "under two locks");
  tasks_->Commit(nested);  // into its parent: nothing to ask yet
  EXPECT_TRUE(asked.empty());
  std::string head = store_->Head();
  held.clear();  // the lease ran out meanwhile
  try {
    tasks_->Commit(t);
    FAIL() << "committed under a lost lock";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFenced);
    EXPECT_NE(std::string(e.what()).find("not committed into master"), std::string::npos);
  }
  EXPECT_EQ(store_->Head(), head);
  EXPECT_EQ(Read("", 1), "vm1");
  // The parent answers for its nested task's lock too.
  held = {7, 9};
  asked.clear();
  tasks_->Commit(t);
  EXPECT_EQ(asked, (std::vector<LockGuard>{{"SR:1", 7}, {"VDI:2", 9}}));
  EXPECT_EQ(Read("", 1), "under two locks");
  // Plain git shows which locks a change was made under.
  std::string log = GitOut("log --format=%B master");
  EXPECT_NE(log.find("Lock-Token: 7 SR:1\n"), std::string::npos) << log;
  EXPECT_NE(log.find("Lock-Token: 9 VDI:2\n"), std::string::npos) << log;
  EXPECT_EQ(merge::LockTokenTrailers(GitOut("log -1 --format=%B master")),
            (std::map<std::string, uint64_t>{{"SR:1", 7}, {"VDI:2", 9}}));
}

TEST_F(TaskTest, AbortDropsTheTaskAndItsChildren) {
  std::string a = tasks_->Begin();
  Write(a, 1, "never");
  std::string b = tasks_->Begin(a);
  Write(b, 2, "never");
  std::vector<std::string> aborted = tasks_->Abort(a);
  EXPECT_EQ(aborted, (std::vector<std::string>{b, a}));
  EXPECT_EQ(Read("", 1), "vm1");
  EXPECT_EQ(Read("", 2), "vm2");
  EXPECT_EQ(GitOut("branch --list 'tasks/*'"), "");
  try {
    Read(a, 1);
    FAIL() << "an aborted task must not serve calls";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
  EXPECT_THROW(tasks_->Commit(b), Error);
}

TEST_F(TaskTest, RowsCreatedDeletedRelationsAndNonPersistentStateReachMaster) {
  std::string t = tasks_->Begin();
  tasks_->Run(t, [](Database& db) {
    db.CreateRow("VBD", {{"uuid", "vbd-1"}, {"VM", VmRef(1)}, {"device", "xvda"}},
                 "OpaqueRef:vbd-1");
    db.DeleteRow("VM", VmRef(3));
    db.WriteField("VM", VmRef(2), "memory_actual", "4096");  // not persistent
    db.CreateRow("session", {{"uuid", "s-1"}}, "OpaqueRef:session-1");  // table not persistent
  });
  tasks_->Commit(t);
  Database& db = store_->db();
  EXPECT_EQ(db.ReadField("VBD", "device", "OpaqueRef:vbd-1"), "xvda");
  EXPECT_EQ(db.ReadField("VM", "VBDs", VmRef(1)), "('OpaqueRef:vbd-1')");
  EXPECT_FALSE(db.GetTableFromRef(VmRef(3)).has_value());
  EXPECT_EQ(db.ReadField("VM", "memory_actual", VmRef(2)), "4096");
  EXPECT_EQ(db.GetTableFromRef("OpaqueRef:session-1"), "session");
  EXPECT_EQ(db.DbGetByUuid("VBD", "vbd-1"), "OpaqueRef:vbd-1");
  // Git holds the stored part, and nothing is left pending in master's
  // change tracking (no second commit of the same rows).
  auto at = store_->LoadAt("master");
  EXPECT_EQ(at->ReadField("VBD", "VM", "OpaqueRef:vbd-1"), VmRef(1));
  EXPECT_FALSE(at->GetTableFromRef(VmRef(3)).has_value());
  EXPECT_EQ(store_->Commit(), "");
}

TEST_F(TaskTest, ConcurrentTasksAllCommitIntoMaster) {
  constexpr int kThreads = 8;
  for (int i = 0; i < kThreads; ++i) AddVm(store_->db(), 100 + i, "before");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      try {
        std::string t = tasks_->Begin();
        Write(t, 100 + i, "task-" + std::to_string(i));
        tasks_->Run(t, [&](Database& db) {  // add one key (write_field would replace the map)
          db.ProcessStructuredField("t" + std::to_string(i), "x", "VM", "other_config", VmRef(1),
                                    StructuredOp::kAddMap);
        });
        tasks_->Commit(t);
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(Read("", 100 + i), "task-" + std::to_string(i));
  // Map keys added by different tasks merge.
  std::string config = Read("", 1, "other_config");
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_NE(config.find("'t" + std::to_string(i) + "'"), std::string::npos) << config;
  }
}

TEST_F(TaskTest, IdleTasksAreReapedAndLogged) {
  tasks_.reset();
  TaskOptions o;
  o.reap_after_ms = 50;
  o.reap_check_ms = 10;
  tasks_ = std::make_unique<TaskManager>(*store_, o);
  std::string t = tasks_->Begin();
  Write(t, 1, "lost");
  std::string child = tasks_->Begin(t);
  for (int i = 0; i < 500 && !tasks_->List().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(tasks_->List().empty());
  EXPECT_EQ(GitOut("branch --list 'tasks/*'"), "");
  EXPECT_EQ(Read("", 1), "vm1");
  EXPECT_THROW(tasks_->Commit(t), Error);
}

TEST_F(TaskTest, ReapIdleLeavesActiveTasks) {
  tasks_.reset();
  TaskOptions o;
  o.reap_after_ms = 60 * 60 * 1000;  // an hour: nothing is idle that long
  tasks_ = std::make_unique<TaskManager>(*store_, o);
  std::string t = tasks_->Begin();
  EXPECT_TRUE(tasks_->ReapIdle().empty());
  EXPECT_EQ(tasks_->List().size(), 1u);
}

TEST_F(TaskTest, BranchesLeftByAPreviousRunAreRemoved) {
  std::string t = tasks_->Begin();
  Write(t, 1, "x");
  tasks_.reset();  // the daemon stopped with a task open
  EXPECT_NE(GitOut("branch --list 'tasks/*'"), "");
  tasks_ = std::make_unique<TaskManager>(*store_, NoReaper());
  EXPECT_EQ(GitOut("branch --list 'tasks/*'"), "");
}

TEST_F(TaskTest, MergeCommitIdsAreTheSameInTwoRepositories) {
  std::string t = tasks_->Begin();
  Write(t, 1, "task");
  tasks_->Flush(t);  // the task's commit is on its branch
  Write("", 2, "master");
  store_->Commit();
  // A second repository holding the same commits.
  std::string copy = dir_ / "copy";
  CommandResult r = test::Run("git clone -q --mirror " + ShellQuote(path_) + " " + ShellQuote(copy));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  task::CommitOutcome here = tasks_->Commit(t);
  ASSERT_EQ(here.kind, "merged");

  auto other = Store::Open(TestOptions(copy));
  std::string master = other->RefTarget("refs/heads/master");
  std::string branch = other->RefTarget(TaskManager::BranchRef(t));
  ASSERT_FALSE(branch.empty());
  merge::MergeOutcome there;
  other->WithRepository([&](git_repository* repo) {
    there = merge::MergeCommits(repo, master, branch);
  });
  EXPECT_EQ(there.commit, here.commit);
}

// Ownership: a schema with hosts and VMs resident on them.
std::shared_ptr<const Schema> PoolSchema() {
  static auto schema = Schema::FromJson(R"JSON({
  "schema_major_vsn": 5, "schema_minor_vsn": 1,
  "tables": [
    {"name": "host", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name__label", "type": "string", "persistent": true, "empty": "", "default": ""}]},
    {"name": "VM", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name__label", "type": "string", "persistent": true, "empty": "", "default": ""},
      {"name": "resident_on", "type": "string", "persistent": true, "empty": "", "default": "OpaqueRef:NULL"}]}
  ],
  "one_to_many": [], "many_to_many": []
})JSON");
  return schema;
}

TEST(TaskOwnershipTest, MergeChangingAnotherHostsObjectIsRefused) {
  TempDir dir;
  auto store = Store::Create(TestOptions(dir / "repo"), PoolSchema());
  Database& db = store->db();
  db.CreateRow("host", {{"uuid", "h-a"}}, "OpaqueRef:host-a");
  db.CreateRow("host", {{"uuid", "h-b"}}, "OpaqueRef:host-b");
  db.CreateRow("VM", {{"uuid", "vm-b"}, {"resident_on", "OpaqueRef:host-b"}}, "OpaqueRef:vm-b");
  store->Commit();
  TaskManager tasks(*store, NoReaper());

  std::string t = tasks.Begin("", "OpaqueRef:host-a");
  tasks.Run(t, [](Database& d) { d.WriteField("VM", "OpaqueRef:vm-b", "name__label", "mine"); });
  std::string head = store->Head();
  try {
    tasks.Commit(t);
    FAIL() << "host A changed host B's VM";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOwnership);
    EXPECT_NE(std::string(e.what()).find("OpaqueRef:vm-b"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store->Head(), head);
  EXPECT_EQ(db.ReadField("VM", "name__label", "OpaqueRef:vm-b"), "");
  tasks.Abort(t);

  // Nested tasks act for the host of their parent; host B may change it.
  std::string b = tasks.Begin("", "OpaqueRef:host-b");
  std::string b1 = tasks.Begin(b);
  tasks.Run(b1, [](Database& d) { d.WriteField("VM", "OpaqueRef:vm-b", "name__label", "ok"); });
  tasks.Commit(b1);
  tasks.Commit(b);
  EXPECT_EQ(db.ReadField("VM", "name__label", "OpaqueRef:vm-b"), "ok");
}

}  // namespace
}  // namespace xgdb::test
