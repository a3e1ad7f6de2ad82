// Starting a VM takes its lock, with real daemons (`xapi-gitdb sim`): a
// write that makes a VM resident on a host, when it ran nowhere, is made
// only by the host that holds `VM:<uuid>` (docs/locks.md, "VM starts").
#include <thread>

#include <gtest/gtest.h>

#include "server/client.h"
#include "support/daemon.h"
#include "support/sim_pool.h"
#include "xgdb/store.h"

namespace xgdb::test {
namespace {

using json = nlohmann::json;
constexpr char kNull[] = "OpaqueRef:NULL";

class VmStartTest : public ::testing::Test {
 protected:
  // The HTTP status of xapi's write_field on host i (v2).
  int WriteStatus(const SimPool& pool, size_t i, const std::string& vm, const std::string& host) {
    std::string body = json::array({"Write_field", "VM", vm, "resident_on", host}).dump();
    server::Connection c = server::Connection::Unix(pool.host(i).socket, 30000);
    c.Send("POST /remote_db_access_v2 HTTP/1.1\r\ncontent-length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.ReadAnswer().status;
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
  // The message of the newest commit of master on host i that changed `vm`.
  std::string LastCommitOf(const SimPool& pool, size_t i, const std::string& vm) {
    return test::Run("git -C " + ShellQuote(pool.host(i).repo) + " log -1 --format=%B master -- " +
                     ShellQuote(Store::ObjectPath("VM", vm)))
        .output;
  }

  TempDir dir_;
};

TEST_F(VmStartTest, OnlyTheHostHoldingTheVmsLockStartsItAndLeavingGivesItBack) {
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
  EXPECT_TRUE(Eventually([&] { return LastCommitOf(pool, 0, vm).find(trailer) != std::string::npos; }))
      << LastCommitOf(pool, 0, vm);
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
TEST_F(VmStartTest, TwoHostsStartingOneVmAtOnceNeverBothStartIt) {
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
