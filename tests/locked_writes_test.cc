// Writes made under locks, with real daemons (`xapi-gitdb sim`): a plain
// write sent with `x-xgdb-lock` is made only while its grant is live
// (docs/locks.md, "Fencing"), and a write that makes a VM resident on a
// host, when it ran nowhere, is made only by the host that holds
// `VM:<uuid>` ("VM starts").
#include <thread>

#include <gtest/gtest.h>

#include "server/client.h"
#include "support/daemon.h"
#include "support/sim_pool.h"

namespace xgdb::test {
namespace {

using json = nlohmann::json;
constexpr char kNull[] = "OpaqueRef:NULL";

class LockedWritesTest : public ::testing::Test {
 protected:
  // The HTTP status of a v2 call on host i, with `headers` ("name: value\r\n"...).
  int Status(const SimPool& pool, size_t i, const json& call, const std::string& headers = "") {
    std::string body = call.dump();
    server::Connection c = server::Connection::Unix(pool.host(i).socket, 30000);
    c.Send("POST /remote_db_access_v2 HTTP/1.1\r\n" + headers + "content-length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.ReadAnswer().status;
  }
  // The HTTP status of xapi's write_field of VM.resident_on on host i.
  int WriteStatus(const SimPool& pool, size_t i, const std::string& vm, const std::string& host) {
    return Status(pool, i, {"Write_field", "VM", vm, "resident_on", host});
  }
  // The grant of `name` as host i's lock service lists it (null: none).
  json GrantOf(const SimPool& pool, size_t i, const std::string& name) {
    json list = pool.Ours(i, {"Lock_list", json::object()});
    if (!list.is_array() || list[0] != "Lock_list") return json();
    for (const json& g : list[1]["locks"]) {
      if (g["name"] == name) return g;
    }
    return json();
  }
  bool EveryHostReads(const SimPool& pool, const std::string& vm, const std::string& value) {
    for (size_t i = 0; i < pool.size(); ++i) {
      if (pool.ReadField(i, "VM", "resident_on", vm) != value) return false;
    }
    return true;
  }

  TempDir dir_;
};

// A write sent with a live grant is made and its commit carries the token,
// here or at the row's owner; once the grant is released the same header
// writes nothing; reads are not fenced.
TEST_F(LockedWritesTest, AWriteIsMadeOnlyWhileItsGrantLivesAndCarriesItsToken) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  json granted = pool.Ours(0, {"Lock_acquire", {{"name", "SR:fence"}, {"ttl", 60}}});
  ASSERT_EQ(granted.at(0), "Lock_acquire") << granted;
  const uint64_t token = granted[1]["token"];
  const std::string header = "x-xgdb-lock: " + std::to_string(token) + " SR:fence\r\n";
  const std::string trailer = "Lock-Token: " + std::to_string(token) + " SR:fence";
  const std::string pool_ref = pool.Call(1, {"Read_refs", "pool"})[1][0];
  EXPECT_EQ(Status(pool, 1, {"Write_field", "pool", pool_ref, "name_description", "fenced"}, header),
            200);
  EXPECT_EQ(pool.ReadField(1, "pool", "name_description", pool_ref), "fenced");
  EXPECT_TRUE(Eventually([&] {
    return pool.LastCommitOf(1, "pool", pool_ref).find(trailer) != std::string::npos;
  })) << pool.LastCommitOf(1, "pool", pool_ref);
  // Host 1's VM written through host 2: its owner checks and commits.
  const std::string vm = pool.OwnedVm(1);
  EXPECT_EQ(Status(pool, 2, {"Write_field", "VM", vm, "name__description", "fenced"}, header), 200);
  EXPECT_TRUE(Eventually([&] { return pool.LastCommitOf(1, "VM", vm).find(trailer) != std::string::npos; }))
      << pool.LastCommitOf(1, "VM", vm);

  ASSERT_EQ(pool.Ours(0, {"Lock_release", {{"name", "SR:fence"}, {"token", token}}})[0],
            "Lock_release");
  EXPECT_EQ(Status(pool, 1, {"Write_field", "pool", pool_ref, "name_description", "stale"}, header),
            500);
  EXPECT_EQ(Status(pool, 2, {"Write_field", "VM", vm, "name__description", "stale"}, header), 500);
  EXPECT_EQ(Status(pool, 1, {"Read_field", "pool", "name_description", pool_ref}, header), 200);
  EXPECT_EQ(Status(pool, 1, {"Write_field", "pool", pool_ref, "name_description", "x"},
                   "x-xgdb-lock: not-a-token\r\n"),
            500);
  EXPECT_TRUE(Eventually([&] { return pool.Converged(); }));
  for (size_t i = 0; i < pool.size(); ++i) {
    EXPECT_EQ(pool.ReadField(i, "pool", "name_description", pool_ref), "fenced") << "host " << i;
    EXPECT_EQ(pool.ReadField(i, "VM", "name__description", vm), "fenced") << "host " << i;
  }
  EXPECT_NE(ReadFile(dir_ / "pool/host1/daemon.log").find("refused a write under lock SR:fence"),
            std::string::npos);
}

TEST_F(LockedWritesTest, OnlyTheHostHoldingTheVmsLockStartsItAndLeavingGivesItBack) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  const std::string vm = pool.OwnedVm(1);
  ASSERT_FALSE(vm.empty());
  const std::string lock = "VM:" + pool.ReadField(1, "VM", "uuid", vm);
  // Host 1 halts it: the VM runs nowhere, every host sees it so.
  pool.WriteField(1, "VM", vm, "resident_on", kNull);
  ASSERT_TRUE(Eventually([&] { return EveryHostReads(pool, vm, kNull); }));

  // While host 2 holds the VM's lock, host 0 cannot start it: a 500, a log
  // line naming the lock, nothing written anywhere.
  json held = pool.Ours(2, {"Lock_acquire", {{"name", lock}, {"ttl", 60}}});
  ASSERT_EQ(held.at(0), "Lock_acquire") << held;
  EXPECT_EQ(WriteStatus(pool, 0, vm, pool.host(0).ref), 500);
  EXPECT_NE(ReadFile(dir_ / "pool/host0/daemon.log").find("lock " + lock + " is held by"),
            std::string::npos);
  EXPECT_EQ(pool.ReadField(0, "VM", "resident_on", vm), kNull);
  ASSERT_EQ(pool.Ours(2, {"Lock_release", {{"name", lock}, {"token", held[1]["token"]}}})[0],
            "Lock_release");

  // Once it is free, host 0 starts it, holds the lock, and the commit
  // making the start carries the lock's token.
  EXPECT_EQ(WriteStatus(pool, 0, vm, pool.host(0).ref), 200);
  json grant = GrantOf(pool, 1, lock);
  ASSERT_TRUE(grant.is_object()) << "no grant of " << lock;
  EXPECT_EQ(grant["holder"], pool.host(0).ref);
  const std::string trailer = "Lock-Token: " + std::to_string(grant["token"].get<uint64_t>()) +
                              " " + lock;
  EXPECT_TRUE(Eventually([&] { return pool.LastCommitOf(0, "VM", vm).find(trailer) != std::string::npos; }))
      << pool.LastCommitOf(0, "VM", vm);
  EXPECT_TRUE(Eventually([&] { return EveryHostReads(pool, vm, pool.host(0).ref); }));
  // Host 0 writing it again (a reboot) takes nothing new.
  EXPECT_EQ(WriteStatus(pool, 0, vm, pool.host(0).ref), 200);
  EXPECT_EQ(GrantOf(pool, 1, lock)["token"], grant["token"]);

  // A halt gives the lock back; then host 1 can start it.
  pool.WriteField(0, "VM", vm, "resident_on", kNull);
  EXPECT_TRUE(Eventually([&] { return GrantOf(pool, 2, lock).is_null(); }));
  ASSERT_TRUE(Eventually([&] { return EveryHostReads(pool, vm, kNull); }));
  EXPECT_EQ(WriteStatus(pool, 1, vm, pool.host(1).ref), 200);
  EXPECT_EQ(GrantOf(pool, 0, lock)["holder"], pool.host(1).ref);
  ASSERT_TRUE(Eventually([&] { return EveryHostReads(pool, vm, pool.host(1).ref); }));

  // A migration written through host 2 goes to the owner (host 1), which
  // hands the VM over and gives the lock back: moves take no lock.
  EXPECT_EQ(WriteStatus(pool, 2, vm, pool.host(2).ref), 200);
  EXPECT_TRUE(Eventually([&] { return GrantOf(pool, 0, lock).is_null(); }));
  EXPECT_TRUE(Eventually([&] { return EveryHostReads(pool, vm, pool.host(2).ref) && pool.Converged(); }));
}

// Two hosts start one halted VM at the same moment: it ends resident on one
// of them everywhere, and replication never had two starts to settle.
TEST_F(LockedWritesTest, TwoHostsStartingOneVmAtOnceNeverBothStartIt) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  const std::string vm = pool.OwnedVm(1);
  ASSERT_FALSE(vm.empty());
  pool.WriteField(1, "VM", vm, "resident_on", kNull);
  ASSERT_TRUE(Eventually([&] { return EveryHostReads(pool, vm, kNull); }));
  int status[3] = {0, 0, 0};
  std::thread a([&] { status[0] = WriteStatus(pool, 0, vm, pool.host(0).ref); });
  std::thread b([&] { status[2] = WriteStatus(pool, 2, vm, pool.host(2).ref); });
  a.join();
  b.join();
  EXPECT_TRUE(status[0] == 200 || status[2] == 200) << status[0] << " " << status[2];
  std::string where;
  ASSERT_TRUE(Eventually([&] {
    where = pool.ReadField(0, "VM", "resident_on", vm);
    return where != kNull && EveryHostReads(pool, vm, where) && pool.Converged();
  }));
  // Where it ended is a host whose start (or hand-over) was answered 200.
  EXPECT_TRUE((where == pool.host(0).ref && status[0] == 200) ||
              (where == pool.host(2).ref && status[2] == 200))
      << where << " " << status[0] << " " << status[2];
  for (size_t i = 0; i < pool.size(); ++i) {
    std::string conflicts = RunCli(pool.host(i).repo, "conflicts").output;
    EXPECT_EQ(conflicts.find(vm), std::string::npos) << "host " << i << ": " << conflicts;
  }
}

}  // namespace
}  // namespace xgdb::test
