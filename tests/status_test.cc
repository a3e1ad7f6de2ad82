// `xapi-gitdb status` and `gc` (cmd_status.cc) on the real 2014 pool, with
// and without a real daemon serving it.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store_test_util.h"
#include "support/daemon.h"
#include "support/paths.h"

namespace xgdb::test {
namespace {

using StatusTest = DaemonTest;

nlohmann::json Json(const CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return nlohmann::json::parse(r.output);
}

std::string GitHead(const std::string& repo) {
  std::string out = Git(repo, "rev-parse master").output;
  return out.substr(0, out.find('\n'));
}

TEST_F(StatusTest, SaysWhatTheRepositoryHoldsWithAndWithoutADaemon) {
  nlohmann::json alone = Json(Cli("status --json"));
  EXPECT_EQ(alone["format"], 3);
  EXPECT_EQ(alone["schema"], "5.82");
  EXPECT_EQ(alone["master"], GitHead(repo_));
  EXPECT_EQ(alone["generation"], 2194689);
  EXPECT_EQ(alone["rows"]["VM"], 71);
  EXPECT_EQ(alone["total_rows"], 447);
  EXPECT_GE(alone["packs"].get<int>(), 1);
  EXPECT_GT(alone["repository_bytes"].get<int64_t>(), alone["pack_bytes"].get<int64_t>());
  EXPECT_TRUE(alone["daemon"].is_null());
  EXPECT_NE(Cli("status").output.find("none serves this repository"), std::string::npos);

  DaemonProcess daemon(repo_, socket_, log_);
  std::string vm = nlohmann::json::parse(Call({"Read_refs", "VM"})).at(1).at(0);
  ASSERT_EQ(Call({"Write_field", "VM", vm, "name__label", "renamed"}), "[\"Write_field\",null]");
  ASSERT_TRUE(Eventually([&] { return GitHead(repo_) != alone["master"]; }));
  nlohmann::json served = Json(Cli("status --json"));
  EXPECT_EQ(served["master"], GitHead(repo_));
  EXPECT_EQ(served["rows"]["VM"], 71);
  const nlohmann::json& d = served["daemon"];
  ASSERT_TRUE(d.is_object()) << served.dump();
  EXPECT_EQ(d["pid"], daemon.pid());
  EXPECT_EQ(d["socket"], socket_);
  EXPECT_EQ(d["served_head"], served["master"]);
  EXPECT_GE(d["uptime_s"].get<int>(), 0);
  std::string version = Cli("--version").output;
  EXPECT_EQ(d["version"].get<std::string>() + "\n", version);
  EXPECT_NE(Cli("status").output.find("daemon      pid " + std::to_string(daemon.pid())),
            std::string::npos);
}

TEST_F(StatusTest, GcCombinesThePacksThroughTheDaemonAndAlone) {
  std::string vm;
  {
    DaemonProcess daemon(repo_, socket_, log_);
    vm = nlohmann::json::parse(Call({"Read_refs", "VM"})).at(1).at(0);
    for (int i = 0; i < 5; ++i) {  // a commit, so a pack, each
      std::string before = GitHead(repo_);
      ASSERT_EQ(Call({"Write_field", "VM", vm, "name__label", "v" + std::to_string(i)}),
                "[\"Write_field\",null]");
      ASSERT_TRUE(Eventually([&] { return GitHead(repo_) != before; }));
    }
    ASSERT_GE(Json(Cli("status --json"))["packs"].get<int>(), 5);
    nlohmann::json gc = Json(Cli("gc --json"));
    EXPECT_GE(gc["combined"].get<int>(), 5);
    EXPECT_EQ(gc["packs"], 1);
    EXPECT_EQ(Json(Cli("status --json"))["packs"], 1);
    // The daemon serves and commits on from the combined pack.
    std::string before = GitHead(repo_);
    ASSERT_EQ(Call({"Write_field", "VM", vm, "name__label", "after gc"}), "[\"Write_field\",null]");
    EXPECT_EQ(Call({"Read_field", "VM", "name__label", vm}), "[\"Read_field\",\"after gc\"]");
    ASSERT_TRUE(Eventually([&] { return GitHead(repo_) != before; }));
  }
  ExpectFsckClean(repo_);
  nlohmann::json alone = Json(Cli("gc --json"));  // the last commit's pack
  EXPECT_EQ(alone["packs"], 1);
  EXPECT_EQ(Cli("get " + vm + " name__label").output, "after gc\n");
  ExpectFsckClean(repo_);
}

}  // namespace
}  // namespace xgdb::test
