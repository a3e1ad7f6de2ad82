// The lock service with real daemons: `xapi-gitdb sim` starts N of them on
// loopback, each with its repository and its consensus log; clients call
// each host's socket as SM would, while daemons are killed, stopped and
// restarted. What is checked is what a lock user relies on: never two
// holders, tokens that grow, locks that outlive neither their holder's
// daemon nor a leader's death, and a table that survives restarts.
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "lock/consensus.h"
#include "lock/lock_table.h"
#include "server/client.h"
#include "support/daemon.h"
#include "support/sim_pool.h"

namespace xgdb::test {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

json Acquire(const SimPool& pool, size_t i, const std::string& name, json extra = json::object()) {
  extra["name"] = name;
  return pool.Ours(i, {"Lock_acquire", extra});
}
bool Granted(const json& answer) { return answer.is_array() && answer[0] == "Lock_acquire"; }
std::string FailureKind(const json& answer) {
  return answer.is_array() && answer[0] == "Failure" ? answer[1].value("kind", "") : "";
}
json Locks(const SimPool& pool, size_t i) {
  json a = pool.Ours(i, {"Lock_list", json::object()});
  return a.is_array() && a[0] == "Lock_list" ? a[1] : json();
}
// The host whose daemon leads the lock service (waits for an election).
size_t Leader(const SimPool& pool, const std::vector<size_t>& live) {
  size_t leader = pool.size();
  Eventually([&] {
    for (size_t i : live) {
      json s = pool.Ours(i, {"Lock_status", json::object()}, 2000);
      if (s.is_array() && s[0] == "Lock_status" && s[1]["role"] == "leader") {
        leader = i;
        return true;
      }
    }
    return false;
  });
  return leader;
}
std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
std::string HostDir(const SimHost& h) { return h.repo.substr(0, h.repo.rfind('/')); }
// A host's consensus port: its daemon's TCP port plus one (sim's offset).
int ConsensusPort(const SimHost& h) { return std::stoi(h.peer.substr(h.peer.rfind(':') + 1)) + 1; }
// A pool of four hosts' roles in the lock service: the leader, the
// stand-by, a voter that neither leads nor is the pool master (`leaving`),
// and the other voter.
struct Roles {
  bool found = false;
  size_t leader = 0, standby = 0, leaving = 0, other = 0;
};
Roles RolesOf(const SimPool& pool) {
  Roles r;
  r.leader = Leader(pool, {0, 1, 2, 3});
  if (r.leader >= pool.size()) return r;
  std::vector<std::string> voters = pool.Ours(r.leader, {"Lock_status", json::object()})[1]["voters"];
  const size_t none = pool.size();
  r.standby = r.leaving = r.other = none;
  for (size_t i = 0; i < pool.size(); ++i) {
    if (std::find(voters.begin(), voters.end(), pool.host(i).uuid) == voters.end()) {
      r.standby = i;
    } else if (i != r.leader && !pool.host(i).master && r.leaving == none) {
      r.leaving = i;
    } else if (i != r.leader) {
      r.other = i;
    }
  }
  r.found = voters.size() == 3 && r.standby != none && r.leaving != none && r.other != none;
  return r;
}
// Whether host `standby` now votes, one of three voters without `leaving`.
bool VotesInPlaceOf(const SimPool& pool, size_t standby, size_t leaving) {
  json s = pool.Ours(standby, {"Lock_status", json::object()}, 2000);
  if (!s.is_array() || s[1].value("role", "") == "stand-by") return false;
  std::vector<std::string> now = s[1]["voters"];
  return now.size() == 3 && std::find(now.begin(), now.end(), pool.host(leaving).uuid) == now.end();
}

class LockServiceTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(LockServiceTest, OneHolderAtATimeFromAnyHost) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  json a = Acquire(pool, 0, "VDI:1");
  ASSERT_TRUE(Granted(a)) << a;
  EXPECT_EQ(a[1]["holder"], pool.host(0).ref);
  EXPECT_EQ(a[1]["ttl"], 15.0);
  uint64_t token = a[1]["token"];
  EXPECT_EQ(FailureKind(Acquire(pool, 1, "VDI:1")), "busy");
  EXPECT_EQ(FailureKind(Acquire(pool, 2, "VDI:1", {{"wait", 0.2}})), "busy");
  // A retry by the same holder (its reply was lost) answers the same grant.
  EXPECT_EQ(Acquire(pool, 0, "VDI:1")[1]["token"], token);
  json list = Locks(pool, 2);
  ASSERT_EQ(list["locks"].size(), 1u) << list;
  EXPECT_EQ(list["locks"][0]["holder"], pool.host(0).ref);
  EXPECT_EQ(list["locks"][0]["token"], token);

  json released = pool.Ours(0, {"Lock_release", {{"name", "VDI:1"}, {"token", token}}});
  EXPECT_EQ(released, (json{"Lock_release", {{"released", true}}}));
  json b = Acquire(pool, 1, "VDI:1");
  ASSERT_TRUE(Granted(b)) << b;
  EXPECT_GT(b[1]["token"].get<uint64_t>(), token);
  EXPECT_EQ(FailureKind(pool.Ours(0, {"Lock_renew", {{"name", "VDI:1"}, {"token", token}}})),
            "busy");
  EXPECT_EQ(pool.Ours(1, {"Lock_renew", {{"name", "VDI:1"}, {"token", b[1]["token"]}}}),
            (json{"Lock_renew", {{"renewed", true}}}));

  // SM's add-if-absent: exactly one host wins; everyone reads the winner.
  json first = pool.Ours(1, {"Lock_cas", {{"key", "activating"}, {"expect", nullptr}, {"value", "h1"}}});
  json second = pool.Ours(2, {"Lock_cas", {{"key", "activating"}, {"expect", nullptr}, {"value", "h2"}}});
  EXPECT_EQ(first, (json{"Lock_cas", {{"ok", true}, {"value", "h1"}}}));
  EXPECT_EQ(second, (json{"Lock_cas", {{"ok", false}, {"value", "h1"}}}));
  EXPECT_EQ(pool.Ours(0, {"Lock_get", {{"key", "activating"}}}), (json{"Lock_get", {{"value", "h1"}}}));
  // Bad arguments get the protocol's error and the daemon keeps serving.
  EXPECT_EQ(FailureKind(pool.Ours(0, {"Lock_acquire", {{"name", ""}}})), "invalid argument");
  EXPECT_EQ(FailureKind(pool.Ours(0, {"Lock_acquire", {{"name", "x"}, {"mode", "both"}}})),
            "invalid argument");
  EXPECT_EQ(FailureKind(pool.Ours(0, {"Lock_release", {{"name", "x"}}})), "invalid argument");
  EXPECT_TRUE(Granted(Acquire(pool, 0, "VDI:2")));
}

// What an SM script does: take a lock, branch on the exit status, give it
// back; add-if-absent with `cas`.
TEST_F(LockServiceTest, TheCommandLineTakesAndGivesBackLocks) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  const std::string& repo0 = pool.host(0).repo;
  const std::string& repo1 = pool.host(1).repo;
  CommandResult taken = RunCli(repo0, "lock acquire VDI:abc --ttl 30");
  ASSERT_EQ(taken.exit_code, 0) << taken.output;
  std::string token = taken.output.substr(0, taken.output.find('\n'));
  CommandResult refused = RunCli(repo1, "lock acquire VDI:abc");
  EXPECT_EQ(refused.exit_code, 3) << refused.output;
  EXPECT_NE(refused.output.find("held by " + pool.host(0).ref), std::string::npos);
  CommandResult listed = RunCli(repo1, "--json lock list");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(json::parse(listed.output)["locks"][0]["token"], std::stoull(token));
  EXPECT_EQ(RunCli(repo1, "lock check VDI:abc " + token).output,
            "held (newest grant: token " + token + ")\n");
  EXPECT_EQ(RunCli(repo0, "lock release VDI:abc " + token).exit_code, 0);
  CommandResult again = RunCli(repo1, "lock acquire VDI:abc");
  EXPECT_EQ(again.exit_code, 0);
  // Fencing from a script: the released token is not held any more.
  CommandResult check = RunCli(repo0, "lock check VDI:abc " + token);
  EXPECT_EQ(check.exit_code, 3);
  EXPECT_EQ(check.output, "not held (newest grant: token " +
                              again.output.substr(0, again.output.find('\n')) + ")\n");

  EXPECT_EQ(RunCli(repo0, "lock cas VDI:abc:activating --value True").exit_code, 0);
  EXPECT_EQ(RunCli(repo1, "lock cas VDI:abc:activating --value True").exit_code, 3);
  EXPECT_EQ(RunCli(repo1, "lock cas VDI:abc:activating --expect True --delete").exit_code, 0);
  EXPECT_EQ(RunCli(repo1, "lock get VDI:abc:activating").output, "(absent)\n");
}

TEST_F(LockServiceTest, EightHostsContendingNeverHoldAtOnce) {
  SimPool pool(dir_.path(), 8);
  ASSERT_TRUE(pool.ok());
  struct Interval {
    Clock::time_point granted, released;
    uint64_t token;
  };
  std::mutex mu;
  std::vector<Interval> intervals;
  std::vector<std::string> failures;
  std::vector<std::thread> clients;
  for (size_t i = 0; i < pool.size(); ++i) {
    clients.emplace_back([&, i] {
      for (int round = 0; round < 3; ++round) {
        json a = Acquire(pool, i, "SR:shared", {{"wait", 60}});
        if (!Granted(a)) {
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back(a.dump());
          return;
        }
        Interval in{Clock::now(), {}, a[1]["token"]};
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the critical section
        in.released = Clock::now();
        {
          std::lock_guard<std::mutex> lock(mu);
          intervals.push_back(in);
        }
        pool.Ours(i, {"Lock_release", {{"name", "SR:shared"}, {"token", in.token}}});
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_TRUE(failures.empty()) << failures.front();
  ASSERT_EQ(intervals.size(), 24u);
  std::sort(intervals.begin(), intervals.end(),
            [](const Interval& a, const Interval& b) { return a.granted < b.granted; });
  for (size_t k = 1; k < intervals.size(); ++k) {
    EXPECT_LE(intervals[k - 1].released, intervals[k].granted) << "two holders at once";
    EXPECT_LT(intervals[k - 1].token, intervals[k].token) << "tokens must grow";
  }
}

TEST_F(LockServiceTest, SharedHoldersCoexistAndExcludeAnExclusiveOne) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  json a = Acquire(pool, 0, "VDI:1", {{"mode", "shared"}});
  json b = Acquire(pool, 1, "VDI:1", {{"mode", "shared"}});
  ASSERT_TRUE(Granted(a) && Granted(b)) << a << b;
  EXPECT_EQ(FailureKind(Acquire(pool, 2, "VDI:1")), "busy");
  EXPECT_EQ(Locks(pool, 2)["locks"].size(), 2u);
  pool.Ours(0, {"Lock_release", {{"name", "VDI:1"}, {"token", a[1]["token"]}}});
  EXPECT_EQ(FailureKind(Acquire(pool, 2, "VDI:1")), "busy");
  pool.Ours(1, {"Lock_release", {{"name", "VDI:1"}, {"token", b[1]["token"]}}});
  EXPECT_TRUE(Granted(Acquire(pool, 2, "VDI:1")));
}

TEST_F(LockServiceTest, ADeadHoldersLocksFreeAfterTheirTtl) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  size_t leader = Leader(pool, {0, 1, 2});
  ASSERT_LT(leader, pool.size());
  size_t holder = (leader + 1) % 3, other = (leader + 2) % 3;
  ASSERT_TRUE(Granted(Acquire(pool, holder, "VM:1", {{"ttl", 2}})));
  // While its daemon lives, the lock outlives its TTL (the daemon renews).
  EXPECT_EQ(FailureKind(Acquire(pool, other, "VM:1", {{"wait", 3}})), "busy");
  pool.Kill(holder);
  auto killed = Clock::now();
  json a = Acquire(pool, other, "VM:1", {{"wait", 30}});
  ASSERT_TRUE(Granted(a)) << a;
  // Its daemon renewed it at most TTL/3 (+ a 100 ms tick) before the kill.
  EXPECT_GE(Clock::now() - killed, std::chrono::milliseconds(1200)) << "freed before its TTL";
}

TEST_F(LockServiceTest, GrantsGoOnWhenTheLeaderDies) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  size_t leader = Leader(pool, {0, 1, 2});
  ASSERT_LT(leader, pool.size());
  std::vector<size_t> live;
  for (size_t i = 0; i < 3; ++i) {
    if (i != leader) live.push_back(i);
  }
  ASSERT_TRUE(Granted(Acquire(pool, live[0], "before", {{"ttl", 60}})));
  pool.Kill(leader);
  json a = Acquire(pool, live[1], "after", {{"wait", 10}});
  EXPECT_TRUE(Granted(a)) << a;
  EXPECT_NE(Leader(pool, live), leader);
  // What was granted before the leader died is still held.
  EXPECT_EQ(FailureKind(Acquire(pool, live[1], "before")), "busy");
}

TEST_F(LockServiceTest, AStoppedLeaderNeverGrantsWhatTheMajorityGranted) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  size_t old = Leader(pool, {0, 1, 2});
  ASSERT_LT(old, pool.size());
  size_t other = (old + 1) % 3;
  pool.Signal(old, SIGSTOP);
  json a = Acquire(pool, other, "VDI:9", {{"wait", 15}, {"ttl", 60}});
  ASSERT_TRUE(Granted(a)) << a;
  pool.Signal(old, SIGCONT);
  // The old leader believes it leads until it hears of the new term: asked
  // at once, it must still refuse.
  json b = Acquire(pool, old, "VDI:9");
  EXPECT_EQ(FailureKind(b), "busy") << b;
  json list = Locks(pool, old);
  ASSERT_EQ(list["locks"].size(), 1u) << list;
  EXPECT_EQ(list["locks"][0]["token"], a[1]["token"]);
  EXPECT_EQ(list["locks"][0]["holder"], pool.host(other).ref);
}

// Fencing with real daemons: the old holder, the lock service's leader, cut
// off (SIGSTOP) until its lease ran out and the lock went to another host,
// comes back with a task made under its old token: the commit is refused and
// its change reaches no host, while the new holder's change reaches all.
TEST_F(LockServiceTest, AStaleTokenIsRefusedAtMerge) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  const size_t old = Leader(pool, {0, 1, 2});
  ASSERT_LT(old, pool.size());
  const size_t other = (old + 1) % 3;
  const std::string pool_ref = pool.Call(0, {"Read_refs", "pool"})[1][0];
  // A guarded change: a task under (lock, token) that writes the pool's
  // description; the answer of its Task_begin.
  auto guarded = [&](size_t i, const json& grant, const std::string& value) {
    json begun = pool.Ours(i, {"Task_begin", {{"locks", {{{"name", grant[1]["name"]},
                                                          {"token", grant[1]["token"]}}}}}});
    EXPECT_EQ(begun[0], "Task_begin") << begun;
    std::string task = begun[1].value("task", "");
    json w = pool.Call(i, {"Write_field", "pool", pool_ref, "name_description", value}, task);
    EXPECT_EQ(w[0], "Write_field") << w;
    return task;
  };
  json first = Acquire(pool, old, "SR:1", {{"ttl", 2}});
  ASSERT_TRUE(Granted(first)) << first;
  std::string stale_task = guarded(old, first, "old holder");

  pool.Signal(old, SIGSTOP);
  json second = Acquire(pool, other, "SR:1", {{"wait", 20}, {"ttl", 60}});
  ASSERT_TRUE(Granted(second)) << second;
  EXPECT_GT(second[1]["token"], first[1]["token"]);
  std::string task = guarded(other, second, "new holder");
  json committed = pool.Ours(other, {"Task_commit", {{"task", task}}});
  EXPECT_EQ(committed[0], "Task_commit") << committed;
  pool.Signal(old, SIGCONT);

  json refused = pool.Ours(old, {"Task_commit", {{"task", stale_task}}});
  EXPECT_EQ(FailureKind(refused), "fenced") << refused;
  std::string message = refused[1].value("message", "");
  EXPECT_NE(message.find("token " + first[1]["token"].dump()), std::string::npos) << message;
  EXPECT_NE(message.find("newest grant: token " + second[1]["token"].dump()), std::string::npos)
      << message;
  EXPECT_TRUE(Eventually([&] {
    for (size_t i = 0; i < pool.size(); ++i) {
      if (pool.ReadField(i, "pool", "name_description", pool_ref) != "new holder") return false;
    }
    return pool.Converged();
  }));
  // Nowhere in any host's history.
  for (size_t i = 0; i < pool.size(); ++i) {
    CommandResult grep = test::Run("git -C " + ShellQuote(pool.host(i).repo) +
                             " log -p master | grep -c 'old holder'");
    EXPECT_EQ(grep.output, "0\n") << "host " << i;
  }
}

// Voters follow the host table: a voter's host row deleted (the host left
// the pool), the leader makes the stand-by a voter and drops the other, so
// that the locks then survive the death of two of the first three voters.
TEST_F(LockServiceTest, VotersFollowTheHostTable) {
  SimPool pool(dir_.path(), 4);
  ASSERT_TRUE(pool.ok());
  Roles roles = RolesOf(pool);
  ASSERT_TRUE(roles.found);
  const size_t leader = roles.leader, standby = roles.standby, leaving = roles.leaving,
               other = roles.other;
  EXPECT_EQ(pool.Ours(standby, {"Lock_status", json::object()})[1]["role"], "stand-by");

  json deleted = pool.Call(leader, {"Delete_row", "host", pool.host(leaving).ref});
  ASSERT_EQ(deleted[0], "Delete_row") << deleted;
  EXPECT_TRUE(Eventually([&] { return VotesInPlaceOf(pool, standby, leaving); }, 30));
  // The first voters but the leader gone: two of three still vote.
  pool.Kill(leaving);
  pool.Kill(other);
  json a = Acquire(pool, standby, "SR:after", {{"wait", 15}});
  EXPECT_TRUE(Granted(a)) << a;
}

// And back: the row created again, the first voters are chosen again, so
// the host that left votes again and the stand-by goes back to standing by.
TEST_F(LockServiceTest, AHostRowAddedMakesItAVoter) {
  SimPool pool(dir_.path(), 4);
  ASSERT_TRUE(pool.ok());
  size_t leader = Leader(pool, {0, 1, 2, 3});
  ASSERT_LT(leader, pool.size());
  std::vector<std::string> first = pool.Ours(leader, {"Lock_status", json::object()})[1]["voters"];
  std::sort(first.begin(), first.end());
  size_t leaving = pool.size();
  for (size_t i = 0; i < pool.size() && leaving == pool.size(); ++i) {
    bool votes = std::binary_search(first.begin(), first.end(), pool.host(i).uuid);
    if (votes && i != leader && !pool.host(i).master) leaving = i;
  }
  ASSERT_LT(leaving, pool.size());
  // The voters as the leader (whoever it is) reports them, sorted.
  auto voters = [&] {
    for (size_t i = 0; i < pool.size(); ++i) {
      json s = pool.Ours(i, {"Lock_status", json::object()}, 2000);
      if (s.is_array() && s[1].value("role", "") == "leader") {
        std::vector<std::string> v = s[1]["voters"];
        std::sort(v.begin(), v.end());
        return v;
      }
    }
    return std::vector<std::string>{};
  };
  const SimHost& h = pool.host(leaving);
  json record = pool.Call(leader, {"Read_record", "host", h.ref});
  ASSERT_EQ(record[0], "Read_record") << record.dump();
  ASSERT_EQ(pool.Call(leader, {"Delete_row", "host", h.ref})[0], "Delete_row");
  EXPECT_TRUE(Eventually([&] {
    std::vector<std::string> v = voters();
    return v.size() == 3 && !std::binary_search(v.begin(), v.end(), h.uuid);
  }, 30));
  json created = pool.Call(leader, {"Create_row", "host", record[1], h.ref});
  ASSERT_EQ(created[0], "Create_row") << created.dump();
  EXPECT_TRUE(Eventually([&] { return voters() == first; }, 30));
  EXPECT_TRUE(Granted(Acquire(pool, leaving, "SR:back", {{"wait", 10}})));
}

// The leader's own row deleted: it hands leadership over, and the new
// leader drops it from the voters.
TEST_F(LockServiceTest, ALeaderWhoseRowIsDeletedHandsOver) {
  SimPool pool(dir_.path(), 4);
  ASSERT_TRUE(pool.ok());
  size_t leader = Leader(pool, {0, 1, 2, 3});
  ASSERT_LT(leader, pool.size());
  json deleted = pool.Call(leader, {"Delete_row", "host", pool.host(leader).ref});
  ASSERT_EQ(deleted[0], "Delete_row") << deleted;
  std::vector<size_t> others;
  for (size_t i = 0; i < pool.size(); ++i) {
    if (i != leader) others.push_back(i);
  }
  EXPECT_TRUE(Eventually([&] {
    for (size_t i : others) {
      json s = pool.Ours(i, {"Lock_status", json::object()}, 2000);
      if (!s.is_array() || s[1].value("role", "") != "leader") continue;
      std::vector<std::string> now = s[1]["voters"];
      return now.size() == 3 &&
             std::find(now.begin(), now.end(), pool.host(leader).uuid) == now.end();
    }
    return false;
  }, 30));
  pool.Kill(leader);
  json a = Acquire(pool, others[0], "SR:after", {{"wait", 15}});
  EXPECT_TRUE(Granted(a)) << a;
}

TEST_F(LockServiceTest, TheTableSurvivesARestartOfEveryVoter) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  json a = Acquire(pool, 1, "SR:1", {{"ttl", 120}});
  ASSERT_TRUE(Granted(a)) << a;
  EXPECT_EQ(pool.Ours(2, {"Lock_cas", {{"key", "paused"}, {"expect", nullptr}, {"value", "True"}}}),
            (json{"Lock_cas", {{"ok", true}, {"value", "True"}}}));
  for (size_t i = 0; i < 3; ++i) pool.Kill(i);
  // At once: a restarted voter waits for its consensus port while the dead
  // process's connections linger on it.
  for (size_t i = 0; i < 3; ++i) pool.Restart(i);
  json list;
  EXPECT_TRUE(Eventually([&] { return !(list = Locks(pool, 0)).is_null(); }, 20));
  ASSERT_EQ(list["locks"].size(), 1u) << list;
  EXPECT_EQ(list["locks"][0]["token"], a[1]["token"]);
  EXPECT_EQ(list["values"], (json{{"paused", "True"}}));
  json b = Acquire(pool, 0, "SR:2");
  ASSERT_TRUE(Granted(b)) << b;
  EXPECT_GT(b[1]["token"].get<uint64_t>(), a[1]["token"].get<uint64_t>());
}

// Hosts' addresses follow the host table (serve --pool-peers): a stand-by
// moves to a new address and restarts there; when a voter's row is then
// deleted, the leader makes the stand-by a voter at its new address, so the
// service survives the death of two of the first voters.
TEST_F(LockServiceTest, AHostThatMovesIsMadeAVoterWhereItIsNow) {
  SimPool pool(dir_.path(), 4, {"--pool-peers"});
  ASSERT_TRUE(pool.ok());
  Roles roles = RolesOf(pool);
  ASSERT_TRUE(roles.found);
  const size_t leader = roles.leader, standby = roles.standby, leaving = roles.leaving,
               other = roles.other;

  // The stand-by moves to 127.0.0.20 (its row first, as a host readdressed
  // in xapi), then its daemon restarts there.
  const SimHost& moved = pool.host(standby);
  const std::string address = "127.0.0.20";
  pool.WriteField(standby, "host", moved.ref, "address", address);
  ASSERT_TRUE(Eventually([&] {
    for (size_t i = 0; i < pool.size(); ++i) {
      if (pool.ReadField(i, "host", "address", moved.ref) != address) return false;
    }
    return true;
  }));
  pool.Kill(standby);
  std::vector<std::string> rest(moved.argv.begin() + 6, moved.argv.end());
  auto tcp = std::find(rest.begin(), rest.end(), std::string("--tcp"));
  ASSERT_NE(tcp, rest.end());
  tcp[1] = address + tcp[1].substr(tcp[1].rfind(':'));
  DaemonProcess restarted(moved.repo, moved.socket, dir_ / "moved.log", rest);

  ASSERT_EQ(pool.Call(leader, {"Delete_row", "host", pool.host(leaving).ref})[0], "Delete_row");
  EXPECT_TRUE(Eventually([&] { return VotesInPlaceOf(pool, standby, leaving); }, 30));
  pool.Kill(leaving);
  pool.Kill(other);
  json a = Acquire(pool, standby, "SR:moved", {{"wait", 15}});
  EXPECT_TRUE(Granted(a)) << a;
  EXPECT_NE(ReadFile(HostDir(pool.host(leader)) + "/daemon.log")
                .find("lock service: host " + moved.uuid + " moved from"),
            std::string::npos);
}

// The leader of a three-host pool grants VDI:7, then another voter (the
// victim) is killed: an impostor may take its place.
bool LeaderGrantsAndAVoterDies(SimPool& pool, size_t* leader, size_t* victim) {
  *leader = Leader(pool, {0, 1, 2});
  if (*leader >= pool.size()) return false;
  *victim = (*leader + 1) % 3;
  json granted = Acquire(pool, *leader, "VDI:7", {{"ttl", 120}});
  if (!Granted(granted)) return false;
  pool.Kill(*victim);
  return true;
}

// What a member taking host `victim`'s place (its id and consensus port)
// among the first three voters would run, presenting `secret`.
lock::ConsensusOptions InPlaceOf(const SimPool& pool, size_t victim, const std::string& secret,
                                 const std::string& dir) {
  lock::ConsensusOptions o;
  for (size_t i = 0; i < 3; ++i) {
    o.voters.push_back({lock::MemberIdOf(pool.host(i).uuid),
                        "127.0.0.1:" + std::to_string(ConsensusPort(pool.host(i)))});
  }
  o.self = o.voters[victim];
  o.dir = dir;
  o.secrets = [secret] { return std::vector<std::string>{secret}; };
  return o;
}
// The pool secret host i's daemon was given.
std::string PoolSecret(const SimPool& pool, size_t i) {
  const auto& argv = pool.host(i).argv;
  std::string secret = ReadFile(*(std::find(argv.begin(), argv.end(), std::string("--secret-file")) + 1));
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  return secret;
}
// Whether `text` occurs at least twice in the file at `path` (a refused
// member retries each second: a second refusal means it stayed out).
bool SaidTwice(const std::string& path, const std::string& text) {
  std::string log = ReadFile(path);
  size_t first = log.find(text);
  return first != std::string::npos && log.find(text, first + 1) != std::string::npos;
}

// An impostor takes a dead voter's place (its id and port): without the
// pool secret it is refused and learns nothing; with it, it catches up.
TEST_F(LockServiceTest, AMemberWithoutTheSecretCannotJoin) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  size_t leader = pool.size(), victim = pool.size();
  ASSERT_TRUE(LeaderGrantsAndAVoterDies(pool, &leader, &victim));
  {
    lock::LockTable table;
    lock::Consensus wrong(InPlaceOf(pool, victim, "not the pool secret", dir_ / "wrong"), table);
    wrong.Start();
    // Had it been let in, the leader's heartbeats would have caught it up
    // by its second refusal.
    EXPECT_TRUE(Eventually([&] {
      return SaidTwice(HostDir(pool.host(leader)) + "/daemon.log", "does not know the pool secret");
    }));
    EXPECT_TRUE(Granted(Acquire(pool, leader, "VDI:8")));
    EXPECT_TRUE(table.Grants().empty());
    EXPECT_FALSE(wrong.IsLeader());
    wrong.Stop();
  }
  lock::LockTable table;
  lock::Consensus right(InPlaceOf(pool, victim, PoolSecret(pool, victim), dir_ / "right"), table);
  right.Start();
  EXPECT_TRUE(Eventually([&] { return table.Grants().size() == 2; }));
  right.Stop();
}

// With TLS (sim --tls) consensus runs inside TLS: a member speaking plain
// TCP, or one whose certificate is not in the pool's bundle, is sent
// nothing even with the secret; the real host's certificate catches up.
TEST_F(LockServiceTest, OverTlsAMemberOutsideThePoolsBundleIsSentNothing) {
  SimPool pool(dir_.path(), 3, {"--tls"});
  ASSERT_TRUE(pool.ok());
  size_t leader = pool.size(), victim = pool.size();
  ASSERT_TRUE(LeaderGrantsAndAVoterDies(pool, &leader, &victim));
  const std::string leader_log = HostDir(pool.host(leader)) + "/daemon.log";
  const std::string secret = PoolSecret(pool, victim);
  auto trust = server::TlsTrust::FromBundle(dir_ / "pool/pool-ca-bundle.pem");
  {
    lock::LockTable table;
    lock::Consensus plain(InPlaceOf(pool, victim, secret, dir_ / "plain"), table);
    plain.Start();
    EXPECT_TRUE(Eventually([&] { return SaidTwice(leader_log, "lock service: TLS with"); }));
    EXPECT_TRUE(Granted(Acquire(pool, leader, "VDI:8")));
    EXPECT_TRUE(table.Grants().empty());
    plain.Stop();
  }
  {
    CommandResult made = MakeCertificate("impostor", dir_ / "impostor.pem", dir_ / "impostor.key");
    ASSERT_EQ(made.exit_code, 0) << made.output;
    lock::ConsensusOptions o = InPlaceOf(pool, victim, secret, dir_ / "untrusted");
    o.tls = std::make_shared<lock::ConsensusTls>(dir_ / "impostor.pem", dir_ / "impostor.key", trust);
    lock::LockTable table;
    lock::Consensus untrusted(std::move(o), table);
    untrusted.Start();
    EXPECT_TRUE(Eventually([&] { return SaidTwice(leader_log, "certificate is not trusted"); }));
    EXPECT_TRUE(Granted(Acquire(pool, leader, "VDI:9")));
    EXPECT_TRUE(table.Grants().empty());
    untrusted.Stop();
  }
  lock::ConsensusOptions o = InPlaceOf(pool, victim, secret, dir_ / "right");
  const std::string victim_dir = HostDir(pool.host(victim));
  o.tls = std::make_shared<lock::ConsensusTls>(victim_dir + "/tls-cert.pem",
                                               victim_dir + "/tls-key.pem", trust);
  lock::LockTable table;
  lock::Consensus right(std::move(o), table);
  right.Start();
  EXPECT_TRUE(Eventually([&] { return table.Grants().size() == 3; }));
  right.Stop();
}

}  // namespace
}  // namespace xgdb::test
