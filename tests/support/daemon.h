// A real `xapi-gitdb serve` process for tests that need one: started with
// fork/exec, ready once its unix socket answers, killed with SIGKILL if the
// test leaves it running.
#ifndef XGDB_TESTS_SUPPORT_DAEMON_H_
#define XGDB_TESTS_SUPPORT_DAEMON_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/paths.h"

namespace xgdb::test {

class DaemonProcess {
 public:
  // Runs `xapi-gitdb --repo REPO serve --socket SOCKET EXTRA...`, output
  // appended to `log`, with at most `max_files` open files when not 0. A
  // test failure (not an exception) when it does not answer within ten
  // seconds.
  DaemonProcess(const std::string& repo, const std::string& socket, const std::string& log,
                std::vector<std::string> extra = {}, int max_files = 0);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Sends `sig` and waits for the exit; returns the exit status (-1 when
  // killed by a signal).
  int Kill(int sig);
  pid_t pid() const { return pid_; }
  // Descriptors the process has open now (/proc/PID/fd).
  int OpenFiles() const;

 private:
  pid_t pid_ = -1;
};

// `xapi-gitdb --repo REPO ARGS` with the real binary (stdout and stderr
// together).
CommandResult RunCli(const std::string& repo, const std::string& args);
// Waits (up to `seconds`, checking every 20 ms) until `done` holds; the
// last check's answer.
bool Eventually(const std::function<bool()>& done, int seconds = 10);

// A scratch directory holding the real 2014 pool (tests/data/state-5.82.xml)
// imported by the real binary, and where a daemon of it puts its socket and
// log: the set-up of the tests that run daemons.
class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  CommandResult Cli(const std::string& repo, const std::string& args) const {
    return RunCli(repo, args);
  }
  CommandResult Cli(const std::string& args) const { return RunCli(repo_, args); }
  // One v2 call over the daemon's socket: the answer's body.
  std::string Call(const nlohmann::json& call) const;

  TempDir dir_;
  const std::string repo_ = dir_ / "repo";
  const std::string socket_ = dir_ / "xapi-gitdb.sock";
  const std::string log_ = dir_ / "daemon.log";
};

}  // namespace xgdb::test

#endif  // XGDB_TESTS_SUPPORT_DAEMON_H_
