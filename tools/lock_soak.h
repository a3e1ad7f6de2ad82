// xgdb-lock-bench --soak N: the lock service under N failure cycles, counting
// double grants (docs/benchmarks.md, "Locks"). Every tools/*.cc is its own
// executable, so the soak lives in this header beside the benchmark.
//
// One client per host contends for one exclusive lock through its host's
// daemon (acquire with a short TTL, hold a moment, release) while a fault
// loop, cycle after cycle, SIGKILLs and restarts or SIGSTOPs (longer than
// the TTL) and resumes the leader or another voter, then waits for a grant
// made after the fault. At the end every grant is checked against every
// other:
//   double grant   a grant B with a greater token than grant A answered
//                  before A's release was sent, that release still finding
//                  A held: B was granted while A was held (tokens are the
//                  order of grants). Also one token answered to two clients.
// A paused holder's grant that expired (its release answers "not held")
// may overlap a later grant, and the answer of a grant can reach a client
// that was paused after that grant expired and the lock went to another:
// that is the lease doing its job ("releases that found the grant
// expired"), not a double grant.
#ifndef XGDB_TOOLS_LOCK_SOAK_H_
#define XGDB_TOOLS_LOCK_SOAK_H_

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_sim.h"
#include "bench_util.h"

namespace xgdb::bench {

struct SoakGrant {
  size_t client = 0;
  uint64_t token = 0;
  Clock::time_point granted, release_sent;
  bool released = false;  // the release found the grant still held
};

struct SoakReport {
  int cycles = 0, recovered = 0;
  size_t grants = 0, expired_while_paused = 0, failed_calls = 0;  // see Soak
  size_t double_grants = 0;
  std::vector<double> recovery_s;  // fault healed -> next grant
};

// Grants that the service held at once (see the header comment).
inline size_t CountDoubleGrants(std::vector<SoakGrant> grants, bool print) {
  std::sort(grants.begin(), grants.end(),
            [](const SoakGrant& a, const SoakGrant& b) { return a.token < b.token; });
  size_t doubles = 0;
  for (size_t i = 1; i < grants.size(); ++i) {
    if (grants[i].token == grants[i - 1].token && grants[i].client != grants[i - 1].client) {
      if (print) {
        std::fprintf(stderr, "double grant: token %llu answered to clients %zu and %zu\n",
                     static_cast<unsigned long long>(grants[i].token), grants[i - 1].client,
                     grants[i].client);
      }
      ++doubles;
    }
  }
  // A later token answered before an earlier grant's release was sent, that
  // release finding the earlier grant still held: held together. The
  // earliest answer among all later tokens (a suffix minimum) says it.
  std::vector<size_t> earliest_after(grants.size() + 1, grants.size());
  for (size_t i = grants.size(); i-- > 0;) {
    size_t next = earliest_after[i + 1];
    bool earlier = next == grants.size() || grants[i].granted < grants[next].granted;
    earliest_after[i] = earlier ? i : next;
  }
  for (size_t i = 0; i < grants.size(); ++i) {
    size_t j = earliest_after[i + 1];
    if (j == grants.size() || grants[i].token == grants[j].token || !grants[i].released ||
        !(grants[j].granted < grants[i].release_sent)) {
      continue;
    }
    if (print) {
      std::fprintf(stderr,
                   "double grant: token %llu (client %zu) still held %.1f ms after token %llu "
                   "(client %zu) was granted\n",
                   static_cast<unsigned long long>(grants[i].token), grants[i].client,
                   Ms(grants[i].release_sent - grants[j].granted),
                   static_cast<unsigned long long>(grants[j].token), grants[j].client);
    }
    ++doubles;
  }
  return doubles;
}

inline SoakReport Soak(const std::string& bin, const std::string& dir, int hosts, int cycles,
                       double ttl_s) {
  Pool pool(bin, dir + "/sim", hosts, 4, hosts, true);
  std::vector<Host>& h = pool.hosts();
  const std::string log = dir + "/restarted.log";
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<SoakGrant> grants;
  std::atomic<size_t> failed{0};
  std::atomic<int64_t> last_grant_us{0};

  std::vector<std::thread> clients;
  for (size_t c = 0; c < h.size(); ++c) {
    clients.emplace_back([&, c] {
      const std::string socket = h[c].socket, owner = "soak-" + std::to_string(c);
      while (!stop) {
        try {
          nlohmann::json a = Call(socket, "/xapi_gitdb",
                                  {"Lock_acquire", {{"name", "soak"}, {"owner", owner},
                                                    {"ttl", ttl_s}, {"wait", 2}}},
                                  15000);
          if (!a.is_array() || a[0] != "Lock_acquire") continue;  // busy: try again
          SoakGrant g{c, a[1]["token"].get<uint64_t>(), Clock::now(), {}, false};
          last_grant_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              g.granted.time_since_epoch()).count();
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          g.release_sent = Clock::now();
          nlohmann::json r = Call(socket, "/xapi_gitdb",
                                  {"Lock_release", {{"name", "soak"}, {"token", g.token}}}, 15000);
          g.released = r.is_array() && r[0] == "Lock_release" && r[1].value("released", false);
          std::lock_guard<std::mutex> lock(mu);
          grants.push_back(g);
        } catch (const std::exception&) {
          ++failed;  // a daemon killed or stopped under the call
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }

  auto leader = [&]() -> size_t {
    for (int tries = 0; tries < 1500; ++tries) {
      for (size_t i = 0; i < h.size(); ++i) {
        if (!h[i].alive) continue;
        try {
          nlohmann::json s = Call(h[i].socket, "/xapi_gitdb", {"Lock_status", nlohmann::json::object()}, 2000);
          if (s.is_array() && s[1].value("role", "") == "leader") return i;
        } catch (const Error&) {
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return h.size();
  };
  SoakReport report;
  std::mt19937 rng(12345);
  const char* kinds[] = {"kill leader", "kill voter", "stop leader", "stop voter"};
  for (int cycle = 0; cycle < cycles; ++cycle) {
    size_t l = leader();
    if (l == h.size()) {
      std::fprintf(stderr, "cycle %d: no leader within 30 s\n", cycle);
      break;
    }
    int kind = cycle % 4;
    // Voters are the first three hosts in ChooseVoters' order; any host
    // other than the leader serves as "another voter" in a 3-host pool.
    size_t victim = kind % 2 == 0 ? l : (l + 1 + rng() % (h.size() - 1)) % h.size();
    if (kind < 2) {
      pool.Kill(victim);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      pool.Restart(victim, log);
    } else {
      kill(h[victim].pid, SIGSTOP);
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(ttl_s * 1000) + 500));
      kill(h[victim].pid, SIGCONT);
    }
    auto healed = Clock::now();
    int64_t healed_us =
        std::chrono::duration_cast<std::chrono::microseconds>(healed.time_since_epoch()).count();
    while (last_grant_us <= healed_us && Seconds(healed) < 30) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ++report.cycles;
    if (last_grant_us > healed_us) {
      ++report.recovered;
      report.recovery_s.push_back(Seconds(healed));
    } else {
      std::fprintf(stderr, "cycle %d (%s): no grant within 30 s\n", cycle, kinds[kind]);
    }
    if ((cycle + 1) % 10 == 0) {
      std::lock_guard<std::mutex> lock(mu);
      std::printf("  %d cycles, %zu grants, %zu double grants so far\n", cycle + 1, grants.size(),
                  CountDoubleGrants(grants, false));
      std::fflush(stdout);
    }
  }
  stop = true;
  for (Host& host : h) kill(host.pid, SIGCONT);
  for (auto& t : clients) t.join();
  report.grants = grants.size();
  report.failed_calls = failed;
  report.double_grants = CountDoubleGrants(grants, true);
  // Every grant, for a closer look at whatever the count found.
  if (FILE* out = std::fopen((dir + "/grants.csv").c_str(), "w")) {
    std::fprintf(out, "client,token,granted_us,release_sent_us,released\n");
    auto us = [](Clock::time_point t) {
      return static_cast<long long>(
          std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
    };
    for (const SoakGrant& g : grants) {
      std::fprintf(out, "%zu,%llu,%lld,%lld,%d\n", g.client,
                   static_cast<unsigned long long>(g.token), us(g.granted), us(g.release_sent),
                   g.released ? 1 : 0);
    }
    std::fclose(out);
  }
  for (const SoakGrant& g : grants) report.expired_while_paused += g.released ? 0 : 1;
  return report;
}

}  // namespace xgdb::bench

#endif  // XGDB_TOOLS_LOCK_SOAK_H_
