// Backups (Store::Backup, Store::Restore; `xapi-gitdb backup` / `restore`):
// a bundle plain git verifies and clones, a repository rebuilt from it, and
// bundles that are not whole backups refused with nothing left behind.
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store_test_util.h"
#include "support/daemon.h"
#include "support/paths.h"

namespace xgdb::test {
namespace {

StoreOptions HostOptions(const std::string& path, const std::string& uuid) {
  StoreOptions o = TestOptions(path);
  o.host_uuid = uuid;
  return o;
}

// A repository with three commits of rows and a host ref.
std::vector<std::string> MakeRepository(const std::string& repo) {
  auto store = Store::Create(HostOptions(repo, "host-a"), StoreTestSchema());
  for (int i = 0; i < 3; ++i) {
    store->db().CreateRow("VM",
                          {{"uuid", "u" + std::to_string(i)},
                           {"name__label", "vm " + std::to_string(i)},
                           {"tags", "('b' 'a')"}},
                          VmRef(i));
    store->Commit();
  }
  return Dump(store->db());
}

void ExpectRefused(const std::string& target, const std::string& file, const std::string& why) {
  try {
    Store::Restore(TestOptions(target), file);
    ADD_FAILURE() << "restored from " << file;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(target)) << "a refused restore left " << target;
}

TEST(Backup, PlainGitClonesItAndRestoreRebuildsTheRepository) {
  TempDir dir;
  const std::string repo = dir / "repo", file = dir / "pool.bundle", again = dir / "again";
  std::vector<std::string> rows = MakeRepository(repo);
  std::string head;
  {
    auto store = Store::Open(TestOptions(repo));
    head = store->Head();
    EXPECT_GT(store->Backup(file), 10u);
  }
  struct stat st{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a backup holds the database's secrets";
  CommandResult verify = Git(repo, "bundle verify " + ShellQuote(file));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  CommandResult clone = test::Run("git clone -q --bare " + ShellQuote(file) + " " +
                            ShellQuote(dir / "clone") + " 2>&1");
  ASSERT_EQ(clone.exit_code, 0) << clone.output;
  EXPECT_EQ(Git(dir / "clone", "rev-parse master").output, head + "\n");

  auto restored = Store::Restore(TestOptions(again), file);
  EXPECT_EQ(restored->Head(), head);
  EXPECT_EQ(Dump(restored->db()), rows);
  EXPECT_EQ(restored->ListRefs("refs/hosts/"), std::vector<std::string>{"refs/hosts/host-a"});
  EXPECT_EQ(restored->RefTarget("refs/hosts/host-a"), head);
  EXPECT_EQ(restored->GetCommit("master~2").message, Store::Open(TestOptions(repo))
                                                         ->GetCommit("master~2")
                                                         .message);
  restored->db().WriteField("VM", VmRef(1), "name__label", "after");
  restored->Commit();
  restored.reset();
  ExpectFsckClean(again);
  EXPECT_EQ(Store::Open(TestOptions(again))->db().ReadField("VM", "name__label", VmRef(1)),
            "after");
}

TEST(Backup, RestoreRefusesWhatIsNotAWholeBackupAndLeavesNothing) {
  TempDir dir;
  const std::string repo = dir / "repo", file = dir / "pool.bundle";
  MakeRepository(repo);
  Store::Open(TestOptions(repo))->Backup(file);
  std::string bundle = ReadFile(file);

  WriteFile(dir / "half.bundle", bundle.substr(0, bundle.size() / 2));
  ExpectRefused(dir / "t1", dir / "half.bundle", "pack");
  WriteFile(dir / "text", "<database/>");
  ExpectRefused(dir / "t2", dir / "text", "not a git bundle");
  // A bundle of part of a history, and one naming a ref we do not hold.
  ASSERT_EQ(Git(repo, "bundle create " + ShellQuote(dir / "part.bundle") + " master~1..master")
                .exit_code,
            0);
  ExpectRefused(dir / "t3", dir / "part.bundle", "restore needs a whole history");
  ASSERT_EQ(Git(repo, "branch other master").exit_code, 0);
  ASSERT_EQ(Git(repo, "bundle create " + ShellQuote(dir / "other.bundle") + " other master")
                .exit_code,
            0);
  ExpectRefused(dir / "t4", dir / "other.bundle", "refs/heads/other");
  ASSERT_EQ(Git(repo, "branch -D other").exit_code, 0);
  // A target that is not empty is never touched.
  std::filesystem::create_directories(dir / "busy");
  WriteFile(dir / "busy/keep", "mine");
  EXPECT_THROW(Store::Restore(TestOptions(dir / "busy"), file), Error);
  EXPECT_EQ(ReadFile(dir / "busy/keep"), "mine");
  // git's own bundle of the whole repository is a backup too.
  ASSERT_EQ(Git(repo, "bundle create " + ShellQuote(dir / "git.bundle") + " --all").exit_code, 0);
  EXPECT_EQ(Store::Restore(TestOptions(dir / "t5"), dir / "git.bundle")->Head(),
            Store::Open(TestOptions(repo))->Head());
}

// The commands, beside a real daemon that keeps writing.
using BackupCliTest = DaemonTest;

TEST_F(BackupCliTest, BackupBesideARunningDaemonRestoresWhatItHad) {
  DaemonProcess daemon(repo_, socket_, log_);
  std::string vm = nlohmann::json::parse(Call({"Read_refs", "VM"})).at(1).at(0);
  ASSERT_EQ(Call({"Write_field", "VM", vm, "name__description", "before the backup"}),
            "[\"Write_field\",null]");
  ASSERT_TRUE(Eventually([&] {
    return Cli("get " + vm + " name__description").output == "before the backup\n";
  }));
  const std::string file = dir_ / "pool.bundle", again = dir_ / "again";
  CommandResult backup = Cli("backup " + ShellQuote(file));
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  EXPECT_NE(backup.output.find("backed up master"), std::string::npos) << backup.output;
  CommandResult restore = Cli(again, "restore " + ShellQuote(file));
  ASSERT_EQ(restore.exit_code, 0) << restore.output;
  EXPECT_EQ(Cli(again, "get " + vm + " name__description").output, "before the backup\n");
  EXPECT_EQ(Cli(again, "log -n 1 --json").exit_code, 0);
  EXPECT_NE(Cli(again, "restore " + ShellQuote(file)).exit_code, 0) << "restored over a repository";
}

}  // namespace
}  // namespace xgdb::test
