// xgdb-event-bench: Event_from measured end to end (docs/events.md,
// "Measurements").
//
//   xgdb-event-bench [--pool 100000] [--changes 1,100,10000] [--waiters 1,500]
//                    [--rounds 30] [--runs 3] [--dir /tmp]
//
// latency  A store with a few VMs behind the real HTTP server on a unix
//          socket; W clients wait in Event_from; one WriteField + Commit();
//          the time from Commit() returning to each client having read its
//          answer, over `--rounds` rounds: p50 / p99 per W.
// cost     A pool of `--pool` VM rows committed once; then k objects are
//          changed and committed, and one Event_from("*", token before the
//          change, timeout 0) is timed (median of `--runs`), next to the
//          git part alone (DiffCommits) and, as the reference in the same
//          run, libgit2's own tree-to-tree diff of the same two commits.
#include <git2.h>
#include <poll.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "bench_util.h"
#include "event/event_calls.h"
#include "event/event_diff.h"
#include "event/event_hub.h"
#include "rpc/extension.h"
#include "server/client.h"
#include "server/http_server.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace {

using namespace xgdb;
namespace fs = std::filesystem;
using bench::Clock;
using bench::Percentile;
using bench::VmRef;
using nlohmann::json;

double Ms(Clock::time_point a, Clock::time_point b) { return bench::Ms(b - a); }

std::shared_ptr<const Schema> BenchSchema() {
  return Schema::FromJson(R"JSON({
  "schema_major_vsn": 5, "schema_minor_vsn": 1,
  "tables": [
    {"name": "VM", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name__label", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "power_state", "type": "string", "persistent": true, "empty": "", "default": "Halted"},
      {"name": "other_config", "type": "map", "persistent": true, "empty": "()", "default": "()"},
      {"name": "current_operations", "type": "map", "persistent": false, "empty": "()", "default": "()"}]}
  ],
  "one_to_many": [], "many_to_many": []
})JSON");
}

std::unique_ptr<Store> NewStore(const std::string& path, int rows) {
  fs::remove_all(path);
  StoreOptions o;
  o.path = path;
  o.fsync = false;
  auto store = Store::Create(o, BenchSchema());
  for (int i = 0; i < rows; ++i) {
    store->db().CreateRow("VM",
                          {{"uuid", "uuid-" + std::to_string(i)},
                           {"name__label", "vm " + std::to_string(i)},
                           {"other_config", "(('k' 'v'))"}},
                          VmRef(i));
  }
  store->Commit("pool");
  return store;
}

std::string FromBody(const std::string& token, double timeout) {
  return json::array({"Event_from", {{"classes", {"*"}}, {"token", token}, {"timeout", timeout}}})
      .dump();
}

void Latency(const std::string& dir, int waiters, int rounds) {
  auto store = NewStore(dir + "/latency", 10);
  event::EventHub hub(*store);
  rpc::ExtensionRegistry registry;
  event::RegisterEventCalls(registry, hub);
  hub.Start();
  server::ServerOptions so;
  so.unix_socket = dir + "/latency.sock";
  server::HttpServer srv(so, [&](server::Request r, server::Responder respond) {
    registry.Handle(r.body, rpc::CallContext{r.task}, std::move(respond));
  });
  srv.Start();

  std::vector<server::Connection> clients;
  std::vector<std::string> tokens(waiters);
  for (int i = 0; i < waiters; ++i) {
    clients.push_back(server::Connection::Unix(so.unix_socket, 60000));
    tokens[i] = json::parse(clients[i].Call("/xapi_gitdb", FromBody("", 0)).body)[1]["token"];
  }
  std::vector<double> samples;
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < waiters; ++i) {
      clients[i].Send(server::XapiRequest("/xapi_gitdb", FromBody(tokens[i], 60)));
    }
    while (hub.waiting() < static_cast<size_t>(waiters)) usleep(200);
    store->db().WriteField("VM", VmRef(round % 10), "name__label", "round " + std::to_string(round));
    store->Commit();
    Clock::time_point committed = Clock::now();
    std::vector<pollfd> fds(waiters);
    for (int i = 0; i < waiters; ++i) fds[i] = {clients[i].fd(), POLLIN, 0};
    int left = waiters;
    while (left > 0) {
      if (poll(fds.data(), fds.size(), 10000) <= 0) throw Error(ErrorKind::kIo, "no answer in 10 s");
      for (int i = 0; i < waiters; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
        server::Answer a = clients[i].ReadAnswer();
        samples.push_back(Ms(committed, Clock::now()));
        json r = json::parse(a.body)[1];
        if (r["events"].empty()) throw Error(ErrorKind::kIo, "empty answer: " + a.body);
        tokens[i] = r["token"];
        fds[i].fd = -1;
        --left;
      }
    }
  }
  std::printf("latency  waiters=%-4d rounds=%-3d commit->client p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
              waiters, rounds, Percentile(samples, 0.5), Percentile(samples, 0.99),
              Percentile(samples, 1.0));
  hub.Stop();
}

// libgit2's git_diff_tree_to_tree over the whole tree, counting deltas.
double Libgit2DiffMs(const std::string& path, const std::string& a, const std::string& b,
                     size_t* deltas) {
  git_repository* repo = nullptr;
  git_repository_open_bare(&repo, path.c_str());
  auto tree_of = [&](const std::string& hex) {
    git_oid id;
    git_oid_fromstr(&id, hex.c_str());
    git_commit* c = nullptr;
    git_commit_lookup(&c, repo, &id);
    git_tree* t = nullptr;
    git_commit_tree(&t, c);
    git_commit_free(c);
    return t;
  };
  git_tree* ta = tree_of(a);
  git_tree* tb = tree_of(b);
  Clock::time_point t0 = Clock::now();
  git_diff* diff = nullptr;
  git_diff_tree_to_tree(&diff, repo, ta, tb, nullptr);
  *deltas = git_diff_num_deltas(diff);
  double ms = Ms(t0, Clock::now());
  git_diff_free(diff);
  git_tree_free(ta);
  git_tree_free(tb);
  git_repository_free(repo);
  return ms;
}

void Cost(const std::string& dir, int pool, const std::vector<int>& changes, int runs) {
  Clock::time_point t0 = Clock::now();
  auto store = NewStore(dir + "/cost", pool);
  std::printf("cost     pool of %d VM rows committed in %.1f s\n", pool, Ms(t0, Clock::now()) / 1000);
  event::EventHub hub(*store);
  event::CommitReader reader(store->path());
  int serial = 0;
  for (int k : changes) {
    std::vector<double> call_ms, diff_ms, git_ms, refresh_ms;
    size_t events = 0, deltas = 0;
    for (int run = 0; run < runs; ++run) {
      std::string before_commit = store->Head();
      std::string token;
      hub.From({"*"}, "", 0, [](rpc::RpcResult) {});  // warm
      {
        json r;
        hub.From({"VM/" + VmRef(0)}, "", 0, [&](rpc::RpcResult res) { r = json::parse(res.body)[1]; });
        token = r["token"];
      }
      for (int i = 0; i < k; ++i) {
        int row = (serial * 7919 + i) % pool;
        store->db().WriteField("VM", VmRef(row), "name__label", "changed " + std::to_string(serial));
      }
      ++serial;
      std::string after_commit = store->Commit();
      Clock::time_point r0 = Clock::now();
      hub.source().Refresh();  // the stream's catch-up, timed on its own
      refresh_ms.push_back(Ms(r0, Clock::now()));
      Clock::time_point c0 = Clock::now();
      json r;
      hub.From({"*"}, token, 0, [&](rpc::RpcResult res) { r = json::parse(res.body)[1]; });
      call_ms.push_back(Ms(c0, Clock::now()));
      events = r["events"].size();
      Clock::time_point d0 = Clock::now();
      event::DiffCommits(*store, reader, store->db().schema(), before_commit, after_commit);
      diff_ms.push_back(Ms(d0, Clock::now()));
      git_ms.push_back(Libgit2DiffMs(store->path(), before_commit, after_commit, &deltas));
    }
    std::printf("cost     changed=%-6d events=%-6zu stream catch-up %.2f ms   Event_from %.2f ms   "
                "(git part again, warm: %.2f ms)   libgit2 tree-to-tree diff %.2f ms (%zu deltas)\n",
                k, events, Percentile(refresh_ms, 0.5), Percentile(call_ms, 0.5),
                Percentile(diff_ms, 0.5), Percentile(git_ms, 0.5), deltas);
  }
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xgdb-event-bench: Event_from latency and cost"};
  int pool = 100000, rounds = 30, runs = 3;
  std::string changes = "1,100,10000", waiters = "1,500", dir = "/tmp";
  app.add_option("--pool", pool, "rows in the pool for the cost runs");
  app.add_option("--changes", changes, "changed objects per cost run (comma-separated)");
  app.add_option("--waiters", waiters, "waiting clients per latency run (comma-separated)");
  app.add_option("--rounds", rounds, "commits per latency run");
  app.add_option("--runs", runs, "repetitions per cost point (median)");
  app.add_option("--dir", dir, "scratch directory");
  CLI11_PARSE(app, argc, argv);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  spdlog::set_level(spdlog::level::warn);
  git_libgit2_init();
  std::string scratch = dir + "/xgdb-event-bench-" + std::to_string(getpid());
  fs::create_directories(scratch);
  try {
    for (int w : ParseList(waiters)) Latency(scratch, w, rounds);
    if (pool > 0) Cost(scratch, pool, ParseList(changes), runs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xgdb-event-bench: %s\n", e.what());
    fs::remove_all(scratch);
    return 1;
  }
  fs::remove_all(scratch);
  git_libgit2_shutdown();
  return 0;
}
