#include "server/service_manager.h"

#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

namespace xgdb::server {

void LogToJournalWhenRunBySystemd() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st{};
  if (stream == nullptr || fstat(STDERR_FILENO, &st) != 0) return;
  std::string self = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  if (self != stream) return;  // stderr was redirected since
  auto sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("xapi-gitdb");
  auto logger = std::make_shared<spdlog::logger>("xapi-gitdb", sink);
  logger->set_pattern("%v");  // the journal keeps time and level itself
  spdlog::set_default_logger(std::move(logger));
}

ServiceManager::ServiceManager(std::function<void()> alive) : alive_(std::move(alive)) {}

ServiceManager::~ServiceManager() { StopWatchdog(); }

void ServiceManager::Ready(const std::string& status) {
  int rc = sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
  if (rc < 0) spdlog::warn("telling systemd the daemon is ready failed: {}", -rc);
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  spdlog::info("systemd watchdog: a ping every {} ms", usec / 2000);
  watchdog_ = std::thread([this, interval = std::chrono::microseconds(usec / 2)] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      alive_();
      sd_notify(0, "WATCHDOG=1");
      lock.lock();
      cv_.wait_for(lock, interval, [this] { return stop_; });
    }
  });
}

void ServiceManager::Stopping() {
  StopWatchdog();
  sd_notify(0, "STOPPING=1");
}

void ServiceManager::StopWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

}  // namespace xgdb::server
