// Changes from a peer to objects its host does not own, with real daemons
// (`xapi-gitdb sim`): refused on every other host, kept and listed, never
// merged; the host rebuilt from a healthy host's backup is taken again
// (docs/replication.md, "Quarantine").
#include <signal.h>

#include <gtest/gtest.h>

#include "support/daemon.h"
#include "support/sim_pool.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::test {
namespace {

std::string RevParse(const std::string& repo, const std::string& rev) {
  return test::Run("git -C " + ShellQuote(repo) + " rev-parse --verify -q " + rev).output;
}

TEST(QuarantineTest, AHostChangingAnotherHostsVmIsRefusedEverywhere) {
  TempDir dir;
  SimPool pool(dir.path(), 3);
  ASSERT_TRUE(pool.ok());
  std::string vm = pool.OwnedVm(0);
  ASSERT_FALSE(vm.empty());
  std::string before = pool.ReadField(0, "VM", "name__description", vm);
  ASSERT_TRUE(Eventually([&] { return pool.Converged(); }));
  std::string old_head = RevParse(pool.host(1).repo, "refs/hosts/" + pool.host(2).uuid);

  // Host 2 goes wrong: its repository gets a commit of its own that changes
  // host 0's VM (as a bug or a lying daemon would), and it serves it.
  pool.Kill(2);
  {
    StoreOptions options;
    options.path = pool.host(2).repo;
    options.host_uuid = pool.host(2).uuid;
    options.host_id = pool.host(2).uuid;
    options.fsync = false;
    std::unique_ptr<Store> store;
    // A killed daemon's last threads may still hold the repository lock.
    ASSERT_TRUE(Eventually([&] {
      try {
        store = Store::Open(options);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kBusy) throw;
      }
      return store != nullptr;
    }));
    store->db().WriteField("VM", vm, "name__description", "forged by host 2");
    ASSERT_FALSE(store->Commit("a change host 2 may not make").empty());
  }
  std::string bad_head = RevParse(pool.host(2).repo, "refs/hosts/" + pool.host(2).uuid);
  pool.Restart(2);

  for (size_t i : {0, 1}) {
    const std::string& repo = pool.host(i).repo;
    nlohmann::json listed;
    ASSERT_TRUE(Eventually([&] {
      listed = nlohmann::json::parse(RunCli(repo, "--json quarantine").output, nullptr, false);
      return listed.is_array() && listed.size() == 1;
    }, 20)) << "host " << i << ": " << listed.dump();
    const nlohmann::json& q = listed[0];
    EXPECT_EQ(q["host"], pool.host(2).uuid);
    EXPECT_EQ(q["head"].get<std::string>() + "\n", bad_head);
    EXPECT_EQ(q["table"], "VM");
    EXPECT_EQ(q["ref"], vm);
    EXPECT_EQ(q["owner"], pool.host(0).ref);
    EXPECT_EQ(q["fields"], nlohmann::json::array({"name__description"})) << q.dump();
    // Kept for people to read, not merged: host 2's ref stays where it was.
    EXPECT_EQ(RevParse(repo, "refs/quarantine/" + pool.host(2).uuid), bad_head);
    EXPECT_EQ(RevParse(repo, "refs/hosts/" + pool.host(2).uuid), old_head);
    EXPECT_EQ(pool.ReadField(i, "VM", "name__description", vm), before);
    // The text form names the host and the field.
    std::string text = RunCli(repo, "quarantine").output;
    EXPECT_NE(text.find(pool.host(2).uuid), std::string::npos) << text;
    EXPECT_NE(text.find("name__description"), std::string::npos) << text;
  }
  // Hosts 0 and 1 agree and keep working together.
  std::string ref = pool.Call(0, {"Read_refs", "pool"})[1][0];
  pool.WriteField(1, "pool", ref, "name_description", "after the quarantine");
  EXPECT_TRUE(Eventually([&] {
    return pool.ReadField(0, "pool", "name_description", ref) == "after the quarantine" &&
           pool.Converged({0, 1});
  }));
  // The way back: host 2's repository rebuilt from a healthy host's backup.
  // Its ref is then the last good head the pool holds, and its new work is
  // taken again.
  pool.Kill(2);
  std::string bundle = dir / "healthy.bundle";
  CommandResult backup = RunCli(pool.host(1).repo, "backup " + ShellQuote(bundle));
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  ASSERT_EQ(test::Run("rm -rf " + ShellQuote(pool.host(2).repo)).exit_code, 0);
  CommandResult restored = RunCli(pool.host(2).repo, "restore " + ShellQuote(bundle));
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
  EXPECT_EQ(RevParse(pool.host(2).repo, "refs/hosts/" + pool.host(2).uuid), old_head);
  pool.Restart(2);
  pool.WriteField(2, "pool", ref, "name_description", "host 2 is back");
  EXPECT_TRUE(Eventually([&] {
    return pool.ReadField(0, "pool", "name_description", ref) == "host 2 is back" &&
           pool.Converged();
  }, 20));
  EXPECT_EQ(pool.ReadField(2, "VM", "name__description", vm), before);

  // A restart keeps the list (the ref is read again and checked again).
  pool.Kill(0);
  pool.Restart(0);
  nlohmann::json again;
  EXPECT_TRUE(Eventually([&] {
    again = nlohmann::json::parse(RunCli(pool.host(0).repo, "--json quarantine").output, nullptr,
                                  false);
    return again.is_array() && again.size() == 1 && again[0]["ref"] == vm;
  })) << again.dump();
}

}  // namespace
}  // namespace xgdb::test
