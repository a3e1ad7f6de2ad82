#include "support/sim_pool.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "server/client.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::test {

SimPool::SimPool(const std::string& dir, int hosts, const std::vector<std::string>& extra)
    : dir_(dir) {
  int out[2];
  if (pipe(out) != 0) {
    ADD_FAILURE() << "pipe failed";
    return;
  }
  std::vector<std::string> args = {BinaryPath("xapi-gitdb"), "sim", "--hosts",
                                   std::to_string(hosts), "--dir", dir + "/pool", "--no-fsync"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::fflush(stdout);
  sim_pid_ = fork();
  if (sim_pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // a test that dies takes its pool along
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    FILE* err = freopen((dir + "/sim.err").c_str(), "a", stderr);
    (void)err;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  FILE* lines = fdopen(out[0], "r");
  char* line = nullptr;
  size_t cap = 0;
  while (hosts_.size() < static_cast<size_t>(hosts) && getline(&line, &cap, lines) > 0) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    SimHost h;
    h.ref = j["host"];
    h.uuid = j["uuid"];
    h.socket = j["socket"];
    h.peer = j["peer"];
    h.repo = j["repo"];
    h.metrics = j.value("metrics", "");
    h.pid = j["pid"];
    h.master = j["master"];
    h.argv = j["argv"].get<std::vector<std::string>>();
    hosts_.push_back(std::move(h));
  }
  free(line);
  fclose(lines);
  ok_ = hosts_.size() == static_cast<size_t>(hosts);
  if (!ok_) ADD_FAILURE() << "sim did not start:\n" << ReadFile(dir + "/sim.err");
}

SimPool::~SimPool() {
  restarted_.clear();  // SIGKILL: their repositories are thrown away
  if (sim_pid_ > 0) {
    ::kill(sim_pid_, SIGTERM);
    for (const SimHost& h : hosts_) ::kill(h.pid, SIGCONT);  // a stopped one cannot stop
    waitpid(sim_pid_, nullptr, 0);
  }
}

nlohmann::json SimPool::Call(size_t i, const nlohmann::json& call, const std::string& task) const {
  try {
    server::Connection c = server::Connection::Unix(hosts_[i].socket, 5000);
    std::string body = call.dump();
    c.Send("POST /remote_db_access_v2 HTTP/1.1\r\n" +
           (task.empty() ? "" : "x-xgdb-task: " + task + "\r\n") +
           "content-length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    return nlohmann::json::parse(c.ReadAnswer().body, nullptr, false);
  } catch (const Error&) {
    return nullptr;
  }
}

nlohmann::json SimPool::Ours(size_t i, const nlohmann::json& call, int timeout_ms) const {
  try {
    server::Answer a = server::Connection::Unix(hosts_[i].socket, timeout_ms)
                           .Call("/xapi_gitdb", call.dump(), "", false);
    return nlohmann::json::parse(a.body, nullptr, false);
  } catch (const Error&) {
    return nullptr;
  }
}

std::string SimPool::ReadField(size_t i, const std::string& table, const std::string& field,
                               const std::string& ref) const {
  nlohmann::json a = Call(i, {"Read_field", table, field, ref});
  if (!a.is_array() || a.size() != 2 || a[0] != "Read_field" || !a[1].is_string()) return "";
  return a[1];
}

void SimPool::WriteField(size_t i, const std::string& table, const std::string& ref,
                         const std::string& field, const std::string& value) const {
  nlohmann::json a = Call(i, {"Write_field", table, ref, field, value});
  EXPECT_EQ(a, nlohmann::json::parse(R"(["Write_field",null])")) << "host " << i;
}

std::string SimPool::LastCommitOf(size_t i, const std::string& table, const std::string& ref) const {
  return Run("git -C " + ShellQuote(hosts_[i].repo) + " log -1 --format=%B master -- " +
             ShellQuote(Store::ObjectPath(table, ref)))
      .output;
}

std::string SimPool::OwnedVm(size_t i) const {
  nlohmann::json a = Call(i, {"Read_field_where",
                              {{"table", "VM"}, {"return", "_ref"}, {"where_field", "resident_on"},
                               {"where_value", hosts_[i].ref}}});
  return a.is_array() && a.size() == 2 && !a[1].empty() ? a[1][0].get<std::string>() : "";
}

std::string SimPool::Master(size_t i) const {
  nlohmann::json j = Ours(i, {"Peer_list", nlohmann::json::object()}, 5000);
  return j.is_array() && j.size() == 2 ? j[1].value("master", "") : "";
}

std::string SimPool::WriteAtOnceAndSettle(const std::string& table, const std::string& ref,
                                          const std::string& field,
                                          const std::string& prefix) const {
  std::vector<std::thread> writers;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    writers.emplace_back(
        [&, i] { WriteField(i, table, ref, field, prefix + " host " + std::to_string(i)); });
  }
  for (auto& t : writers) t.join();
  std::string value;
  bool settled = Eventually(
      [&] {
        value = ReadField(0, table, field, ref);
        if (value.rfind(prefix + " ", 0) != 0) return false;
        for (size_t i = 1; i < hosts_.size(); ++i) {
          if (ReadField(i, table, field, ref) != value) return false;
        }
        return Converged();
      },
      30);
  return settled ? value : "";
}

bool SimPool::Converged(const std::vector<size_t>& live) const {
  std::vector<size_t> which = live;
  if (which.empty()) {
    for (size_t i = 0; i < hosts_.size(); ++i) which.push_back(i);
  }
  nlohmann::json first;
  for (size_t i : which) {
    nlohmann::json j = Ours(i, {"Peer_list", nlohmann::json::object()}, 5000);
    if (!j.is_array() || j.size() != 2) return false;
    nlohmann::json view = {j[1]["master"], j[1]["heads"]};
    if (first.is_null()) {
      first = view;
    } else if (view != first) {
      return false;
    }
  }
  return true;
}

void SimPool::Signal(size_t i, int sig) const { ::kill(hosts_[i].pid, sig); }

void SimPool::Kill(size_t i) {
  ::kill(hosts_[i].pid, SIGKILL);
  // sim reaps its children only when it stops: gone means a zombie.
  std::string stat = "/proc/" + std::to_string(hosts_[i].pid) + "/stat";
  Eventually([&] {
    std::ifstream in(stat);
    std::string pid, comm, state;
    in >> pid >> comm >> state;
    return !in || state == "Z";
  });
  for (auto& d : restarted_) {
    if (d && d->pid() == hosts_[i].pid) d->Kill(SIGKILL);
  }
}

void SimPool::Restart(size_t i) {
  SimHost& h = hosts_[i];
  // argv: xapi-gitdb --repo R serve --socket S <rest>
  std::vector<std::string> rest(h.argv.begin() + 6, h.argv.end());
  restarted_.push_back(std::make_unique<DaemonProcess>(h.repo, h.socket,
                                                       dir_ + "/restarted.log", rest));
  h.pid = restarted_.back()->pid();
}

}  // namespace xgdb::test
