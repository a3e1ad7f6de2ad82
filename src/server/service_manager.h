// Telling systemd how the daemon is doing (a unit of Type=notify, with
// WatchdogSec): READY=1 once it serves, WATCHDOG=1 while it is alive,
// STOPPING=1 when it stops. Outside systemd ($NOTIFY_SOCKET unset) every
// call does nothing. Through libsystemd's sd_notify.
#ifndef XGDB_SERVER_SERVICE_MANAGER_H_
#define XGDB_SERVER_SERVICE_MANAGER_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace xgdb::server {

// When systemd connected stderr to the journal ($JOURNAL_STREAM names
// stderr's device and inode), logs go to the journal with their levels as
// priorities (one entry per line, SYSLOG_IDENTIFIER xapi-gitdb); otherwise
// they stay on stderr.
void LogToJournalWhenRunBySystemd();

class ServiceManager {
 public:
  // `alive` runs before each watchdog ping, on the watchdog's thread: it
  // should touch what a hung daemon would block on (the database's lock);
  // while it blocks no ping is sent, and systemd restarts the daemon.
  explicit ServiceManager(std::function<void()> alive);
  ~ServiceManager();  // stops the watchdog
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  // The daemon serves: READY=1 with `status`, and the watchdog starts when
  // the unit has one (pinging at half its interval).
  void Ready(const std::string& status);
  // The daemon stops: STOPPING=1; the watchdog stops too.
  void Stopping();

 private:
  void StopWatchdog();

  std::function<void()> alive_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread watchdog_;
};

}  // namespace xgdb::server

#endif  // XGDB_SERVER_SERVICE_MANAGER_H_
