// What `cmake --install` lays out on a host (packaging/): the binary, the
// systemd unit (checked by systemd-analyze), the configuration (accepted by
// a real `serve`) and the repository's directory.
#include <sys/stat.h>

#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "support/daemon.h"
#include "support/paths.h"

namespace xgdb::test {
namespace {

class PackagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CommandResult r = test::Run("DESTDIR=" + ShellQuote(root_.path()) + " cmake --install " +
                          ShellQuote(BinaryPath("")) + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  std::string Staged(const std::string& path) const { return root_.path() + path; }

  TempDir root_;
  TempDir scratch_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

TEST_F(PackagingTest, InstallLaysOutTheHost) {
  const std::string bin = Staged("/usr/sbin/xapi-gitdb");
  EXPECT_TRUE(ModeOf(bin) & S_IXUSR);
  EXPECT_EQ(test::Run(ShellQuote(bin) + " --version").output,
            test::Run(ShellQuote(BinaryPath("xapi-gitdb")) + " --version").output);
  EXPECT_TRUE(S_ISREG(ModeOf(Staged("/etc/xapi-gitdb/xapi-gitdb.conf"))));
  EXPECT_TRUE(S_ISREG(ModeOf(Staged("/usr/lib/systemd/system/xapi-gitdb.service"))));
  mode_t repo = ModeOf(Staged("/var/lib/xapi-db"));
  EXPECT_TRUE(S_ISDIR(repo));
  EXPECT_EQ(repo & 0777, 0700u) << "the repository holds secrets";
}

TEST_F(PackagingTest, TheUnitVerifiesAndStartsTheInstalledBinaryWithTheInstalledConfig) {
  std::string unit = ReadFile(Staged("/usr/lib/systemd/system/xapi-gitdb.service"));
  const std::string exec =
      "ExecStart=/usr/sbin/xapi-gitdb --repo /var/lib/xapi-db serve --config "
      "/etc/xapi-gitdb/xapi-gitdb.conf\n";
  ASSERT_NE(unit.find(exec), std::string::npos) << unit;
  EXPECT_NE(unit.find("Type=notify\n"), std::string::npos);
  EXPECT_NE(unit.find("WatchdogSec="), std::string::npos);
  // systemd-analyze checks that ExecStart's binary exists: point the copy
  // it verifies at the staged one.
  const std::string copy = scratch_ / "xapi-gitdb.service";
  WriteFile(copy, std::regex_replace(unit, std::regex("ExecStart=/usr/sbin/"),
                                     "ExecStart=" + Staged("/usr/sbin/")));
  CommandResult verify = test::Run("systemd-analyze verify " + ShellQuote(copy) + " 2>&1");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  // No remark about the unit (the machine's own units may draw some).
  EXPECT_EQ(verify.output.find("xapi-gitdb.service"), std::string::npos) << verify.output;

  // The shipped configuration is one `serve` accepts (flags win over it).
  const std::string repo = scratch_ / "repo", socket = scratch_ / "s.sock";
  CommandResult init = RunCli(repo, "init --schema 5.82");
  ASSERT_EQ(init.exit_code, 0) << init.output;
  DaemonProcess daemon(repo, socket, scratch_ / "log",
                       {"--config", Staged("/etc/xapi-gitdb/xapi-gitdb.conf")});
  EXPECT_EQ(daemon.Kill(SIGTERM), 0) << ReadFile(scratch_ / "log");
}

}  // namespace
}  // namespace xgdb::test
