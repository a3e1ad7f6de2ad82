// A `xapi-gitdb sim` pool for the benchmark tools: starts it, reads its
// JSON lines, calls its daemons over their unix sockets. Header-only, like
// bench_util.h (every tools/*.cc is its own executable).
#ifndef XGDB_TOOLS_BENCH_SIM_H_
#define XGDB_TOOLS_BENCH_SIM_H_

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "server/client.h"
#include "xgdb/error.h"

namespace xgdb::bench {

struct Host {
  std::string ref, uuid, socket;
  std::vector<std::string> argv;  // how sim started its daemon
  pid_t pid = -1;
  bool master = false;
  bool alive = true;
};

inline nlohmann::json Call(const std::string& socket, const std::string& path,
                    const nlohmann::json& call, int timeout_ms = 60000) {
  server::Answer a =
      server::Connection::Unix(socket, timeout_ms).Call(path, call.dump(), "", false);
  return nlohmann::json::parse(a.body, nullptr, false);
}

inline nlohmann::json Status(const Host& h) {
  return Call(h.socket, "/xapi_gitdb", {"Peer_list", nlohmann::json::object()})[1];
}

inline double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::vector<std::string> f;
  for (std::string x; rest >> x;) f.push_back(x);
  if (f.size() < 13) return 0;
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

class Pool {
 public:
  // `sim_flags`: more of sim's flags (--tls...).
  Pool(const std::string& bin, const std::string& dir, int hosts, int fanout, int vms,
       bool no_fsync, const std::vector<std::string>& sim_flags = {}) {
    int out[2];
    if (pipe(out) != 0) throw Error(ErrorKind::kIo, "pipe");
    // Enough VMs that no two writes of a run touch the same one (a later
    // write would hide an earlier one's event).
    std::vector<std::string> args = {bin, "sim", "--hosts", std::to_string(hosts), "--dir", dir,
                                     "--fanout", std::to_string(fanout), "--vms",
                                     std::to_string(vms)};
    if (no_fsync) args.push_back("--no-fsync");
    args.insert(args.end(), sim_flags.begin(), sim_flags.end());
    sim_ = fork();
    if (sim_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // a benchmark that dies takes its pool along
      dup2(out[1], 1);
      close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    FILE* in = fdopen(out[0], "r");
    char* line = nullptr;
    size_t cap = 0;
    while (hosts_.size() < static_cast<size_t>(hosts) && getline(&line, &cap, in) > 0) {
      nlohmann::json j = nlohmann::json::parse(line);
      hosts_.push_back({j["host"], j["uuid"], j["socket"], j["argv"], j["pid"], j["master"]});
    }
    free(line);
    fclose(in);
    if (hosts_.size() != static_cast<size_t>(hosts)) throw Error(ErrorKind::kIo, "sim failed");
  }
  ~Pool() {
    for (Host& h : hosts_) kill(h.pid, SIGCONT);
    kill(sim_, SIGTERM);
    waitpid(sim_, nullptr, 0);
    for (pid_t pid : restarted_) {  // not sim's children: stopped here
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
  std::vector<Host>& hosts() { return hosts_; }

  // SIGKILL to host i's daemon, reaped when it was restarted here.
  void Kill(size_t i) {
    Host& h = hosts_[i];
    kill(h.pid, SIGKILL);
    if (std::erase(restarted_, h.pid) > 0) waitpid(h.pid, nullptr, 0);
    h.alive = false;
  }
  // Starts host i's daemon again as sim started it, its output appended to
  // `log`; returns once its socket answers (or after 30 s).
  void Restart(size_t i, const std::string& log) {
    Host& h = hosts_[i];
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      FILE* out = std::fopen(log.c_str(), "a");
      if (out != nullptr) {
        dup2(fileno(out), 1);
        dup2(fileno(out), 2);
      }
      std::vector<char*> argv;
      for (auto& a : h.argv) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    restarted_.push_back(pid);
    h.pid = pid;
    h.alive = true;
    for (int tries = 0; tries < 1500; ++tries) {
      try {
        server::Connection::Unix(h.socket, 1000);
        return;
      } catch (const Error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

  // Whether every live host shows the same master and heads.
  bool Converged() {
    nlohmann::json first;
    for (Host& h : hosts_) {
      if (!h.alive) continue;
      try {
        nlohmann::json s = Status(h);
        nlohmann::json view = {s["master"], s["heads"]};
        if (first.is_null()) first = view;
        if (view != first) return false;
      } catch (const Error&) {
        return false;
      }
    }
    return true;
  }
  double WaitConverged(double limit_s) {
    auto start = Clock::now();
    while (!Converged()) {
      if (Seconds(start) > limit_s) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Seconds(start);
  }

 private:
  pid_t sim_ = -1;
  std::vector<Host> hosts_;
  std::vector<pid_t> restarted_;
};

}  // namespace xgdb::bench

#endif  // XGDB_TOOLS_BENCH_SIM_H_
