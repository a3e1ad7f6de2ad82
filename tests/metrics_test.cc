// Prometheus metrics (server/metrics.cc, server/metrics_server.cc) of real
// daemons: a single one on the real 2014 pool, and a simulated pool of three
// for peers, locks and conflicts. Each scrape is a real HTTP GET.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmath>
#include <map>
#include <sstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store_test_util.h"
#include "support/daemon.h"
#include "support/paths.h"
#include "support/sim_pool.h"
#include "server/client.h"

namespace xgdb::test {
namespace {

using MetricsTest = DaemonTest;

// Connects to ADDRESS:PORT; -1 when it cannot.
int Connect(const std::string& endpoint) {
  size_t colon = endpoint.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(endpoint.substr(colon + 1))));
  inet_pton(AF_INET, endpoint.substr(0, colon).c_str(), &addr.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` as is and reads the answer until the server closes.
std::string Exchange(const std::string& endpoint, const std::string& request) {
  int fd = Connect(endpoint);
  if (fd < 0) return "";
  (void)!write(fd, request.data(), request.size());
  std::string answer;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<size_t>(n));
  close(fd);
  return answer;
}

std::string Get(const std::string& endpoint, const std::string& method = "GET",
                const std::string& target = "/metrics") {
  return Exchange(endpoint,
                  method + " " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
}

// One scrape: each sample's value by its line's name and labels as written
// ("xapi_gitdb_rows{table=\"VM\"}"), every line checked against the text
// format (a sample of a family announced by # HELP and # TYPE).
struct Scrape {
  std::map<std::string, double> samples;
  std::string text;

  // The sample of `name` whose labels include every one of `labels`; NaN
  // when there is none.
  double Value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& [key, value] : samples) {
      if (key.substr(0, key.find('{')) != name) continue;
      bool all = true;
      for (const auto& [label, v] : labels) {
        all = all && key.find(label + "=\"" + v + "\"") != std::string::npos;
      }
      if (all) return value;
    }
    return std::nan("");
  }
};

Scrape Metrics(const std::string& endpoint) {
  Scrape s;
  std::string answer = Get(endpoint);
  size_t body = answer.find("\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer.substr(0, 200);
  EXPECT_NE(answer.find("text/plain; version=0.0.4"), std::string::npos);
  if (body == std::string::npos) return s;
  s.text = answer.substr(body + 4);
  static const std::regex kSample(R"(([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (\S+))");
  static const std::regex kComment(R"(# (HELP|TYPE) ([a-z_]+) .+)");
  std::map<std::string, int> announced;  // families: HELP and TYPE seen
  std::istringstream lines(s.text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, kComment)) {
      ++announced[m[2]];
    } else if (std::regex_match(line, m, kSample)) {
      std::string family = std::regex_replace(m[1].str(), std::regex("_(bucket|sum|count)$"), "");
      EXPECT_TRUE(announced[m[1]] == 2 || announced[family] == 2) << "unannounced: " << line;
      s.samples[m[1].str() + m[2].str()] = std::stod(m[4]);
    } else {
      ADD_FAILURE() << "not the text format: '" << line << "'";
    }
  }
  return s;
}

std::string Endpoint(const std::string& repo) {
  nlohmann::json status = nlohmann::json::parse(RunCli(repo, "--json status").output);
  return status["daemon"].value("metrics", "");
}

TEST_F(MetricsTest, CountsRequestsByCallAndStatusCommitsAndTheRepository) {
  DaemonProcess daemon(repo_, socket_, log_, {"--metrics", "127.0.0.1:0"});
  const std::string endpoint = Endpoint(repo_);
  ASSERT_FALSE(endpoint.empty());
  EXPECT_NE(Cli("status").output.find("metrics     http://" + endpoint + "/metrics"),
            std::string::npos);
  const std::string head = Git(repo_, "rev-parse master").output;

  nlohmann::json vms = nlohmann::json::parse(Call({"Read_refs", "VM"})).at(1);
  for (int i = 0; i < 5; ++i) {
    Call({"Write_field", "VM", vms[0], "name__label", "renamed " + std::to_string(i)});
  }
  Call({"Read_field", "VM", "name__label", vms[0]});
  ASSERT_NE(Call({"Read_field", "VM", "name__label", "OpaqueRef:nowhere"}).find("notfound"),
            std::string::npos);
  Call({"no such call"});  // malformed: answered 500
  ASSERT_TRUE(Eventually([&] { return Git(repo_, "rev-parse master").output != head; }));

  Scrape s;
  ASSERT_TRUE(Eventually([&] {
    s = Metrics(endpoint);
    return s.Value("xapi_gitdb_commits_total") >= 1 &&
           s.Value("xapi_gitdb_uncommitted_changes") == 0;
  })) << s.text;
  auto requests = [&](const std::string& call, const std::string& status) {
    return s.Value("xapi_gitdb_requests_total",
                   {{"protocol", "v2"}, {"call", call}, {"status", status}});
  };
  EXPECT_EQ(requests("read_refs", "ok"), 1);
  EXPECT_EQ(requests("write_field", "ok"), 5);
  EXPECT_EQ(requests("write_field", "failure"), 0);
  EXPECT_EQ(requests("read_field", "ok"), 1);
  EXPECT_EQ(requests("read_field", "failure"), 1);
  EXPECT_EQ(requests("unknown", "error"), 1);
  EXPECT_EQ(s.Value("xapi_gitdb_request_duration_seconds_count",
                    {{"protocol", "v2"}, {"call", "write_field"}}),
            5);
  EXPECT_EQ(s.Value("xapi_gitdb_request_duration_seconds_bucket",
                    {{"call", "write_field"}, {"le", "+Inf"}}),
            5);
  // Our own calls are counted under their protocol (status --json asked).
  EXPECT_GE(s.Value("xapi_gitdb_requests_total",
                    {{"protocol", "xapi_gitdb"}, {"call", "Status"}, {"status", "ok"}}),
            1);

  // Group commits: the five renames of one row went into at most five
  // commits of one row each.
  double commits = s.Value("xapi_gitdb_commits_total");
  EXPECT_GE(commits, 1);
  EXPECT_LE(commits, 5);
  EXPECT_EQ(s.Value("xapi_gitdb_commit_rows_count"), commits);
  EXPECT_EQ(s.Value("xapi_gitdb_commit_rows_sum"), commits);
  EXPECT_EQ(s.Value("xapi_gitdb_commit_duration_seconds_count"), commits);

  // The repository as status shows it.
  nlohmann::json status = nlohmann::json::parse(Cli("--json status").output);
  EXPECT_EQ(s.Value("xapi_gitdb_packs"), status["packs"].get<double>());
  EXPECT_EQ(s.Value("xapi_gitdb_rows", {{"table", "VM"}}), vms.size());
  EXPECT_GT(s.Value("xapi_gitdb_repository_bytes"), s.Value("xapi_gitdb_pack_bytes"));
  EXPECT_EQ(s.Value("xapi_gitdb_open_tasks"), 0);
  EXPECT_EQ(s.Value("xapi_gitdb_background_error"), 0);
  EXPECT_EQ(s.Value("xapi_gitdb_build_info",
                    {{"version", status["daemon"]["version"].get<std::string>()}}),
            1);
  // A daemon that does not replicate shows no peers.
  EXPECT_TRUE(std::isnan(s.Value("xapi_gitdb_peers")));

  // A task and a waiting Event_from are seen while they last.
  auto ours = [&](const nlohmann::json& call) {
    return nlohmann::json::parse(
        server::Connection::Unix(socket_, 30000).Call("/xapi_gitdb", call.dump(), "", false).body);
  };
  nlohmann::json task = ours({"Task_begin", nlohmann::json::object()});
  ASSERT_EQ(task.at(0), "Task_begin") << task.dump();
  std::string token = ours({"Event_from", {{"classes", {"VM"}}, {"token", ""}, {"timeout", 0}}})
                          .at(1)
                          .at("token");
  std::thread waiter([&] {
    ours({"Event_from", {{"classes", {"VM"}}, {"token", token}, {"timeout", 30}}});
  });
  EXPECT_TRUE(Eventually([&] {
    Scrape now = Metrics(endpoint);
    return now.Value("xapi_gitdb_event_waiters") == 1 && now.Value("xapi_gitdb_open_tasks") == 1;
  }));
  Call({"Write_field", "VM", vms[0], "name__label", "wakes the waiter"});
  waiter.join();
  EXPECT_EQ(Metrics(endpoint).Value("xapi_gitdb_event_waiters"), 0);
}

TEST_F(MetricsTest, AnswersOnlyGetMetricsAndKeepsServing) {
  DaemonProcess daemon(repo_, socket_, log_, {"--metrics", "127.0.0.1:0"});
  const std::string endpoint = Endpoint(repo_);
  ASSERT_FALSE(endpoint.empty());

  std::string post = Get(endpoint, "POST");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos) << post;
  EXPECT_EQ(Get(endpoint, "GET", "/").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(Get(endpoint, "GET", "/metrics/../x").rfind("HTTP/1.1 404", 0), 0u);
  std::string head = Get(endpoint, "HEAD");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");  // no body, only its length

  // Garbage, a header block over the limit, and a client that never
  // finishes its request: none of them answered with metrics, none stops
  // the next scrape.
  EXPECT_EQ(Exchange(endpoint, "NOT HTTP AT ALL\r\n\r\n").find("xapi_gitdb"), std::string::npos);
  EXPECT_EQ(Exchange(endpoint, "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'a') +
                                   "\r\n\r\n")
                .find("xapi_gitdb"),
            std::string::npos);
  int idle = Connect(endpoint);
  ASSERT_GE(idle, 0);
  (void)!write(idle, "GET /met", 8);
  // More connections than the endpoint keeps: the ones over its limit are
  // closed at once, the daemon's descriptors are not spent on them.
  std::vector<int> crowd;
  for (int i = 0; i < 24; ++i) crowd.push_back(Connect(endpoint));
  // Closed ones read EOF at once; kept ones would only after the 10 s
  // request timeout.
  int closed = 0;
  EXPECT_TRUE(Eventually([&] {
    std::vector<pollfd> fds;
    for (int fd : crowd) fds.push_back({fd, POLLIN, 0});
    poll(fds.data(), fds.size(), 100);
    closed = 0;
    for (const pollfd& p : fds) {
      char c;
      if ((p.revents & (POLLIN | POLLHUP)) && recv(p.fd, &c, 1, MSG_PEEK) == 0) ++closed;
    }
    return closed >= 24 - 16;
  }, 5)) << closed << " of 24 closed";
  for (int fd : crowd) close(fd);
  close(idle);
  ASSERT_TRUE(Eventually([&] { return Get(endpoint).find(" 200 ") != std::string::npos; }));
  EXPECT_NE(Metrics(endpoint).text.find("xapi_gitdb_requests_total"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(Call({"Read_refs", "pool"})).at(1).size(), 1u);
}

TEST(MetricsPoolTest, PeersLocksConflictsAndForwardsOfASimulatedPool) {
  TempDir dir;
  SimPool pool(dir.path(), 3);
  ASSERT_TRUE(pool.ok());
  for (size_t i = 0; i < pool.size(); ++i) ASSERT_FALSE(pool.host(i).metrics.empty());

  // Every host sees its two peers up, in sync, and exactly one leads the
  // lock service.
  ASSERT_TRUE(Eventually(
      [&] {
        int leaders = 0;
        for (size_t i = 0; i < pool.size(); ++i) {
          Scrape s = Metrics(pool.host(i).metrics);
          if (s.Value("xapi_gitdb_peers", {{"state", "up"}}) != 2) return false;
          for (size_t j = 0; j < pool.size(); ++j) {
            if (j == i) continue;
            if (s.Value("xapi_gitdb_peer_up", {{"peer", pool.host(j).uuid}}) != 1) return false;
            if (s.Value("xapi_gitdb_peer_lag_seconds", {{"peer", pool.host(j).uuid}}) != 0) {
              return false;
            }
          }
          leaders += s.Value("xapi_gitdb_lock_leader") == 1;
        }
        return leaders == 1;
      },
      30));

  nlohmann::json got = pool.Ours(1, {"Lock_acquire", {{"name", "SR:metrics"}, {"ttl", 30}}});
  ASSERT_EQ(got.at(0), "Lock_acquire") << got.dump();
  nlohmann::json busy =
      pool.Ours(2, {"Lock_acquire", {{"name", "SR:metrics"}, {"ttl", 30}, {"wait", 0.2}}});
  ASSERT_EQ(busy.at(0), "Failure") << busy.dump();
  Scrape holder = Metrics(pool.host(1).metrics), refused = Metrics(pool.host(2).metrics);
  EXPECT_EQ(holder.Value("xapi_gitdb_lock_grants_total"), 1);
  EXPECT_EQ(holder.Value("xapi_gitdb_locks_held"), 1);
  EXPECT_EQ(refused.Value("xapi_gitdb_lock_grants_total"), 0);
  EXPECT_EQ(refused.Value("xapi_gitdb_lock_waits_total"), 1);
  EXPECT_EQ(refused.Value("xapi_gitdb_lock_refusals_total"), 1);

  // Three hosts write one field at once until replication has to settle
  // a conflict: the hosts that derived those merges count them.
  std::string ref = pool.Call(0, {"Read_refs", "pool"}).at(1).at(0);
  std::string listed;
  for (int round = 0; round < 10 && listed.find("kept") == std::string::npos; ++round) {
    ASSERT_NE(pool.WriteAtOnceAndSettle("pool", ref, "name_label", "round " + std::to_string(round)),
              "");
    listed = RunCli(pool.host(0).repo, "conflicts").output;
  }
  ASSERT_NE(listed.find("kept"), std::string::npos) << listed;
  std::string counted;
  EXPECT_TRUE(Eventually([&] {
    double conflicts = 0;
    counted.clear();
    for (size_t i = 0; i < pool.size(); ++i) {
      double n = Metrics(pool.host(i).metrics).Value("xapi_gitdb_conflicts_total");
      conflicts += n;
      counted += " " + std::to_string(n);
    }
    return conflicts > 0;
  })) << "counted" << counted << ", listed:\n" << listed;

  // A write to host 2's VM sent through host 0: host 0 sent it, host 2
  // made it; nothing is quarantined anywhere.
  std::string vm = pool.OwnedVm(2);
  ASSERT_FALSE(vm.empty());
  pool.WriteField(0, "VM", vm, "name__description", "forwarded");
  Scrape sender = Metrics(pool.host(0).metrics), owner = Metrics(pool.host(2).metrics);
  EXPECT_EQ(sender.Value("xapi_gitdb_forwarded_writes_total", {{"outcome", "sent"}}), 1);
  EXPECT_EQ(sender.Value("xapi_gitdb_forwarded_writes_total", {{"outcome", "failed"}}), 0);
  EXPECT_EQ(owner.Value("xapi_gitdb_forwarded_writes_total", {{"outcome", "made"}}), 1);
  EXPECT_EQ(sender.Value("xapi_gitdb_quarantined_heads"), 0);
}

}  // namespace
}  // namespace xgdb::test
