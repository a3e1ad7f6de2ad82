// What clients cannot take from the daemon (issue: "Clients that go away
// exhaust the daemon"), with a real daemon process: a long poll whose
// client hangs up gives its descriptor back at once, and when descriptors
// run short the daemon refuses new connections, never its own commits.
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/client.h"
#include "store_test_util.h"
#include "support/daemon.h"
#include "support/paths.h"

namespace xgdb::test {
namespace {

const char kVmRef[] = "OpaqueRef:0a5079bc-6dbf-f005-5e27-f64ec5b0fec5";

class ServerLimitsTest : public DaemonTest {
 protected:
  std::string Call(server::Connection& c, const std::string& path, const nlohmann::json& call) {
    return c.Call(path, call.dump(), "", false).body;
  }
};

TEST_F(ServerLimitsTest, ALongPollWhoseClientLeftGivesItsDescriptorBack) {
  DaemonProcess daemon(repo_, socket_, log_);
  auto first = server::Connection::Unix(socket_);
  // The current token, so that the polls below wait.
  std::string token = nlohmann::json::parse(Call(first, "/xapi_gitdb",
      {"Event_from", {{"classes", {"*"}}, {"token", ""}, {"timeout", 0}}}))[1]["token"];
  const int before = daemon.OpenFiles();
  const std::string poll =
      server::XapiRequest("/xapi_gitdb",
                          nlohmann::json({"Event_from", {{"classes", {"*"}},
                                                         {"token", token},
                                                         {"timeout", 600}}}).dump(),
                          "", false);
  constexpr int kClients = 300;
  {
    std::vector<server::Connection> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(server::Connection::Unix(socket_));
      clients.back().Send(poll);
    }
    // All of them wait in the daemon now (each holds a descriptor there).
    ASSERT_TRUE(Eventually([&] { return daemon.OpenFiles() >= before + kClients; }));
  }  // and all hang up, as a client that timed out does
  EXPECT_TRUE(Eventually([&] { return daemon.OpenFiles() <= before + 5; }))
      << daemon.OpenFiles() << " descriptors open, " << before << " before the polls";
  // The daemon serves on.
  EXPECT_EQ(Call(first, "/remote_db_access_v2",
                 {"Write_field", "VM", kVmRef, "name__label", "after the storm"}),
            "[\"Write_field\",null]");
}

TEST_F(ServerLimitsTest, ShortOfDescriptorsItRefusesConnectionsNotCommits) {
  constexpr int kFiles = 400;  // the daemon keeps 256 of them for itself
  DaemonProcess daemon(repo_, socket_, log_, {"--sync"}, kFiles);
  auto writer = server::Connection::Unix(socket_);
  // More idle connections than it may take: the last ones are closed on
  // arrival, the first ones stay.
  std::vector<server::Connection> idle;
  for (int i = 0; i < kFiles; ++i) idle.push_back(server::Connection::Unix(socket_));
  EXPECT_TRUE(idle.back().ClosedWithin(5000)) << "the connection over the limit was taken";
  EXPECT_FALSE(idle.front().ClosedWithin(50));
  // A write on a connection it had already taken is served and committed:
  // the store still has descriptors for its pack and its ref.
  EXPECT_EQ(Call(writer, "/remote_db_access_v2",
                 {"Write_field", "VM", kVmRef, "name__label", "committed while full"}),
            "[\"Write_field\",null]")
      << ReadFile(log_);
  idle.clear();  // room again: new connections are taken
  EXPECT_TRUE(Eventually([&] {
    try {
      auto c = server::Connection::Unix(socket_);
      return Call(c, "/remote_db_access_v2", {"Read_field", "VM", "name__label", kVmRef}) ==
             "[\"Read_field\",\"committed while full\"]";
    } catch (const Error&) {
      return false;
    }
  }));
  ASSERT_EQ(daemon.Kill(SIGKILL), -1);
  auto r = test::Run("git --git-dir=" + ShellQuote(repo_) + " show master:" +
                     ShellQuote(Store::ObjectPath("VM", kVmRef) + "name__label"));
  EXPECT_EQ(r.output, "committed while full");  // --sync: on disk when answered
  EXPECT_NE(ReadFile(log_).find("refusing connections"), std::string::npos);
}

}  // namespace
}  // namespace xgdb::test
