// The daemon under systemd (service_manager.h): a real daemon started with
// $NOTIFY_SOCKET and $WATCHDOG_USEC as systemd sets them for a unit of
// Type=notify with WatchdogSec, the notifications read from that socket.
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "support/daemon.h"
#include "support/paths.h"

namespace xgdb::test {
namespace {

// The datagram socket systemd would listen on.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~NotifySocket() { close(fd_); }
  // The next notification, or "" after `ms` without one.
  std::string Next(int ms = 10000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, ms) != 1) return "";
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_ = -1;
};

using ServiceManagerTest = DaemonTest;

TEST_F(ServiceManagerTest, ReadyOnceServingWatchdogWhileAliveStoppingOnTerm) {
  const std::string notify = dir_ / "notify";
  NotifySocket systemd(notify);
  setenv("NOTIFY_SOCKET", notify.c_str(), 1);
  setenv("WATCHDOG_USEC", "200000", 1);  // a ping every 100 ms
  DaemonProcess daemon(repo_, socket_, log_);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");

  std::string ready = systemd.Next();
  EXPECT_EQ(ready.rfind("READY=1\nSTATUS=serving " + repo_ + " at ", 0), 0u) << ready;
  EXPECT_EQ(Call({"Read_refs", "pool"}).rfind("[\"Read_refs\",[\"OpaqueRef:", 0), 0u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(systemd.Next(), "WATCHDOG=1") << ReadFile(log_);
  // A daemon stopped dead (SIGSTOP) pings no more: systemd would restart it.
  ASSERT_EQ(kill(daemon.pid(), SIGSTOP), 0);
  while (!systemd.Next(300).empty()) {
  }  // what was sent before the stop
  EXPECT_EQ(systemd.Next(500), "");
  ASSERT_EQ(kill(daemon.pid(), SIGCONT), 0);
  EXPECT_EQ(systemd.Next(), "WATCHDOG=1");

  ASSERT_EQ(daemon.Kill(SIGTERM), 0) << ReadFile(log_);
  std::string last, message;
  while (!(message = systemd.Next(1000)).empty()) last = message;
  EXPECT_EQ(last, "STOPPING=1");
}

// Under systemd with stderr on the journal, log lines go to the journal
// (with their levels) instead of stderr; stderr elsewhere keeps them.
TEST_F(ServiceManagerTest, LogsGoToTheJournalOnlyWhenStderrIsIt) {
  WriteFile(log_, "");
  struct stat st{};
  ASSERT_EQ(stat(log_.c_str(), &st), 0);
  setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(), 1);
  {
    DaemonProcess daemon(repo_, socket_, log_);
    unsetenv("JOURNAL_STREAM");
    ASSERT_EQ(daemon.Kill(SIGTERM), 0);
  }
  EXPECT_EQ(ReadFile(log_).find("serving"), std::string::npos) << ReadFile(log_);
  DaemonProcess daemon(repo_, socket_, log_);
  ASSERT_EQ(daemon.Kill(SIGTERM), 0);
  EXPECT_NE(ReadFile(log_).find("serving"), std::string::npos) << ReadFile(log_);
}

}  // namespace
}  // namespace xgdb::test
