#include "support/daemon.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "server/client.h"
#include "support/paths.h"
#include "xgdb/error.h"

namespace xgdb::test {

DaemonProcess::DaemonProcess(const std::string& repo, const std::string& socket,
                             const std::string& log, std::vector<std::string> extra,
                             int max_files) {
  std::vector<std::string> args = {BinaryPath("xapi-gitdb"), "--repo", repo, "serve", "--socket",
                                   socket};
  args.insert(args.end(), extra.begin(), extra.end());
  std::fflush(stdout);
  pid_ = fork();
  if (pid_ == 0) {
    if (max_files > 0) {
      struct rlimit rl {static_cast<rlim_t>(max_files), static_cast<rlim_t>(max_files)};
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    FILE* out = freopen(log.c_str(), "a", stdout);
    if (out) dup2(fileno(stdout), 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Ready when the socket answers (or the process is gone).
  for (int i = 0; i < 200; ++i) {
    try {
      server::Connection::Unix(socket, 1000);
      return;
    } catch (const Error&) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ADD_FAILURE() << "daemon did not come up:\n" << ReadFile(log);
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) Kill(SIGKILL);
}

int DaemonProcess::OpenFiles() const {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

int DaemonProcess::Kill(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void DaemonTest::SetUp() {
  auto r = Cli("import " + ShellQuote(DataPath("state-5.82.xml")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

CommandResult RunCli(const std::string& repo, const std::string& args) {
  return Run(ShellQuote(BinaryPath("xapi-gitdb")) + " --repo " + ShellQuote(repo) + " " + args +
             " 2>&1");
}

std::string DaemonTest::Call(const nlohmann::json& call) const {
  return server::Connection::Unix(socket_).Call("/remote_db_access_v2", call.dump(), "", false)
      .body;
}

bool Eventually(const std::function<bool()>& done, int seconds) {
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
       std::chrono::steady_clock::now() < end;) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

}  // namespace xgdb::test
