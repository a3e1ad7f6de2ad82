// The replicator with real daemons: `xapi-gitdb sim` starts N of them on
// loopback, each with its own repository; writes go through xapi's protocol
// on each host's socket, and the tests check what a user of each host would
// see (the value, master's id, plain git), while daemons are killed,
// stopped and restarted.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "server/client.h"
#include "server/http_server.h"
#include "support/daemon.h"
#include "support/sim_pool.h"
#include "xgdb/error.h"

namespace xgdb::test {
namespace {

class ReplicatorTest : public ::testing::Test {
 protected:
  std::string PoolRef(const SimPool& pool) { return pool.Call(0, {"Read_refs", "pool"})[1][0]; }
  std::vector<std::string> Refs(const SimPool& pool, const std::string& table) {
    return pool.Call(0, {"Read_refs", table})[1].get<std::vector<std::string>>();
  }
  // Every host in `hosts` reads `value`.
  bool AllRead(const SimPool& pool, const std::vector<size_t>& hosts, const std::string& table,
               const std::string& field, const std::string& ref, const std::string& value) {
    for (size_t i : hosts) {
      if (pool.ReadField(i, table, field, ref) != value) return false;
    }
    return true;
  }
  std::vector<size_t> All(const SimPool& pool) {
    std::vector<size_t> v;
    for (size_t i = 0; i < pool.size(); ++i) v.push_back(i);
    return v;
  }

  TempDir dir_;
};

TEST_F(ReplicatorTest, WriteOnAnyHostIsReadOnEveryHost) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  std::string ref = PoolRef(pool);
  for (size_t i = 0; i < pool.size(); ++i) {
    std::string value = "written on host " + std::to_string(i);
    pool.WriteField(i, "pool", ref, "name_description", value);
    EXPECT_TRUE(Eventually([&] { return AllRead(pool, All(pool), "pool", "name_description", ref,
                                                 value); }))
        << value;
  }
  EXPECT_TRUE(Eventually([&] { return pool.Converged(); }));
  // Plain git on any host shows who changed what.
  CommandResult log = test::Run("git -C " + ShellQuote(pool.host(2).repo) +
                          " log --format=%B master -- | grep '^Host: '");
  for (size_t i = 0; i < pool.size(); ++i) {
    EXPECT_NE(log.output.find("Host: " + pool.host(i).uuid), std::string::npos) << log.output;
  }
}

// Every answer carries the peer's wall clock: `peers` shows each peer's
// skew against ours, and `doctor` checks the largest.
TEST_F(ReplicatorTest, PeersReportTheirClocksAndDoctorComparesThem) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  auto measured = [&] {
    nlohmann::json peers = pool.Ours(0, {"Peer_list", nlohmann::json::object()})[1]["peers"];
    for (const auto& p : peers) {
      if (p["clock_skew_ms"].is_null()) return false;
    }
    return peers.size() == 2;
  };
  ASSERT_TRUE(Eventually(measured));
  nlohmann::json peers = pool.Ours(0, {"Peer_list", nlohmann::json::object()})[1]["peers"];
  for (const auto& p : peers) {
    // One machine, one clock: what is left is the measurement's error.
    EXPECT_LT(std::llabs(p["clock_skew_ms"].get<int64_t>()), 1000) << p.dump();
  }
  CommandResult doctor = RunCli(pool.host(0).repo, "doctor --json");
  nlohmann::json checks = nlohmann::json::parse(doctor.output)["checks"];
  bool found = false;
  for (const auto& c : checks) {
    if (c["check"] != "clock") continue;
    found = true;
    EXPECT_TRUE(c["ok"].get<bool>()) << c.dump();
    EXPECT_EQ(c["detail"].get<std::string>().rfind("2 peers measured", 0), 0u) << c.dump();
  }
  EXPECT_TRUE(found) << doctor.output;
}

TEST_F(ReplicatorTest, ChangesFromPeersAreEventsLikeLocalOnes) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  std::string ref = PoolRef(pool);
  auto event_from = [&](size_t host, const std::string& token, double timeout) {
    nlohmann::json call = {"Event_from", {{"classes", {"pool"}}, {"token", token},
                                          {"timeout", timeout}}};
    server::Answer a = server::Connection::Unix(pool.host(host).socket, 30000)
                           .Call("/xapi_gitdb", call.dump(), "", false);
    return nlohmann::json::parse(a.body)[1];
  };
  std::string token = event_from(2, "", 0)["token"];
  pool.WriteField(0, "pool", ref, "name_description", "an event on another host");
  nlohmann::json got;
  ASSERT_TRUE(Eventually([&] {  // a long poll answers once the change arrives
    got = event_from(2, token, 5);
    return !got["events"].empty();
  }));
  ASSERT_EQ(got["events"].size(), 1u) << got.dump();
  EXPECT_EQ(got["events"][0]["operation"], "mod");
  EXPECT_EQ(got["events"][0]["ref"], ref);
  EXPECT_EQ(got["events"][0]["snapshot"]["name_description"], "an event on another host");
}

TEST_F(ReplicatorTest, ConcurrentWritesToOneFieldResolveTheSameWayEverywhere) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  std::string ref = PoolRef(pool);
  std::string listed;
  for (int round = 0; round < 10 && listed.find("kept") == std::string::npos; ++round) {
    // Settled: every host reads the same one of this round's values.
    ASSERT_NE(pool.WriteAtOnceAndSettle("pool", ref, "name_label", "round " + std::to_string(round)),
              "");
    listed = RunCli(pool.host(0).repo, "conflicts").output;
  }
  ASSERT_NE(listed.find("pool " + ref + " name_label kept"), std::string::npos) << listed;
  std::string value = pool.ReadField(0, "pool", "name_label", ref);
  EXPECT_TRUE(AllRead(pool, All(pool), "pool", "name_label", ref, value));
  // The same decisions are listed on every host (they are in the shared
  // history), and the value kept is the one the last decision names.
  for (size_t i = 1; i < pool.size(); ++i) {
    EXPECT_EQ(RunCli(pool.host(i).repo, "conflicts").output, listed);
  }
  nlohmann::json decisions = nlohmann::json::parse(RunCli(pool.host(1).repo, "--json conflicts").output);
  ASSERT_FALSE(decisions.empty());
  EXPECT_NE(decisions[0]["decision"].get<std::string>().find("kept '"), std::string::npos);
}

TEST_F(ReplicatorTest, EveryHostWritingItsOwnVmsAtOnceAllArrive) {
  SimPool pool(dir_.path(), 8);
  ASSERT_TRUE(pool.ok());
  std::vector<std::string> vms = Refs(pool, "VM");
  std::vector<std::thread> writers;
  for (size_t i = 0; i < pool.size(); ++i) {
    writers.emplace_back([&, i] {
      for (const std::string& vm : vms) {
        if (pool.ReadField(i, "VM", "resident_on", vm) != pool.host(i).ref) continue;
        pool.WriteField(i, "VM", vm, "name__description", "kept by " + pool.host(i).uuid);
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_TRUE(Eventually([&] { return pool.Converged(); }, 30));
  size_t written = 0;
  for (const std::string& vm : vms) {
    std::string owner = pool.ReadField(0, "VM", "resident_on", vm);
    for (size_t i = 0; i < pool.size(); ++i) {
      if (pool.host(i).ref != owner) continue;
      ++written;
      EXPECT_TRUE(AllRead(pool, All(pool), "VM", "name__description", vm,
                          "kept by " + pool.host(i).uuid))
          << vm;
    }
  }
  EXPECT_GE(written, pool.size());  // at least one VM resident on each host
}

TEST_F(ReplicatorTest, SixteenHostsAWriteOnAnyHostIsReadOnEvery) {
  SimPool pool(dir_.path(), 16);
  ASSERT_TRUE(pool.ok());
  std::string ref = PoolRef(pool);
  for (size_t i : {size_t{0}, size_t{9}, size_t{15}}) {
    std::string value = "from host " + std::to_string(i);
    pool.WriteField(i, "pool", ref, "name_description", value);
    EXPECT_TRUE(Eventually(
        [&] { return AllRead(pool, All(pool), "pool", "name_description", ref, value); }, 30))
        << value;
  }
  EXPECT_TRUE(Eventually([&] { return pool.Converged(); }, 30));
}

TEST_F(ReplicatorTest, PoolMasterKilledTheRestKeepWritingAndItCatchesUpOnRestart) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  size_t master = 0;
  for (size_t i = 0; i < pool.size(); ++i) {
    if (pool.host(i).master) master = i;
  }
  std::vector<size_t> rest;
  for (size_t i = 0; i < pool.size(); ++i) {
    if (i != master) rest.push_back(i);
  }
  std::string ref = PoolRef(pool);
  pool.Kill(master);
  for (size_t i : rest) {
    std::string value = "after the master died, from " + std::to_string(i);
    pool.WriteField(i, "pool", ref, "name_description", value);
    EXPECT_TRUE(Eventually([&] { return AllRead(pool, rest, "pool", "name_description", ref,
                                                 value); }))
        << value;
  }
  EXPECT_TRUE(Eventually([&] { return pool.Converged(rest); }));
  pool.Restart(master);
  EXPECT_TRUE(Eventually([&] { return pool.Converged(); }, 20));
  EXPECT_EQ(pool.ReadField(master, "pool", "name_description", ref),
            pool.ReadField(rest.back(), "pool", "name_description", ref));
}

TEST_F(ReplicatorTest, StoppedHostLosesNoWriteAndEveryRepositoryStaysClean) {
  SimPool pool(dir_.path(), 4, {"--fanout", "2"});
  ASSERT_TRUE(pool.ok());
  // Each host writes a VM it owns (a write to another's would wait for it).
  std::vector<std::string> vms;
  for (size_t i = 0; i < pool.size(); ++i) vms.push_back(pool.OwnedVm(i));
  for (const std::string& vm : vms) ASSERT_FALSE(vm.empty());
  // `peers` on host 0: what it knows of host `of`.
  auto peer_view = [&](size_t of) {
    nlohmann::json all = nlohmann::json::parse(RunCli(pool.host(0).repo, "--json peers").output);
    for (const auto& p : all["peers"]) {
      if (p["uuid"] == pool.host(of).uuid) return p;
    }
    return nlohmann::json();
  };
  // Every host has met every other, and host 0 has seen host 1 in sync (so
  // that its lag is timed from then).
  ASSERT_TRUE(Eventually([&] {
    nlohmann::json one = peer_view(1);
    return pool.Converged() && one.is_object() && one["in_sync"] == true;
  }));
  // Host 1 writes and is frozen at once (its write may not even be
  // committed yet); the others keep writing meanwhile.
  pool.WriteField(1, "VM", vms[1], "name__description", "written just before SIGSTOP");
  pool.Signal(1, SIGSTOP);
  std::vector<size_t> others = {0, 2, 3};
  for (size_t i : others) {
    pool.WriteField(i, "VM", vms[i], "name__description", "written during the stop");
  }
  // Converged() alone could hold before the writes are even committed.
  ASSERT_TRUE(Eventually([&] {
    for (size_t i : others) {
      if (!AllRead(pool, others, "VM", "name__description", vms[i], "written during the stop")) {
        return false;
      }
    }
    return pool.Converged(others);
  }, 20));
  // `peers` on host 0 shows host 1 lagging: our commits it lacks, since when.
  nlohmann::json stopped = peer_view(1);
  EXPECT_FALSE(stopped["in_sync"].get<bool>()) << stopped.dump();
  ASSERT_TRUE(stopped["lag_commits"].is_number()) << stopped.dump();
  EXPECT_GE(stopped["lag_commits"].get<int>(), 1) << stopped.dump();
  ASSERT_TRUE(stopped["lag_ms"].is_number()) << stopped.dump();
  EXPECT_GE(stopped["lag_ms"].get<int>(), 0) << stopped.dump();
  pool.Signal(1, SIGCONT);
  ASSERT_TRUE(Eventually([&] { return pool.Converged(); }, 20));
  EXPECT_TRUE(Eventually([&] {
    nlohmann::json p = peer_view(1);
    return p["in_sync"].get<bool>() && p["lag_ms"] == 0 && p["state"] == "up";
  })) << peer_view(1).dump();
  EXPECT_TRUE(AllRead(pool, All(pool), "VM", "name__description", vms[1],
                      "written just before SIGSTOP"));
  for (size_t i : others) {
    EXPECT_TRUE(AllRead(pool, All(pool), "VM", "name__description", vms[i],
                        "written during the stop"));
  }
  for (size_t i = 0; i < pool.size(); ++i) {
    CommandResult fsck = test::Run("git -C " + ShellQuote(pool.host(i).repo) + " fsck --strict 2>&1");
    EXPECT_EQ(fsck.exit_code, 0) << fsck.output;
  }
}

// A peer call the way another daemon sends it, with `secret`.
server::Answer PeerCall(const SimHost& host, const std::string& body, const std::string& secret) {
  size_t colon = host.peer.rfind(':');
  uint16_t port = static_cast<uint16_t>(std::stoi(host.peer.substr(colon + 1)));
  return server::Connection::Tcp("127.0.0.1", port).Call("/xapi_gitdb/peer", body, secret, false);
}

TEST_F(ReplicatorTest, WrongOrMissingSecretIsRefused) {
  SimPool pool(dir_.path(), 2);
  ASSERT_TRUE(pool.ok());
  std::string body = R"({"call":"fetch","from":"intruder","heads":{}})" "\n";
  EXPECT_EQ(PeerCall(pool.host(0), body, "").status, 401);
  EXPECT_EQ(PeerCall(pool.host(0), body, "not the pool secret").status, 403);
  std::string secret = ReadFile(dir_ / "pool/pool-secret");
  secret.pop_back();  // the newline
  EXPECT_EQ(PeerCall(pool.host(0), body, secret).status, 200);
}

TEST_F(ReplicatorTest, CorruptPackOrMissingHeadIsRefusedWithNothingApplied) {
  SimPool pool(dir_.path(), 2);
  ASSERT_TRUE(pool.ok());
  std::string secret = ReadFile(dir_ / "pool/pool-secret");
  secret.pop_back();
  ASSERT_TRUE(Eventually([&] { return pool.Converged(); }));
  std::string master = pool.Master(0);
  std::string packs_before = test::Run("ls " + ShellQuote(pool.host(0).repo) + "/objects/pack").output;
  std::string head = std::string(40, 'a');
  std::string header = R"({"call":"push","from":")" + pool.host(1).uuid + R"(","heads":{")" +
                       pool.host(1).uuid + R"(":")" + head + "\"}}\n";
  // Not a pack at all; then a pack header and a broken object (its checksum
  // fails first).
  for (const std::string& pack :
       {std::string("garbage"), std::string("PACK\0\0\0\2\0\0\0\1\x35\x78\x9c", 15) + "broken"}) {
    server::Answer a = PeerCall(pool.host(0), header + pack, secret);
    ASSERT_EQ(a.status, 200);
    EXPECT_NE(a.body.find("refused a pack"), std::string::npos) << a.body;
  }
  // No pack, and a head the host does not have: not adopted.
  server::Answer a = PeerCall(pool.host(0), header, secret);
  EXPECT_EQ(a.body.find("error"), std::string::npos) << a.body;
  EXPECT_EQ(pool.Master(0), master);
  EXPECT_EQ(test::Run("ls " + ShellQuote(pool.host(0).repo) + "/objects/pack").output, packs_before);
  EXPECT_EQ(test::Run("git -C " + ShellQuote(pool.host(0).repo) + " rev-parse refs/hosts/" +
                pool.host(1).uuid)
                .output.substr(0, 40),
            test::Run("git -C " + ShellQuote(pool.host(1).repo) + " rev-parse refs/hosts/" +
                pool.host(1).uuid)
                .output.substr(0, 40));
  // Still serving and replicating.
  std::string ref = PoolRef(pool);
  pool.WriteField(1, "pool", ref, "name_description", "after the bad packs");
  EXPECT_TRUE(Eventually([&] {
    return pool.ReadField(0, "pool", "name_description", ref) == "after the bad packs";
  }));
}

}  // namespace
}  // namespace xgdb::test

namespace xgdb::test {
namespace {

// With `sim --tls` (a certificate per host, all of them the pool's bundle)
// replication, forwarded writes and lock calls go over TLS; a server at a
// peer's address whose certificate is not in the bundle is sent nothing.
TEST_F(ReplicatorTest, OverTlsNothingIsSentToACertificateOutsideThePoolsBundle) {
  SimPool pool(dir_.path(), 3, {"--tls"});
  ASSERT_TRUE(pool.ok());
  std::string ref = PoolRef(pool);
  pool.WriteField(0, "pool", ref, "name_description", "over tls");
  EXPECT_TRUE(Eventually(
      [&] { return AllRead(pool, All(pool), "pool", "name_description", ref, "over tls"); }));
  // Host 1's VM written through host 2: forwarded to host 1, over TLS.
  std::string vm = pool.OwnedVm(1);
  ASSERT_FALSE(vm.empty());
  pool.WriteField(2, "VM", vm, "name__description", "forwarded over tls");
  EXPECT_EQ(pool.ReadField(2, "VM", "name__description", vm), "forwarded over tls");
  // Every host grants a lock: those that do not lead ask the leader over TLS.
  for (size_t i = 0; i < pool.size(); ++i) {
    nlohmann::json got =
        pool.Ours(i, {"Lock_acquire", {{"name", "tls:" + std::to_string(i)}, {"wait", 10}}});
    EXPECT_EQ(got.at(0), "Lock_acquire") << "host " << i << ": " << got.dump();
  }

  // Host 1 is gone and something else answers at its address, with a
  // certificate of its own.
  pool.Kill(1);
  CommandResult made = MakeCertificate("impostor", dir_ / "impostor.pem", dir_ / "impostor.key");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  server::ServerOptions o;
  o.tcp = true;
  o.tcp_port = static_cast<uint16_t>(std::stoi(pool.host(1).peer.substr(pool.host(1).peer.rfind(':') + 1)));
  o.secret_files = {dir_ / "pool/pool-secret"};
  o.tls_cert_file = dir_ / "impostor.pem";
  o.tls_key_file = dir_ / "impostor.key";
  std::atomic<int> received{0};
  std::unique_ptr<server::HttpServer> impostor;
  // The dead daemon's port is free once its last thread is gone.
  ASSERT_TRUE(Eventually([&] {
    impostor = std::make_unique<server::HttpServer>(
        o, [&](server::Request, server::Responder respond) {
          ++received;
          respond(rpc::RpcResult{200, "", ""});
        });
    try {
      impostor->Start();
      return true;
    } catch (const Error&) {
      return false;
    }
  }));
  pool.WriteField(0, "pool", ref, "name_description", "not for impostors");
  // Host 0 tries host 1's address, refuses the certificate and says so.
  const std::string log = dir_ / "pool/host0/daemon.log";
  EXPECT_TRUE(Eventually([&] {
    std::string text = ReadFile(log);
    return text.find("peer " + pool.host(1).uuid) != std::string::npos &&
           text.find("not trusted") != std::string::npos;
  }, 30)) << ReadFile(log);
  EXPECT_EQ(received.load(), 0);
  impostor->Stop();

  // The real host 1 comes back and catches up.
  pool.Restart(1);
  EXPECT_TRUE(Eventually([&] {
    return pool.ReadField(1, "pool", "name_description", ref) == "not for impostors" &&
           pool.Converged();
  }, 30));
}

}  // namespace
}  // namespace xgdb::test
