// xgdb-lock-bench: the lock service measured on a simulated pool
// (docs/locks.md, docs/benchmarks.md "Locks"), with a 3-member etcd 3.4
// cluster on loopback as the reference in the same run when `etcd` is
// installed (Debian's etcd-server; the tests never need it).
//
//   xgdb-lock-bench [--hosts 3] [--grants 400] [--rounds 3] [--no-etcd] [--dir DIR]
//   xgdb-lock-bench --soak 1000 [--hosts 3] [--soak-ttl 1]   (lock_soak.h)
//
// Phases, for each system, alternating the two systems round by round:
//   1 client   acquire/release of distinct locks from one client: grant
//              latency p50/p99 (the acquire's round trip) and grants/s
//              (acquire and release pairs per second)
//   8 clients  the same from 8 clients spread over the hosts
//   fail-over  the leader killed (SIGKILL), then an acquire on a survivor:
//              time from the kill to the grant
// Ours: clients call each host's daemon on its unix socket, as SM would.
// etcd: clients hold a lease each and call the JSON gateway on keep-alive
// TCP connections (/v3/lock/lock, /v3/lock/unlock).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_sim.h"
#include "bench_util.h"
#include "lock_soak.h"
#include "server/client.h"
#include "xgdb/error.h"

namespace xgdb::bench {
namespace {

using json = nlohmann::json;

struct Result {
  std::vector<double> latency_ms;
  double seconds = 0;
};

// What the phases need of a lock service.
class System {
 public:
  virtual ~System() = default;
  virtual std::string Name() = 0;
  virtual size_t Members() = 0;
  // One client's session on member `m`: acquire (timed) then release.
  class Client {
   public:
    virtual ~Client() = default;
    // Returns the acquire's round trip in milliseconds.
    virtual double AcquireRelease(const std::string& name) = 0;
  };
  virtual std::unique_ptr<Client> Connect(size_t m) = 0;
  virtual size_t Leader() = 0;
  virtual void Kill(size_t m) = 0;
  // A grant on member m (waiting as long as it takes).
  virtual void AcquireOn(size_t m, const std::string& name) = 0;
};

// ---- ours ----

class Ours : public System {
 public:
  Ours(const std::string& bin, const std::string& dir, int hosts)
      : pool_(bin, dir, hosts, 4, hosts, false) {}
  std::string Name() override { return "xapi-gitdb"; }
  size_t Members() override { return pool_.hosts().size(); }

  class OursClient : public Client {
   public:
    explicit OursClient(const std::string& socket) : socket_(socket) {}
    double AcquireRelease(const std::string& name) override {
      auto t = Clock::now();
      json a = Call(socket_, "/xapi_gitdb", {"Lock_acquire", {{"name", name}, {"wait", 10}}});
      double ms = Ms(Clock::now() - t);
      if (!a.is_array() || a[0] != "Lock_acquire") throw Error(ErrorKind::kIo, a.dump());
      Call(socket_, "/xapi_gitdb", {"Lock_release", {{"name", name}, {"token", a[1]["token"]}}});
      return ms;
    }

   private:
    std::string socket_;
  };
  std::unique_ptr<Client> Connect(size_t m) override {
    return std::make_unique<OursClient>(pool_.hosts()[m].socket);
  }
  size_t Leader() override {
    for (int tries = 0; tries < 500; ++tries) {
      for (size_t i = 0; i < Members(); ++i) {
        if (!pool_.hosts()[i].alive) continue;
        json s = Call(pool_.hosts()[i].socket, "/xapi_gitdb", {"Lock_status", json::object()});
        if (s.is_array() && s[1].value("role", "") == "leader") return i;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw Error(ErrorKind::kIo, "no leader");
  }
  void Kill(size_t m) override { pool_.Kill(m); }
  void AcquireOn(size_t m, const std::string& name) override {
    json a = Call(pool_.hosts()[m].socket, "/xapi_gitdb",
                  {"Lock_acquire", {{"name", name}, {"wait", 30}}});
    if (!a.is_array() || a[0] != "Lock_acquire") throw Error(ErrorKind::kIo, a.dump());
  }

 private:
  Pool pool_;
};

// ---- etcd ----

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

class Etcd : public System {
 public:
  Etcd(const std::string& dir) {
    std::vector<uint16_t> ports;
    for (int i = 0; i < 6; ++i) ports.push_back(FreePort());
    std::string cluster;
    for (int i = 0; i < 3; ++i) {
      cluster += (i ? "," : "") + std::string("m") + std::to_string(i) + "=http://127.0.0.1:" +
                 std::to_string(ports[3 + i]);
    }
    for (int i = 0; i < 3; ++i) {
      client_ports_.push_back(ports[i]);
      std::string peer = "http://127.0.0.1:" + std::to_string(ports[3 + i]);
      std::string client = "http://127.0.0.1:" + std::to_string(ports[i]);
      std::vector<std::string> args = {"etcd", "--name", "m" + std::to_string(i), "--data-dir",
                                       dir + "/etcd" + std::to_string(i),
                                       "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
                                       peer, "--listen-client-urls", client,
                                       "--advertise-client-urls", client, "--initial-cluster",
                                       cluster, "--initial-cluster-state", "new",
                                       "--log-level", "error"};
      pid_t pid = fork();
      if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execvp("etcd", argv.data());
        _exit(127);
      }
      pids_.push_back(pid);
      alive_.push_back(true);
    }
    try {
      Leader();  // waits until the cluster has one
    } catch (...) {
      StopAll();  // a constructor that throws runs no destructor
      throw;
    }
  }
  ~Etcd() override { StopAll(); }
  void StopAll() {
    for (pid_t p : pids_) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
    pids_.clear();
  }
  std::string Name() override { return "etcd 3.4"; }
  size_t Members() override { return 3; }

  // xapi's framing has no Host header, which Go's HTTP server requires.
  static json Post(server::Connection& c, const std::string& path, const json& body) {
    std::string text = body.dump();
    c.Send("POST " + path + " HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: " +
           std::to_string(text.size()) + "\r\n\r\n" + text);
    server::Answer a = c.ReadAnswer();
    if (a.status != 200) throw Error(ErrorKind::kIo, path + ": " + a.body);
    return json::parse(a.body);
  }

  class EtcdClient : public Client {
   public:
    explicit EtcdClient(uint16_t port) : c_(server::Connection::Tcp("127.0.0.1", port, 30000)) {
      lease_ = Post(c_, "/v3/lease/grant", {{"TTL", 15}})["ID"].get<std::string>();
    }
    double AcquireRelease(const std::string& name) override {
      auto t = Clock::now();
      json l = Post(c_, "/v3/lock/lock", {{"name", Base64(name)}, {"lease", lease_}});
      double ms = Ms(Clock::now() - t);
      Post(c_, "/v3/lock/unlock", {{"key", l["key"]}});
      return ms;
    }

   private:
    server::Connection c_;
    std::string lease_;
  };
  std::unique_ptr<Client> Connect(size_t m) override {
    return std::make_unique<EtcdClient>(client_ports_[m]);
  }
  size_t Leader() override {
    for (int tries = 0; tries < 1500; ++tries) {
      for (size_t i = 0; i < 3; ++i) {
        if (!alive_[i]) continue;
        try {
          auto c = server::Connection::Tcp("127.0.0.1", client_ports_[i], 1000);
          json s = Post(c, "/v3/maintenance/status", json::object());
          if (s.contains("leader") && s["leader"] == s["header"]["member_id"]) return i;
        } catch (const std::exception&) {
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw Error(ErrorKind::kIo, "etcd elected no leader");
  }
  void Kill(size_t m) override {
    kill(pids_[m], SIGKILL);
    alive_[m] = false;
  }
  void AcquireOn(size_t m, const std::string& name) override {
    for (;;) {  // until a leader answers
      try {
        EtcdClient(client_ports_[m]).AcquireRelease(name);
        return;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

 private:
  static uint16_t FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }
  std::vector<uint16_t> client_ports_;
  std::vector<pid_t> pids_;
  std::vector<bool> alive_;
};

// ---- phases ----

Result Grants(System& system, int clients, int grants, const std::string& tag) {
  std::vector<std::unique_ptr<System::Client>> sessions;
  for (int c = 0; c < clients; ++c) sessions.push_back(system.Connect(c % system.Members()));
  Result r;
  std::mutex mu;
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::vector<double> mine;
      for (int k = c; k < grants; k += clients) {
        mine.push_back(sessions[c]->AcquireRelease(tag + "-" + std::to_string(k)));
      }
      std::lock_guard<std::mutex> lock(mu);
      r.latency_ms.insert(r.latency_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  r.seconds = Seconds(start);
  return r;
}

double Failover(System& system) {
  size_t leader = system.Leader();
  size_t survivor = (leader + 1) % system.Members();
  auto killed = Clock::now();
  system.Kill(leader);
  system.AcquireOn(survivor, "after-failover");
  return Seconds(killed);
}

struct Figures {
  std::vector<double> p50_1, p99_1, rate_1, p50_8, p99_8, rate_8, failover;
};

void Measure(System& system, Figures& f, int grants, int round) {
  std::string tag = system.Name().substr(0, 4) + std::to_string(round);
  Result one = Grants(system, 1, grants, tag + "a");
  Result eight = Grants(system, 8, grants, tag + "b");
  f.p50_1.push_back(Percentile(one.latency_ms, 0.5));
  f.p99_1.push_back(Percentile(one.latency_ms, 0.99));
  f.rate_1.push_back(grants / one.seconds);
  f.p50_8.push_back(Percentile(eight.latency_ms, 0.5));
  f.p99_8.push_back(Percentile(eight.latency_ms, 0.99));
  f.rate_8.push_back(grants / eight.seconds);
  std::printf("  round %d %-10s 1 client p50 %.2f ms p99 %.2f ms %.0f/s; 8 clients p50 %.2f ms "
              "p99 %.2f ms %.0f/s\n",
              round, system.Name().c_str(), f.p50_1.back(), f.p99_1.back(), f.rate_1.back(),
              f.p50_8.back(), f.p99_8.back(), f.rate_8.back());
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  CLI::App app{"xgdb-lock-bench: lock service grant latency and fail-over"};
  int hosts = 3, grants = 400, rounds = 3;
  bool no_etcd = false;
  std::string dir;
  app.add_option("--hosts", hosts, "Daemons in the simulated pool")->capture_default_str();
  app.add_option("--grants", grants, "Grants per phase")->capture_default_str();
  app.add_option("--rounds", rounds, "Rounds (medians are reported)")->capture_default_str();
  app.add_flag("--no-etcd", no_etcd, "Skip the etcd reference");
  app.add_option("--dir", dir, "Scratch directory (default: a new one in /tmp)");
  int soak = 0;
  double soak_ttl = 1;
  app.add_option("--soak", soak, "Instead: this many kill/stop cycles, counting double grants");
  app.add_option("--soak-ttl", soak_ttl, "The soak's lock TTL in seconds")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (dir.empty()) {
    char tmpl[] = "/tmp/xgdb-lock-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  std::string bin = std::filesystem::canonical("/proc/self/exe").parent_path() / "xapi-gitdb";
  signal(SIGPIPE, SIG_IGN);
  if (soak > 0) {
    auto start = Clock::now();
    SoakReport r = Soak(bin, dir, hosts, soak, soak_ttl);
    std::printf("\nsoak: %d cycles (%d with a grant after the fault within 30 s) in %.0f s, "
                "%d hosts, TTL %.1f s\n"
                "  grants %zu, double grants %zu, releases that found the grant expired %zu, "
                "calls failed by a fault %zu\n"
                "  fault healed -> next grant: p50 %.2f s, p99 %.2f s, max %.2f s\n",
                r.cycles, r.recovered, Seconds(start), hosts, soak_ttl, r.grants, r.double_grants,
                r.expired_while_paused, r.failed_calls, Percentile(r.recovery_s, 0.5),
                Percentile(r.recovery_s, 0.99),
                r.recovery_s.empty() ? 0 : *std::max_element(r.recovery_s.begin(), r.recovery_s.end()));
    return r.double_grants == 0 && r.recovered == r.cycles ? 0 : 1;
  }
  bool etcd = !no_etcd && std::system("command -v etcd >/dev/null 2>&1") == 0;
  if (!no_etcd && !etcd) {
    std::printf("etcd not found (apt-get install etcd-server): no reference\n");
  }
  Figures ours, theirs;
  for (int round = 0; round < rounds; ++round) {
    std::string rdir = dir + "/round" + std::to_string(round);
    std::filesystem::create_directories(rdir);
    {
      Ours system(bin, rdir + "/sim", hosts);
      system.Leader();
      Measure(system, ours, grants, round);
      ours.failover.push_back(Failover(system));
    }
    if (etcd) {
      Etcd system(rdir);
      Measure(system, theirs, grants, round);
      theirs.failover.push_back(Failover(system));
    }
  }
  auto row = [&](const char* what, const std::vector<double>& a, const std::vector<double>& b,
                 const char* unit) {
    if (etcd) {
      std::printf("%-28s %10.2f %10.2f %8.2fx  %s\n", what, Median(a), Median(b),
                  Median(b) > 0 ? Median(a) / Median(b) : 0, unit);
    } else {
      std::printf("%-28s %10.2f  %s\n", what, Median(a), unit);
    }
  };
  std::printf("\nmedians of %d rounds, %d hosts (%s)\n", rounds, hosts,
              etcd ? "xapi-gitdb, etcd 3.4 (3 members), ratio" : "xapi-gitdb");
  row("grant p50, 1 client", ours.p50_1, theirs.p50_1, "ms");
  row("grant p99, 1 client", ours.p99_1, theirs.p99_1, "ms");
  row("grants/s, 1 client", ours.rate_1, theirs.rate_1, "/s");
  row("grant p50, 8 clients", ours.p50_8, theirs.p50_8, "ms");
  row("grant p99, 8 clients", ours.p99_8, theirs.p99_8, "ms");
  row("grants/s, 8 clients", ours.rate_8, theirs.rate_8, "/s");
  row("fail-over (kill -> grant)", ours.failover, theirs.failover, "s");
  return 0;
}

}  // namespace
}  // namespace xgdb::bench

int main(int argc, char** argv) {
  try {
    return xgdb::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xgdb-lock-bench: %s\n", e.what());
    return 1;
  }
}
