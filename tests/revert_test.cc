// History you can go back in: reverting one commit through the merge rules
// (library, protocol call and CLI), as-of reads over the protocol
// (History_get), and `xapi-gitdb diff`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "rpc/extension.h"
#include "store_test_util.h"
#include "task/branch_apply.h"
#include "task/task_calls.h"
#include "task/task_manager.h"

namespace xgdb::test {
namespace {

task::TaskOptions WithoutReaper() {
  task::TaskOptions options;
  options.reap_after_ms = 0;
  return options;
}

class RevertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ / "repo";
    store_ = Store::Create(TestOptions(path_), StoreTestSchema());
    Database& db = store_->db();
    for (int i = 1; i <= 3; ++i) AddVm(db, i, "vm" + std::to_string(i));
    c1_ = store_->Commit("three VMs");
    db.WriteField("VM", VmRef(1), "name__label", "renamed");
    db.WriteField("VM", VmRef(2), "tags", "('t')");
    c2_ = store_->Commit("rename and tag");
    db.WriteField("VM", VmRef(3), "name__label", "later");
    c3_ = store_->Commit("later work");
  }

  Database& db() { return store_->db(); }
  std::string Label(int vm) { return db().ReadField("VM", "name__label", VmRef(vm)); }

  // Calls one of our protocol calls as the daemon would.
  nlohmann::json Call(const std::string& name, const nlohmann::json& args) {
    if (!tasks_) {
      tasks_ = std::make_unique<task::TaskManager>(*store_, WithoutReaper());
      task::RegisterTaskCalls(registry_, *tasks_);
    }
    rpc::RpcResult result;
    registry_.Handle(nlohmann::json::array({name, args}).dump(), rpc::CallContext{},
                     [&](rpc::RpcResult r) { result = std::move(r); });
    EXPECT_EQ(result.status, 200) << result.error;
    return nlohmann::json::parse(result.body);
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  std::string c1_, c2_, c3_;
  std::unique_ptr<task::TaskManager> tasks_;
  rpc::ExtensionRegistry registry_;
};

TEST_F(RevertTest, UndoesOneCommitAsANewCommitAndKeepsLaterWork) {
  std::string commit = task::RevertCommit(*store_, c2_);
  ASSERT_FALSE(commit.empty());
  CommitInfo info = store_->GetCommit(commit);
  EXPECT_EQ(info.parents, std::vector<std::string>{c3_});
  EXPECT_EQ(info.message.rfind("Revert \"rename and tag\"\n\nThis reverts commit " + c2_, 0), 0u)
      << info.message;
  EXPECT_NE(info.message.find("Host: host-a-uuid@pool"), std::string::npos);
  // The image and git agree: c2's changes are gone, c3's stay.
  EXPECT_EQ(Label(1), "vm1");
  EXPECT_EQ(db().ReadField("VM", "tags", VmRef(2)), "()");
  EXPECT_EQ(Label(3), "later");
  EXPECT_EQ(store_->Commit(), "");  // nothing left pending
  auto at = store_->LoadAt("master");
  EXPECT_EQ(at->ReadField("VM", "name__label", VmRef(1)), "vm1");
  EXPECT_EQ(at->ReadField("VM", "name__label", VmRef(3)), "later");
  // Reverting again finds nothing to undo.
  EXPECT_EQ(task::RevertCommit(*store_, c2_), "");
}

TEST_F(RevertTest, RevertThatConflictsWithLaterWorkSaysSoAndChangesNothing) {
  db().WriteField("VM", VmRef(1), "name__label", "again");
  std::string head = store_->Commit();
  try {
    task::RevertCommit(*store_, c2_);
    FAIL() << "expected a conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
    std::string m = e.what();
    EXPECT_NE(m.find("revert of " + c2_), std::string::npos) << m;
    EXPECT_NE(m.find("VM " + VmRef(1) + " name__label"), std::string::npos) << m;
  }
  EXPECT_EQ(store_->Head(), head);
  EXPECT_EQ(Label(1), "again");
}

TEST_F(RevertTest, RevertingACreationDeletesAndADeletionRestores) {
  db().CreateRow("VBD", {{"uuid", "vbd-1"}, {"VM", VmRef(1)}}, "OpaqueRef:vbd-1");
  std::string created = store_->Commit("add a disk");
  db().DeleteRow("VM", VmRef(2));
  std::string deleted = store_->Commit("delete vm2");
  task::RevertCommit(*store_, created);
  EXPECT_FALSE(db().GetTableFromRef("OpaqueRef:vbd-1").has_value());
  EXPECT_EQ(db().ReadField("VM", "VBDs", VmRef(1)), "()");
  task::RevertCommit(*store_, deleted);
  EXPECT_EQ(Label(2), "vm2");
  EXPECT_EQ(db().ReadField("VM", "tags", VmRef(2)), "('t')");
  EXPECT_EQ(db().DbGetByUuid("VM", "uuid-vm-2"), VmRef(2));
}

TEST_F(RevertTest, ProtocolReadsAsOfACommitABranchOrATime) {
  nlohmann::json a = Call("History_get", {{"rev", c1_}, {"ref", VmRef(1)}, {"field", "name__label"}});
  EXPECT_EQ(a, nlohmann::json::parse(R"(["History_get", {"commit": ")" + c1_ +
                                     R"(", "table": "VM", "ref": ")" + VmRef(1) +
                                     R"(", "value": "vm1"}])"));
  nlohmann::json b = Call("History_get", {{"rev", "master"}, {"table", "VM"}, {"ref", VmRef(1)}});
  EXPECT_EQ(b[1]["fields"]["name__label"], "renamed");
  EXPECT_EQ(b[1]["fields"]["tags"], "()");
  // A time: the last master commit at or before it.
  int64_t t = store_->GetCommit(c3_).time;
  nlohmann::json c = Call("History_get", {{"rev", "@" + std::to_string(t)}, {"ref", VmRef(3)},
                                          {"field", "name__label"}});
  EXPECT_EQ(c[1]["value"], "later");
  nlohmann::json missing = Call("History_get", {{"rev", c1_}, {"ref", "OpaqueRef:nope"}});
  EXPECT_EQ(missing[0], "Failure");
  nlohmann::json bad = Call("History_get", {{"rev", "no-such-rev"}, {"ref", VmRef(1)}});
  EXPECT_EQ(bad[0], "Failure");
  EXPECT_EQ(bad[1]["kind"], Error::KindName(ErrorKind::kInvalidArgument));
}

// What git holds of an image: rows of persistent tables, stored columns
// and the derived set sides rebuilt from them.
std::vector<std::string> GitDump(const Database& db) {
  std::vector<std::string> out;
  db.ForEachRow([&](const Table& t, const std::string& ref, const std::vector<std::string>& v) {
    if (!t.persistent) return;
    for (const Column& c : t.columns) {
      if (!t.Stored(c) && c.relation != RelationSide::kOneToManySet) continue;
      const std::string& text = v[c.index];
      out.push_back(t.name + " " + ref + " " + c.name + "=" +
                    (c.type == ColumnType::kString
                         ? text
                         : sexpr::Canonical(text, c.type == ColumnType::kMap)));
    }
  });
  return out;
}

TEST_F(RevertTest, ImageAtACommitIsWhatLoadingItGives) {
  // More history: a disk created, moved to another VM and deleted, a VM
  // deleted, a map changed; and in memory only, a session and a
  // non-persistent column, which no commit holds. The 20 more VMs make
  // the later commits close enough to head for the clone-and-apply path;
  // the earlier ones are built by loading them.
  for (int i = 10; i < 30; ++i) AddVm(db(), i, "bulk");
  std::string bulk = store_->Commit("more VMs");
  db().CreateRow("VBD", {{"uuid", "vbd-1"}, {"VM", VmRef(1)}, {"device", "xvda"}},
                 "OpaqueRef:vbd-1");
  std::string c4 = store_->Commit("a disk");
  db().WriteField("VBD", "OpaqueRef:vbd-1", "VM", VmRef(3));
  db().WriteField("VM", VmRef(2), "other_config", "(('k' 'v'))");
  std::string c5 = store_->Commit("move the disk");
  db().DeleteRow("VBD", "OpaqueRef:vbd-1");
  db().DeleteRow("VM", VmRef(2));
  std::string c6 = store_->Commit("delete");
  db().CreateRow("session", {{"uuid", "s-1"}}, "OpaqueRef:session-1");
  db().WriteField("VM", VmRef(1), "memory_actual", "4096");
  std::string first = store_->Log("master", 100).back().id;  // the empty database

  task::TaskManager tasks(*store_, WithoutReaper());
  for (const std::string& rev : {first, c1_, c2_, c3_, bulk, c4, c5, c6}) {
    auto image = task::ImageAt(*store_, rev);
    EXPECT_EQ(GitDump(*image), GitDump(*store_->LoadAt(rev))) << rev;
  }
  EXPECT_EQ(task::ImageAt(*store_, c4)->ReadField("VM", "VBDs", VmRef(1)),
            "('OpaqueRef:vbd-1')");
  EXPECT_EQ(task::ImageAt(*store_, c5)->ReadField("VM", "VBDs", VmRef(3)),
            "('OpaqueRef:vbd-1')");
  // Over the protocol, what git does not hold shows as a reload shows it.
  nlohmann::json rec = Call("History_get", {{"rev", c5}, {"ref", VmRef(1)}});
  EXPECT_EQ(rec[1]["fields"]["memory_actual"], "0");
  EXPECT_EQ(rec[1]["fields"]["VBDs"], "()");
  nlohmann::json now = Call("History_get", {{"rev", "master"}, {"ref", VmRef(1)}});
  EXPECT_EQ(now[1]["fields"]["memory_actual"], "0");
  EXPECT_EQ(Call("History_get", {{"rev", "master"}, {"ref", "OpaqueRef:session-1"}})[0],
            "Failure");
  nlohmann::json gone =
      Call("History_get", {{"rev", c5}, {"ref", VmRef(2)}, {"field", "other_config"}});
  EXPECT_EQ(gone[1]["value"], "(('k' 'v'))");
}

TEST_F(RevertTest, ProtocolLogDiffAndRevert) {
  nlohmann::json log = Call("History_log", {{"path", "VM/" + VmRef(1) + "/name__label"}});
  ASSERT_EQ(log[0], "History_log");
  ASSERT_EQ(log[1].size(), 2u);  // created in c1, renamed in c2
  EXPECT_EQ(log[1][0]["id"], c2_);
  EXPECT_EQ(log[1][0]["host"], "host-a-uuid@pool");
  nlohmann::json diff = Call("History_diff", {{"from", c1_}, {"to", c2_}});
  ASSERT_EQ(diff[1].size(), 2u);
  nlohmann::json rename;
  for (const auto& change : diff[1]) {
    if (change["field"] == "name__label") rename = change;
  }
  EXPECT_EQ(rename["ref"], VmRef(1));
  EXPECT_EQ(rename["old"], "vm1");
  EXPECT_EQ(rename["new"], "renamed");
  nlohmann::json reverted = Call("History_revert", {{"rev", c2_}});
  ASSERT_EQ(reverted[0], "History_revert") << reverted.dump();
  EXPECT_EQ(store_->Head(), reverted[1]["commit"]);
  EXPECT_EQ(Label(1), "vm1");
}

TEST_F(RevertTest, CliDiffAndRevert) {
  store_.reset();  // the CLI opens the repository itself
  auto cli = [&](const std::string& args) {
    return test::Run(ShellQuote(BinaryPath("xapi-gitdb")) + " --repo " + ShellQuote(path_) + " " + args);
  };
  CommandResult diff = cli("diff " + c1_ + " " + c2_);
  ASSERT_EQ(diff.exit_code, 0) << diff.output;
  EXPECT_NE(diff.output.find("VM\n"), std::string::npos) << diff.output;
  EXPECT_NE(diff.output.find("name__label: vm1 -> renamed"), std::string::npos) << diff.output;
  EXPECT_NE(diff.output.find("2 objects changed"), std::string::npos) << diff.output;

  CommandResult revert = cli("revert " + c2_);
  ASSERT_EQ(revert.exit_code, 0) << revert.output;
  EXPECT_NE(revert.output.find("reverted " + c2_.substr(0, 12)), std::string::npos);
  CommandResult again = cli("revert " + c3_ + "~1");  // c2 again: nothing left to undo
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("nothing to revert"), std::string::npos) << again.output;
  CommandResult log = Git(path_, "log -1 --format=%s master");
  EXPECT_EQ(log.output, "Revert \"rename and tag\"\n");
  auto reopened = Store::Open(TestOptions(path_));
  EXPECT_EQ(reopened->db().ReadField("VM", "name__label", VmRef(1)), "vm1");
  EXPECT_EQ(cli("revert no-such-commit").exit_code, 1);
}

}  // namespace
}  // namespace xgdb::test
