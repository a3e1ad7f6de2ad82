// Peers from the pool's host table (serve --pool-peers), with real daemons:
// `xapi-gitdb sim --pool-peers` gives each host its own loopback address in
// its host row and one port for all, and names no peer on the command line
// (docs/replication.md, "Topology and liveness").
#include <gtest/gtest.h>

#include "support/daemon.h"
#include "support/sim_pool.h"

namespace xgdb::test {
namespace {

// The peers host i replicates with: uuid -> "address:port".
std::map<std::string, std::string> PeersOf(const SimPool& pool, size_t i) {
  std::map<std::string, std::string> peers;
  nlohmann::json status = pool.Ours(i, {"Peer_list", nlohmann::json::object()}, 5000);
  if (!status.is_array() || status.size() != 2) return peers;
  for (const auto& p : status[1]["peers"]) peers[p["uuid"]] = p["address"];
  return peers;
}

TEST(MembershipTest, PeersComeFromTheHostTableAndFollowItsRows) {
  TempDir dir;
  SimPool pool(dir.path(), 3, {"--pool-peers"});
  ASSERT_TRUE(pool.ok());
  // Every daemon listens on one port, each on its own address.
  std::string port = pool.host(0).peer.substr(pool.host(0).peer.rfind(':'));
  for (size_t i = 0; i < pool.size(); ++i) {
    EXPECT_EQ(pool.host(i).peer, "127.0.0." + std::to_string(i + 2) + port);
    for (const std::string& arg : pool.host(i).argv) EXPECT_NE(arg, "--peer");
  }
  // The pool forms from the host rows alone: a write anywhere is read
  // everywhere, and each host lists the two others at their rows' address.
  nlohmann::json pools = pool.Call(0, {"Read_refs", "pool"});
  ASSERT_TRUE(pools.is_array() && pools.size() == 2 && pools[1].size() == 1) << pools.dump();
  std::string ref = pools[1][0];
  pool.WriteField(2, "pool", ref, "name_description", "found through the host table");
  EXPECT_TRUE(Eventually([&] {
    for (size_t i = 0; i < pool.size(); ++i) {
      if (pool.ReadField(i, "pool", "name_description", ref) != "found through the host table") {
        return false;
      }
    }
    return pool.Converged();
  }, 20));
  EXPECT_EQ(PeersOf(pool, 0), (std::map<std::string, std::string>{
                                  {pool.host(1).uuid, pool.host(1).peer},
                                  {pool.host(2).uuid, pool.host(2).peer}}));

  // Host 2's row deleted: the others stop replicating with it.
  const SimHost& leaving = pool.host(2);
  nlohmann::json record = pool.Call(2, {"Read_record", "host", leaving.ref});
  ASSERT_EQ(record[0], "Read_record") << record.dump();
  ASSERT_EQ(pool.Call(2, {"Delete_row", "host", leaving.ref})[0], "Delete_row");
  EXPECT_TRUE(Eventually([&] {
    return PeersOf(pool, 0).count(leaving.uuid) == 0 && PeersOf(pool, 1).count(leaving.uuid) == 0;
  }, 20)) << nlohmann::json(PeersOf(pool, 0)).dump();
  // Added back: a peer again, and writes flow to it again.
  nlohmann::json created = pool.Call(0, {"Create_row", "host", record[1], leaving.ref});
  ASSERT_EQ(created[0], "Create_row") << created.dump();
  pool.WriteField(0, "pool", ref, "name_description", "after the row came back");
  EXPECT_TRUE(Eventually([&] {
    return PeersOf(pool, 0).count(leaving.uuid) == 1 &&
           pool.ReadField(2, "pool", "name_description", ref) == "after the row came back";
  }, 20)) << nlohmann::json(PeersOf(pool, 0)).dump();
}

}  // namespace
}  // namespace xgdb::test
