// Event_from long polls through the real HTTP server on a unix socket: a
// waiting client is answered when a commit lands, hundreds of connections
// wait at once without a thread each, timeouts keep the token, and stopping
// the hub answers everyone before the server goes away.
#include <sys/resource.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "event/event_calls.h"
#include "event/event_hub.h"
#include "rpc/extension.h"
#include "server/client.h"
#include "server/http_server.h"
#include "support/daemon.h"
#include "support/paths.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::event {
namespace {

using nlohmann::json;

std::shared_ptr<const Schema> SmallSchema() {
  static auto schema = Schema::FromJson(R"JSON({
  "schema_major_vsn": 5, "schema_minor_vsn": 1,
  "tables": [
    {"name": "VM", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name__label", "type": "string", "persistent": true, "empty": "", "default": null}]},
    {"name": "task", "persistent": false, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "progress", "type": "string", "persistent": true, "empty": "", "default": "0."}]}
  ],
  "one_to_many": [], "many_to_many": []
})JSON");
  return schema;
}

const char kVm[] = "OpaqueRef:3a000000-0000-4000-8000-000000000001";
const char kTask[] = "OpaqueRef:7b000000-0000-4000-8000-000000000001";

class EventServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    StoreOptions o;
    o.path = dir_ / "repo";
    o.fsync = false;
    store_ = Store::Create(o, SmallSchema());
    store_->db().CreateRow("VM", {{"uuid", "u1"}, {"name__label", "one"}}, kVm);
    store_->Commit();
    hub_ = std::make_unique<EventHub>(*store_);
    RegisterEventCalls(registry_, *hub_);
    hub_->Start();
    server::ServerOptions so;
    so.unix_socket = dir_ / "sock";
    server_ = std::make_unique<server::HttpServer>(
        so, [this](server::Request r, server::Responder respond) {
          ASSERT_EQ(r.version, rpc::ProtocolVersion::kExtension);
          registry_.Handle(r.body, rpc::CallContext{r.task}, std::move(respond));
        });
    server_->Start();
  }
  void TearDown() override {
    hub_->Stop();  // answers waiters while the server can still send
    server_.reset();
  }

  server::Connection Connect(int timeout_ms = 30000) {
    return server::Connection::Unix(dir_ / "sock", timeout_ms);
  }
  static std::string FromBody(const std::string& token, double timeout,
                              std::vector<std::string> classes = {"*"}) {
    return json::array({"Event_from", {{"classes", classes}, {"token", token}, {"timeout", timeout}}})
        .dump();
  }
  static json Result(const server::Answer& a) {
    EXPECT_EQ(a.status, 200);
    json j = json::parse(a.body);
    EXPECT_EQ(j[0], "Event_from") << a.body;
    return j[1];
  }
  std::string CurrentToken() {
    auto c = Connect();
    return Result(c.Call("/xapi_gitdb", FromBody("", 0)))["token"];
  }

  test::TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<EventHub> hub_;
  rpc::ExtensionRegistry registry_;
  std::unique_ptr<server::HttpServer> server_;
};

TEST_F(EventServerTest, LongPollIsAnsweredWhenACommitLands) {
  std::string t = CurrentToken();
  auto c = Connect();
  c.Send(server::XapiRequest("/xapi_gitdb", FromBody(t, 60, {"VM"})));
  EXPECT_FALSE(c.ReadableWithin(200));  // nothing changed: it waits
  store_->db().WriteField("VM", kVm, "name__label", "renamed");
  store_->Commit();
  json r = Result(c.ReadAnswer());
  ASSERT_EQ(r["events"].size(), 1u);
  EXPECT_EQ(r["events"][0]["operation"], "mod");
  EXPECT_EQ(r["events"][0]["snapshot"]["name__label"], "renamed");
  EXPECT_GT(r["token"].get<std::string>(), t);
  EXPECT_EQ(r["valid_ref_counts"]["vm"], 1);
}

TEST_F(EventServerTest, NonPersistentChangesWakeWaitersWithoutACommit) {
  std::string t = CurrentToken();
  auto c = Connect();
  c.Send(server::XapiRequest("/xapi_gitdb", FromBody(t, 60, {"task"})));
  EXPECT_FALSE(c.ReadableWithin(100));
  store_->db().CreateRow("task", {{"uuid", "t1"}}, kTask);
  json r = Result(c.ReadAnswer());
  ASSERT_EQ(r["events"].size(), 1u);
  EXPECT_EQ(r["events"][0]["class"], "task");
  EXPECT_EQ(r["events"][0]["operation"], "add");
  EXPECT_EQ(r["events"][0]["snapshot"]["progress"], "0.");
}

TEST_F(EventServerTest, InjectOverTheWireWakesAWaiter) {
  std::string t = CurrentToken();
  auto waiter = Connect();
  waiter.Send(server::XapiRequest("/xapi_gitdb", FromBody(t, 60, {"vm"})));
  auto c = Connect();
  auto a = c.Call("/xapi_gitdb", json::array({"Event_inject", {{"class", "VM"}, {"ref", kVm}}}).dump());
  json injected = json::parse(a.body);
  ASSERT_EQ(injected[0], "Event_inject") << a.body;
  json r = Result(waiter.ReadAnswer());
  ASSERT_EQ(r["events"].size(), 1u);
  EXPECT_EQ(r["events"][0]["ref"], kVm);
  EXPECT_GT(r["token"].get<std::string>(), injected[1].get<std::string>());
  auto bad = c.Call("/xapi_gitdb", json::array({"Event_inject", {{"class", "task"}, {"ref", kVm}}}).dump());
  EXPECT_EQ(json::parse(bad.body)[0], "Failure");
}

TEST_F(EventServerTest, HundredsOfConnectionsWaitAndOneCommitWakesThemAll) {
  std::string t = CurrentToken();
  constexpr int kClients = 300;
  std::vector<server::Connection> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(Connect());
    clients.back().Send(server::XapiRequest("/xapi_gitdb", FromBody(t, 120)));
  }
  for (int tries = 0; tries < 1000 && hub_->waiting() < kClients; ++tries) {
    usleep(10000);
  }
  ASSERT_EQ(hub_->waiting(), static_cast<size_t>(kClients));
  store_->db().WriteField("VM", kVm, "name__label", "everyone");
  store_->Commit();
  for (auto& c : clients) {
    json r = Result(c.ReadAnswer());
    ASSERT_EQ(r["events"].size(), 1u);
    EXPECT_EQ(r["events"][0]["snapshot"]["name__label"], "everyone");
  }
  EXPECT_EQ(hub_->waiting(), 0u);
}

// Waiters alike (the same classes, in any order, and token) share one
// answer per round; a different token or subscription gets its own.
TEST_F(EventServerTest, WaitersAlikeShareAnAnswerOthersGetTheirOwn) {
  std::string older = CurrentToken();
  store_->db().WriteField("VM", kVm, "name__label", "first");
  store_->Commit();
  std::string t = CurrentToken();
  auto send = [&](const std::string& token, std::vector<std::string> classes) {
    server::Connection c = Connect();
    c.Send(server::XapiRequest("/xapi_gitdb", FromBody(token, 60, classes)));
    return c;
  };
  std::vector<server::Connection> alike;
  alike.push_back(send(t, {"VM", "task"}));
  alike.push_back(send(t, {"task", "VM"}));
  server::Connection tasks_only = send(t, {"task"});
  for (int tries = 0; tries < 1000 && hub_->waiting() < 3; ++tries) usleep(10000);
  ASSERT_EQ(hub_->waiting(), 3u);
  store_->db().WriteField("VM", kVm, "name__label", "second");
  store_->Commit();
  server::Connection from_older = send(older, {"VM"});  // answered at once, from its token
  json a = Result(alike[0].ReadAnswer()), b = Result(alike[1].ReadAnswer());
  EXPECT_EQ(a, b);
  ASSERT_EQ(a["events"].size(), 1u);
  EXPECT_EQ(a["events"][0]["snapshot"]["name__label"], "second");
  json o = Result(from_older.ReadAnswer());
  ASSERT_EQ(o["events"].size(), 1u);
  EXPECT_EQ(o["token"], a["token"]);
  // The VM commit is nothing to a task waiter: it still waits.
  EXPECT_FALSE(tasks_only.ReadableWithin(200));
  store_->db().CreateRow("task", {{"uuid", "t1"}}, kTask);
  json k = Result(tasks_only.ReadAnswer());
  ASSERT_EQ(k["events"].size(), 1u);
  EXPECT_EQ(k["events"][0]["class"], "task");
}

TEST_F(EventServerTest, TimeoutAnswersEmptyWithTheSameToken) {
  std::string t = CurrentToken();
  auto c = Connect();
  json r = Result(c.Call("/xapi_gitdb", FromBody(t, 0.3)));
  EXPECT_TRUE(r["events"].empty());
  EXPECT_EQ(r["token"], t);
}

TEST_F(EventServerTest, BadTokenIsAFailureNotAHang) {
  auto c = Connect();
  json j = json::parse(c.Call("/xapi_gitdb", FromBody("12345", 60)).body);
  EXPECT_EQ(j[0], "Failure");
  EXPECT_EQ(j[1]["args"][0], "EVENT_FROM_TOKEN_PARSE_FAILURE");
}

TEST_F(EventServerTest, StoppingTheHubAnswersWaitersBeforeTheServerStops) {
  std::string t = CurrentToken();
  std::vector<server::Connection> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(Connect());
    clients.back().Send(server::XapiRequest("/xapi_gitdb", FromBody(t, 3600)));
  }
  for (int tries = 0; tries < 500 && hub_->waiting() < 3; ++tries) usleep(10000);
  hub_->Stop();
  for (auto& c : clients) {
    json r = Result(c.ReadAnswer());
    EXPECT_TRUE(r["events"].empty());
    EXPECT_EQ(r["token"], t);
  }
}

// A kB figure of /proc/PID/status ("VmRSS", "VmHWM").
int64_t StatusKb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  }
  return -1;
}

// A real daemon on a generated 1,000-VM pool: a full resync (empty token)
// takes a few times its answer while it is made, and gives it all back.
// Before, each took ~18 times its answer and kept most of it.
TEST(EventDaemonTest, AFullResyncCostsAFewTimesItsAnswerAndGivesItBack) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in quarantine: memory says nothing here";
#endif
  test::TempDir dir;
  const std::string repo = dir / "repo", socket = dir / "sock";
  ASSERT_EQ(test::Run(test::ShellQuote(test::BinaryPath("xgdb-gen-pool")) +
                      " --hosts 8 --vms 1000 --out " + test::ShellQuote(dir / "pool.db"))
                .exit_code,
            0);
  ASSERT_EQ(test::RunCli(repo, "import " + test::ShellQuote(dir / "pool.db")).exit_code, 0);
  test::DaemonProcess daemon(repo, socket, dir / "log", {"--no-fsync"});
  auto resync = [&] {
    return server::Connection::Unix(socket, 60000)
        .Call("/xapi_gitdb", R"(["Event_from",{"classes":["*"],"token":"","timeout":0}])", "",
              false)
        .body;
  };
  const std::string first = resync();  // whatever is made once and kept
  ASSERT_EQ(first.rfind("[\"Event_from\",{\"events\":[{", 0), 0u) << first.substr(0, 200);
  const int64_t answer_kb = static_cast<int64_t>(first.size()) / 1024;
  const int64_t base_kb = StatusKb(daemon.pid(), "VmRSS");
  std::ofstream("/proc/" + std::to_string(daemon.pid()) + "/clear_refs") << "5";  // peak := now
  for (int i = 0; i < 8; ++i) ASSERT_EQ(resync(), first);
  int64_t peak_kb = StatusKb(daemon.pid(), "VmHWM"), after_kb = StatusKb(daemon.pid(), "VmRSS");
  EXPECT_LT(peak_kb - base_kb, 6 * answer_kb)
      << "peak " << peak_kb << " kB over " << base_kb << " kB, answer " << answer_kb << " kB";
  EXPECT_LT(after_kb - base_kb, answer_kb)
      << "kept " << after_kb << " kB over " << base_kb << " kB, answer " << answer_kb << " kB";
}

}  // namespace
}  // namespace xgdb::event
