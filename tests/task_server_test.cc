// Tasks over the wire: the real `xapi-gitdb serve` process on a unix
// socket, calls carrying the x-xgdb-task header, and Task_* calls on
// /xapi_gitdb (proto/xapi-gitdb.md).
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/client.h"
#include "store_test_util.h"

namespace xgdb::test {
namespace {

using nlohmann::json;
using server::Connection;

class TaskServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_ / "repo";
    sock_ = dir_ / "db.sock";
    pid_file_ = dir_ / "serve.pid";
    {
      auto store = Store::Create(TestOptions(repo_), StoreTestSchema());
      for (int i = 1; i <= 2; ++i) AddVm(store->db(), i, "vm" + std::to_string(i));
      store->Commit("two VMs");
    }
    CommandResult start = test::Run(ShellQuote(BinaryPath("xapi-gitdb")) + " --repo " +
                              ShellQuote(repo_) + " serve --socket " + ShellQuote(sock_) +
                              " --pid-file " + ShellQuote(pid_file_) +
                              " --no-fsync --commit-interval-ms 10 --log-level warn >" +
                              ShellQuote(dir_ / "serve.log") + " 2>&1 &");
    ASSERT_EQ(start.exit_code, 0) << start.output;
    for (int i = 0; i < 200 && !(std::filesystem::exists(sock_) && Pid() > 0); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ASSERT_TRUE(std::filesystem::exists(sock_)) << ReadFile(dir_ / "serve.log");
  }
  void TearDown() override {
    if (pid_t pid = Pid(); pid > 0) kill(pid, SIGKILL);
  }
  pid_t Pid() {
    try {
      return static_cast<pid_t>(std::stol(ReadFile(pid_file_)));
    } catch (const std::exception&) {
      return 0;
    }
  }

  // One request; `task` goes into the x-xgdb-task header.
  server::Answer Post(const std::string& path, const std::string& body,
                      const std::string& task = "") {
    Connection c = Connection::Unix(sock_);
    c.Send("POST " + path + " HTTP/1.1\r\n" +
           (task.empty() ? "" : "x-xgdb-task: " + task + "\r\n") +
           "content-length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.ReadAnswer();
  }
  json Ext(const std::string& name, const json& args, const std::string& task = "") {
    server::Answer a = Post("/xapi_gitdb", json::array({name, args}).dump(), task);
    EXPECT_EQ(a.status, 200) << a.raw;
    return json::parse(a.body);
  }
  std::string Label(int vm, const std::string& task = "") {
    server::Answer a = Post("/remote_db_access_v2",
                            json::array({"Read_field", "VM", "name__label", VmRef(vm)}).dump(),
                            task);
    EXPECT_EQ(a.status, 200) << a.raw;
    return json::parse(a.body)[1];
  }
  void SetLabel(int vm, const std::string& value, const std::string& task = "") {
    server::Answer a = Post(
        "/remote_db_access_v2",
        json::array({"Write_field", "VM", VmRef(vm), "name__label", value}).dump(), task);
    EXPECT_EQ(a.body, "[\"Write_field\",null]") << a.raw;
  }

  TempDir dir_;
  std::string repo_, sock_, pid_file_;
};

TEST_F(TaskServerTest, HeaderRoutesCallsToTheTaskAndCommitReachesMaster) {
  json begun = Ext("Task_begin", json::object());
  ASSERT_EQ(begun[0], "Task_begin") << begun.dump();
  std::string t = begun[1]["task"];
  EXPECT_EQ(begun[1]["branch"], "refs/heads/tasks/" + t);
  EXPECT_EQ(Git(repo_, "branch --list 'tasks/*'").output, "  tasks/" + t + "\n");

  SetLabel(1, "in task", t);
  EXPECT_EQ(Label(1, t), "in task");
  EXPECT_EQ(Label(1), "vm1");  // no header: master, as an unmodified xapi sees it
  SetLabel(2, "on master");
  EXPECT_EQ(Label(2, t), "vm2");

  json list = Ext("Task_list", json::object());
  ASSERT_EQ(list[1].size(), 1u);
  EXPECT_EQ(list[1][0]["task"], t);

  json committed = Ext("Task_commit", {{"task", t}});
  ASSERT_EQ(committed[0], "Task_commit") << committed.dump();
  EXPECT_EQ(committed[1]["into"], "master");
  EXPECT_EQ(Label(1), "in task");
  EXPECT_EQ(Label(2), "on master");
  // The daemon's master is git's master, with the task's commit in it.
  EXPECT_EQ(Git(repo_, "rev-parse master").output, committed[1]["commit"].get<std::string>() + "\n");
  EXPECT_NE(Git(repo_, "log --format=%B master").output.find("Task: " + t), std::string::npos);
  // `xapi-gitdb log` says which task changed the object, while the daemon
  // keeps serving the same repository (and committing afterwards).
  CommandResult log = test::Run(ShellQuote(BinaryPath("xapi-gitdb")) + " --repo " +
                                ShellQuote(repo_) + " log VM/" + VmRef(1) + "/name__label --json");
  ASSERT_EQ(log.exit_code, 0) << log.output;
  json commits = json::parse(log.output);
  ASSERT_FALSE(commits.empty()) << log.output;
  bool by_task = false;
  for (const json& c : commits) by_task = by_task || c["task"] == t;
  EXPECT_TRUE(by_task) << log.output;
  std::string head = Git(repo_, "rev-parse master").output;
  SetLabel(2, "after log");
  for (int i = 0; i < 300 && Git(repo_, "rev-parse master").output == head; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Git(repo_, "log -1 --format=%s master").output,
            "write VM " + VmRef(2) + " name__label\n");
  // A finished task serves no more calls: 500, as the protocol cannot say it.
  server::Answer gone = Post("/remote_db_access_v2",
                             json::array({"Read_field", "VM", "name__label", VmRef(1)}).dump(), t);
  EXPECT_EQ(gone.status, 500);
}

TEST_F(TaskServerTest, NestedBeginUsesTheHeaderConflictAndAbortAnswerInBand) {
  std::string t = Ext("Task_begin", json::object())[1]["task"];
  json child = Ext("Task_begin", json::object(), t);  // the header names the parent
  std::string c = child[1]["task"];
  EXPECT_EQ(c, t + ".1");
  EXPECT_EQ(child[1]["parent"], t);
  SetLabel(1, "child", c);
  EXPECT_EQ(Ext("Task_commit", json::object(), c)[1]["into"], t);
  EXPECT_EQ(Label(1, t), "child");
  EXPECT_EQ(Label(1), "vm1");

  SetLabel(1, "master");
  json failed = Ext("Task_commit", {{"task", t}});
  ASSERT_EQ(failed[0], "Failure") << failed.dump();
  EXPECT_EQ(failed[1]["kind"], Error::KindName(ErrorKind::kConflict));
  EXPECT_EQ(failed[1]["args"][2], "name__label");
  EXPECT_EQ(Label(1), "master");
  EXPECT_EQ(Git(repo_, "show tasks/" + t + ":" + Store::ObjectPath("VM", VmRef(1)) +
                           "name__label").output,
            "child");
  json aborted = Ext("Task_abort", {{"task", t}});
  EXPECT_EQ(aborted[1]["aborted"], json::array({t}));
  EXPECT_EQ(Git(repo_, "branch --list 'tasks/*'").output, "");
  EXPECT_EQ(Ext("Task_abort", {{"task", t}})[0], "Failure");
  EXPECT_EQ(Post("/remote_db_access_v2", "[\"Read_refs\",\"VM\"]", "nosuchtask").status, 500);
}

}  // namespace
}  // namespace xgdb::test
