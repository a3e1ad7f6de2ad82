// A real `xapi-gitdb serve` process for tests that need one: started with
// fork/exec, ready once its unix socket answers, killed with SIGKILL if the
// test leaves it running.
#ifndef XGDB_TESTS_SUPPORT_DAEMON_H_
#define XGDB_TESTS_SUPPORT_DAEMON_H_

#include <sys/types.h>

#include <string>
#include <vector>

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

}  // namespace xgdb::test

#endif  // XGDB_TESTS_SUPPORT_DAEMON_H_
