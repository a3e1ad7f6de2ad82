// `xapi-gitdb doctor` (cmd_doctor.cc) on the real 2014 pool: a healthy host
// says nothing to do; each problem an operator can have is named with what
// to do, and the exit status says action is needed.
#include <sys/stat.h>

#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/daemon.h"
#include "support/paths.h"

namespace xgdb::test {
namespace {

class DoctorTest : public DaemonTest {
 protected:
  // check name -> {ok, action} from `doctor --json ARGS`; `exit_code` set.
  std::map<std::string, nlohmann::json> Doctor(const std::string& args = "",
                                               const std::string& repo = "") {
    CommandResult r = RunCli(repo.empty() ? repo_ : repo, "doctor --json " + args);
    exit_code_ = r.exit_code;
    std::map<std::string, nlohmann::json> out;
    nlohmann::json answer = nlohmann::json::parse(r.output);
    for (const auto& c : answer["checks"]) {
      out[c["check"].get<std::string>()] = c;
    }
    return out;
  }
  int exit_code_ = -1;
};

TEST_F(DoctorTest, AHealthyHostHasNothingToDo) {
  const std::string secret = dir_ / "secret", config = dir_ / "xapi-gitdb.conf";
  WriteFile(secret, "pool secret\n");
  chmod(secret.c_str(), 0600);
  WriteFile(config, "socket = " + socket_ + "\nsecret-file = [\"" + secret + "\"]\n");
  DaemonProcess daemon(repo_, socket_, log_);
  auto checks = Doctor("--config " + ShellQuote(config));
  EXPECT_EQ(exit_code_, 0);
  for (const char* name : {"repository", "fsck", "packs", "disk", "permissions", "config",
                           "secret", "daemon"}) {
    ASSERT_TRUE(checks.count(name)) << name;
    EXPECT_TRUE(checks[name]["ok"].get<bool>()) << checks[name].dump();
  }
  EXPECT_NE(checks["repository"]["detail"].get<std::string>().find("447 rows"), std::string::npos);
  EXPECT_NE(checks["daemon"]["detail"].get<std::string>().find(std::to_string(daemon.pid())),
            std::string::npos);
}

TEST_F(DoctorTest, EachProblemIsNamedWithWhatToDo) {
  const std::string secret = dir_ / "secret", config = dir_ / "bad.conf";
  WriteFile(secret, "pool secret\n");
  chmod(secret.c_str(), 0644);
  WriteFile(config, "socket = " + socket_ + "\nno-such-key = 1\n");
  chmod(repo_.c_str(), 0755);
  auto checks = Doctor("--config " + ShellQuote(config) + " --secret-file " + ShellQuote(secret));
  EXPECT_EQ(exit_code_, 3);
  EXPECT_FALSE(checks["permissions"]["ok"].get<bool>());
  EXPECT_EQ(checks["permissions"]["action"], "chmod go-rwx " + repo_);
  EXPECT_FALSE(checks["secret"]["ok"].get<bool>());
  EXPECT_EQ(checks["secret"]["action"], "chmod go-rwx " + secret);
  EXPECT_FALSE(checks["config"]["ok"].get<bool>());
  EXPECT_NE(checks["config"]["detail"].get<std::string>().find("unknown key no-such-key"),
            std::string::npos);
  EXPECT_TRUE(checks["repository"]["ok"].get<bool>());

  // A repository that lost its objects.
  const std::string broken = dir_ / "broken";
  ASSERT_EQ(test::Run("cp -a " + ShellQuote(repo_) + " " + ShellQuote(broken) + " && rm -f " +
                ShellQuote(broken) + "/objects/pack/*.pack")
                .exit_code,
            0);
  checks = Doctor("", broken);
  EXPECT_EQ(exit_code_, 3);
  EXPECT_FALSE(checks["repository"]["ok"].get<bool>());
  EXPECT_NE(checks["repository"]["action"].get<std::string>().find("restore"), std::string::npos);
  EXPECT_FALSE(checks["fsck"]["ok"].get<bool>());
}

}  // namespace
}  // namespace xgdb::test
