// Writes to another host's objects, with real daemons (`xapi-gitdb sim`):
// the host a client writes to sends the write to the row's owner, which
// makes it (docs/replication.md, "Writes to another host's objects").
#include <gtest/gtest.h>

#include "server/client.h"
#include "support/daemon.h"
#include "support/sim_pool.h"

namespace xgdb::test {
namespace {

class ForwardTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(ForwardTest, AWriteToAnotherHostsVmIsMadeByItsOwner) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  std::string vm = pool.OwnedVm(1);
  ASSERT_FALSE(vm.empty());
  // A client of host 0 renames host 1's VM and tags it (a structured op).
  pool.WriteField(0, "VM", vm, "name__description", "renamed through host 0");
  EXPECT_EQ(pool.Call(0, {"Process_structured_field", {"forwarded", ""}, "VM", "tags", vm, "AddSet"}),
            nlohmann::json::parse(R"(["Process_structured_field",null])"));
  // The client reads its write back at once, on the host it wrote to...
  EXPECT_EQ(pool.ReadField(0, "VM", "name__description", vm), "renamed through host 0");
  EXPECT_EQ(pool.ReadField(0, "VM", "tags", vm), "('forwarded')");
  // ...and the owner made the commit (its Host: trailer), before answering.
  EXPECT_EQ(pool.ReadField(1, "VM", "name__description", vm), "renamed through host 0");
  EXPECT_NE(pool.LastCommitOf(1, "VM", vm).find("Host: " + pool.host(1).uuid), std::string::npos)
      << pool.LastCommitOf(1, "VM", vm);
  // Every host gets it, with nothing quarantined: the owner made it.
  EXPECT_TRUE(Eventually([&] {
    return pool.ReadField(2, "VM", "tags", vm) == "('forwarded')" && pool.Converged();
  }));
  for (size_t i = 0; i < pool.size(); ++i) {
    EXPECT_EQ(RunCli(pool.host(i).repo, "--json quarantine").output, "[]\n") << "host " << i;
  }
  // A write host 0 may make itself (its own VM) is made there.
  std::string own = pool.OwnedVm(0);
  pool.WriteField(0, "VM", own, "name__description", "kept on host 0");
  EXPECT_TRUE(Eventually([&] {
    return pool.LastCommitOf(0, "VM", own).find("Host: " + pool.host(0).uuid) !=
           std::string::npos;
  }));
}

TEST_F(ForwardTest, AWriteWhoseOwnerIsDownFailsAndTheHostKeepsServing) {
  SimPool pool(dir_.path(), 3);
  ASSERT_TRUE(pool.ok());
  std::string vm = pool.OwnedVm(2);
  ASSERT_FALSE(vm.empty());
  std::string before = pool.ReadField(0, "VM", "name__description", vm);
  pool.Kill(2);
  server::Connection c = server::Connection::Unix(pool.host(0).socket);
  server::Answer a = c.Call("/post_remote_db_access_v2",
                            nlohmann::json::array({"Write_field", "VM", vm, "name__description",
                                                   "while its owner is down"})
                                .dump());
  // xapi's protocol has no failure for this: HTTP 500, as when the master
  // is unreachable, and nothing written anywhere.
  EXPECT_EQ(a.status, 500);
  EXPECT_EQ(pool.ReadField(0, "VM", "name__description", vm), before);
  EXPECT_EQ(pool.ReadField(1, "VM", "name__description", vm), before);
  // Rows nobody owns are still written anywhere.
  std::string ref = pool.Call(0, {"Read_refs", "pool"})[1][0];
  pool.WriteField(0, "pool", ref, "name_description", "the owner of a VM is down");
  EXPECT_TRUE(Eventually([&] {
    return pool.ReadField(1, "pool", "name_description", ref) == "the owner of a VM is down";
  }));
}

}  // namespace
}  // namespace xgdb::test
