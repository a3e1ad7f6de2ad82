// The command line beside a running daemon: one writer per repository.
// Reading commands open the repository read-only and write nothing;
// writing ones go through the daemon's socket or refuse; a second daemon
// can take neither the repository nor a socket that still answers. Real
// binaries, real sockets, the real 2014 pool database.
#include <signal.h>

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/client.h"
#include "store_test_util.h"
#include "support/daemon.h"
#include "support/paths.h"

namespace xgdb::test {
namespace {

const char kVmRef[] = "OpaqueRef:0a5079bc-6dbf-f005-5e27-f64ec5b0fec5";
const char kVmUuid[] = "fa3fcb12-72ee-f9a8-e66c-4f75879aa11a";
const char kVmName[] = "SUSE Linux Enterprise Server 10 SP2 (32-bit)";

class CliDaemonTest : public DaemonTest {
 protected:
  std::string ReadName() const {
    return nlohmann::json::parse(Call({"Read_field", "VM", "name__label", kVmRef}))[1];
  }
  std::string GitShow(const std::string& what) const {
    return test::Run("git --git-dir=" + ShellQuote(repo_) + " show " + ShellQuote(what)).output;
  }
};

// The reproduction of the issue: `set` beside a daemon used to commit
// behind its back, and the daemon went on serving the old value.
TEST_F(CliDaemonTest, SetGoesThroughTheDaemonNeverBesideIt) {
  DaemonProcess daemon(repo_, socket_, log_);
  auto set = Cli(std::string("set ") + kVmUuid + " name__label 'set by the cli'");
  ASSERT_EQ(set.exit_code, 0) << set.output;
  EXPECT_NE(set.output.find("committed by the daemon (pid " + std::to_string(daemon.pid())),
            std::string::npos)
      << set.output;
  EXPECT_EQ(ReadName(), "set by the cli");  // the daemon serves it at once
  // and `set` returned once it was committed: read your writes.
  EXPECT_EQ(Cli(std::string("get ") + kVmRef + " name__label").output, "set by the cli\n");
  // A client's write after it, then the daemon's final commit.
  EXPECT_EQ(Call({"Write_field", "VM", kVmRef, "name__description", "by a client"}),
            "[\"Write_field\",null]");
  ASSERT_EQ(daemon.Kill(SIGTERM), 0) << ReadFile(log_);
  const std::string dir = "master:" + Store::ObjectPath("VM", kVmRef);
  EXPECT_EQ(GitShow(dir + "name__label"), "set by the cli");
  EXPECT_EQ(GitShow(dir + "name__description"), "by a client");
  ExpectFsckClean(repo_);
}

TEST_F(CliDaemonTest, ASecondDaemonCannotTakeTheRepository) {
  DaemonProcess daemon(repo_, socket_, log_);
  auto second = Cli("serve --socket " + ShellQuote(dir_ / "other.sock"));
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.output.find("in use by process " + std::to_string(daemon.pid())),
            std::string::npos)
      << second.output;
  EXPECT_EQ(ReadName(), kVmName);  // the first one serves on
  EXPECT_FALSE(std::filesystem::exists(dir_ / "other.sock"));
}

TEST_F(CliDaemonTest, ADaemonDoesNotTakeASocketThatAnswers) {
  DaemonProcess daemon(repo_, socket_, log_);
  const std::string other = dir_ / "other-repo";
  ASSERT_EQ(Cli(other, "import " + ShellQuote(DataPath("state-5.82.xml"))).exit_code, 0);
  auto second = Cli(other, "serve --socket " + ShellQuote(socket_));
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.output.find("served by another process"), std::string::npos) << second.output;
  EXPECT_EQ(ReadName(), kVmName);  // the socket is still the first daemon's
}

TEST_F(CliDaemonTest, ReadingCommandsBesideTheDaemonWriteNothing) {
  DaemonProcess daemon(repo_, socket_, log_);
  const std::string before = WithoutSpares(Snapshot(repo_));
  for (const std::string& args :
       {std::string("get ") + kVmRef + " name__label", std::string("get ") + kVmUuid,
        std::string("log -n 1"), std::string("log VM/") + kVmRef, std::string("show"),
        std::string("diff master master"), "export -o " + ShellQuote(dir_ / "state.db")}) {
    auto r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.output;
  }
  EXPECT_EQ(Cli(std::string("get ") + kVmRef + " name__label").output, std::string(kVmName) + "\n");
  EXPECT_EQ(WithoutSpares(Snapshot(repo_)), before);
}

TEST_F(CliDaemonTest, ImportIsRefusedAndRevertGoesThroughTheDaemon) {
  DaemonProcess daemon(repo_, socket_, log_, {"--sync"});  // a write is answered once committed
  auto import = Cli("import " + ShellQuote(DataPath("state-5.82.xml")));
  EXPECT_NE(import.exit_code, 0);
  EXPECT_NE(import.output.find("stop the daemon first"), std::string::npos) << import.output;

  ASSERT_EQ(Cli(std::string("set ") + kVmRef + " name__label renamed").exit_code, 0);
  const std::string renamed = test::Run("git --git-dir=" + ShellQuote(repo_) + " rev-parse master").output;
  auto revert = Cli("revert " + renamed.substr(0, 40));
  ASSERT_EQ(revert.exit_code, 0) << revert.output;
  EXPECT_EQ(ReadName(), kVmName);  // the daemon's image follows its own revert
}

}  // namespace
}  // namespace xgdb::test
