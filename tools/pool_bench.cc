// xgdb-pool-bench: replication measured on a simulated pool (docs/replication.md,
// "Measurements"): `xapi-gitdb sim` runs N real daemons on this machine.
//
//   xgdb-pool-bench [--hosts 16] [--writes 40] [--low-rate 5] [--high-rate 50]
//                   [--fanout 4] [--no-fsync] [--tls] [--svg cdf.svg] [--dir DIR]
//
// Every host runs an Event_from long poll on VM; a write (one field of a
// random VM, from a random host) is "served everywhere" when the last host
// reported it. Phases:
//   reference  the writing host's own event (commit and event delivery
//              with no replication in between), in the same run
//   low, high  writes at the two rates: p50/p99 until every host serves
//              each, bytes on the wire per change per hop (above the
//              keepalive baseline), CPU-seconds per change per host, the
//              pool master's CPU against the mean
//   re-parent  an interior host killed (SIGKILL), then a write from one of
//              its children: time until every live host serves it
//   heal       a subtree stopped (SIGSTOP) while the rest writes, then
//              resumed: time until every host shows one master id
// The CDF of the low and high phases goes to --svg.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_sim.h"
#include "bench_util.h"
#include "server/client.h"
#include "xgdb/error.h"

namespace xgdb::bench {
namespace {

// Event_from watchers: when each host first served each value.
class Arrivals {
 public:
  explicit Arrivals(std::vector<Host>& hosts) : hosts_(hosts), seen_(hosts.size()) {
    for (size_t i = 0; i < hosts.size(); ++i) threads_.emplace_back([this, i] { Watch(i); });
  }
  ~Arrivals() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  // Seconds from `start` until each live host served `value` (-1: not yet).
  std::vector<double> Times(const std::string& value, Clock::time_point start) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<double> out;
    for (size_t i = 0; i < hosts_.size(); ++i) {
      if (!hosts_[i].alive) continue;
      auto it = seen_[i].find(value);
      out.push_back(it == seen_[i].end() ? -1
                                         : std::chrono::duration<double>(it->second - start).count());
    }
    return out;
  }
  // The time until every live host served `value`, waiting up to `limit_s`.
  double Everywhere(const std::string& value, Clock::time_point start, double limit_s) {
    while (true) {
      std::vector<double> t = Times(value, start);
      if (std::find(t.begin(), t.end(), -1.0) == t.end()) {
        return *std::max_element(t.begin(), t.end());
      }
      if (Seconds(start) > limit_s) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

 private:
  void Watch(size_t i) {
    std::string token = "";
    while (!stop_) {
      try {
        if (!hosts_[i].alive) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        nlohmann::json call = {"Event_from",
                               {{"classes", {"vm"}}, {"token", token}, {"timeout", 5.0}}};
        nlohmann::json r = Call(hosts_[i].socket, "/xapi_gitdb", call, 15000)[1];
        auto now = Clock::now();
        bool first = token.empty();
        std::string next = r.at("token");
        if (!first) {  // the first answer is the initial "add" of every VM
          std::lock_guard<std::mutex> lock(mu_);
          for (const auto& e : r.at("events")) {
            auto snapshot = e.find("snapshot");
            if (snapshot == e.end() || !snapshot->is_object()) continue;
            std::string v = snapshot->value("name__description", "");
            if (v.rfind("bench-", 0) == 0) seen_[i].emplace(v, now);
          }
        }
        token = next;  // only once every event of the answer is counted
      } catch (const std::exception& e) {
        std::fprintf(stderr, "watcher of host %zu: %s\n", i, e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

  std::vector<Host>& hosts_;
  std::mutex mu_;
  std::vector<std::map<std::string, Clock::time_point>> seen_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

struct Counters {
  uint64_t bytes_out = 0;
  std::vector<double> cpu;
};

Counters Snapshot(std::vector<Host>& hosts) {
  Counters c;
  for (Host& h : hosts) {
    c.cpu.push_back(h.alive ? CpuSeconds(h.pid) : 0);
    if (!h.alive) continue;
    nlohmann::json status = Status(h);
    for (const auto& p : status["peers"]) c.bytes_out += p["bytes_out"].get<uint64_t>();
  }
  return c;
}

struct Phase {
  std::string name;
  double rate = 0;
  std::vector<double> everywhere;  // seconds, per write
  double bytes_per_hop = 0, cpu_per_change_host = 0, master_cpu_ratio = 0;
};

std::string Value(int k) { return "bench-" + std::to_string(k); }

int Main(int argc, char** argv) {
  CLI::App app{"Replication on a simulated pool"};
  int hosts = 16, writes = 40, fanout = 4;
  double low_rate = 5, high_rate = 50;
  bool no_fsync = false, tls = false;
  std::string svg, dir;
  app.add_option("--hosts", hosts)->capture_default_str();
  app.add_option("--writes", writes, "writes per phase")->capture_default_str();
  app.add_option("--low-rate", low_rate, "writes per second")->capture_default_str();
  app.add_option("--high-rate", high_rate, "writes per second")->capture_default_str();
  app.add_option("--fanout", fanout)->capture_default_str();
  app.add_flag("--no-fsync", no_fsync);
  app.add_flag("--tls", tls, "the daemons talk TLS to each other (sim --tls)");
  app.add_option("--svg", svg, "write the convergence CDF here");
  app.add_option("--dir", dir, "empty directory for the pool (default: a new one in /tmp)");
  CLI11_PARSE(app, argc, argv);
  if (dir.empty()) {
    char tmpl[] = "/tmp/xgdb-pool-bench-XXXXXX";
    dir = std::string(mkdtemp(tmpl)) + "/pool";
  }
  std::string self(1024, '\0');
  self.resize(static_cast<size_t>(readlink("/proc/self/exe", self.data(), self.size())));
  std::string bin = self.substr(0, self.rfind('/')) + "/xapi-gitdb";

  auto started = Clock::now();
  Pool pool(bin, dir, hosts, fanout, 3 * writes + 64, no_fsync,
            tls ? std::vector<std::string>{"--tls"} : std::vector<std::string>{});
  std::vector<Host>& hs = pool.hosts();
  std::printf("pool of %d daemons up in %.1f s (%s)\n", hosts, Seconds(started), dir.c_str());
  if (pool.WaitConverged(60) < 0) throw Error(ErrorKind::kIo, "the pool did not converge");
  // Each host writes the VMs resident on it, as xapi does: a write to
  // another host's VM would be forwarded to it (measured apart, below).
  std::vector<std::vector<std::string>> owned(hs.size());
  for (size_t h = 0; h < hs.size(); ++h) {
    owned[h] = Call(hs[h].socket, "/remote_db_access_v2",
                    {"Read_field_where", {{"table", "VM"}, {"return", "_ref"},
                                          {"where_field", "resident_on"},
                                          {"where_value", hs[h].ref}}})[1];
    if (owned[h].empty()) throw Error(ErrorKind::kIo, "no VM is resident on " + hs[h].uuid);
  }
  Arrivals arrivals(hs);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // watchers took their first token
  std::mt19937 rng(7);
  int k = 0;
  std::vector<std::pair<std::string, std::string>> written;  // (vm, value)
  // Each VM is written once (a later write would hide an earlier one's
  // event) while its host has one left.
  std::vector<size_t> used(hs.size(), 0);
  std::map<std::string, std::pair<size_t, std::string>> writer_of;  // value -> (host, vm)
  auto write = [&](size_t host) {
    std::string vm = owned[host][used[host]++ % owned[host].size()];
    std::string value = Value(++k);
    writer_of[value] = {host, vm};
    written.emplace_back(vm, value);
    auto t0 = Clock::now();
    Call(hs[host].socket, "/remote_db_access_v2",
         {"Write_field", "VM", vm, "name__description", value});
    return std::make_pair(value, t0);
  };
  auto random_live = [&] {
    for (int tries = 0;; ++tries) {
      size_t h = std::uniform_int_distribution<size_t>(0, hs.size() - 1)(rng);
      if (hs[h].alive && (used[h] < owned[h].size() || tries > 1000)) return h;
    }
  };

  // Reference: the writer's own event, one write at a time.
  std::vector<double> local;
  for (int i = 0; i < 10; ++i) {
    size_t h = random_live();
    auto [value, t0] = write(h);
    arrivals.Everywhere(value, t0, 30);
    local.push_back(arrivals.Times(value, t0)[h]);
  }

  // Forwarded writes: a host writes another host's VM, which its owner
  // makes (docs/replication.md); the answer's time against a write of the
  // writer's own VM, alternately, one at a time.
  std::vector<double> own_call, forwarded_call;
  for (int i = 0; i < 10; ++i) {
    size_t writer = random_live(), owner = random_live();
    if (owner == writer) owner = (writer + 1) % hs.size();
    if (!hs[owner].alive) continue;
    for (size_t target : {writer, owner}) {
      std::string vm = owned[target][used[target]++ % owned[target].size()];
      std::string value = Value(++k);
      written.emplace_back(vm, value);
      auto t0 = Clock::now();
      Call(hs[writer].socket, "/remote_db_access_v2",
           {"Write_field", "VM", vm, "name__description", value});
      (target == writer ? own_call : forwarded_call).push_back(Seconds(t0));
      arrivals.Everywhere(value, t0, 30);
    }
  }

  // Keepalive traffic alone, as the baseline the phases are measured above.
  Counters idle0 = Snapshot(hs);
  auto idle_start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  double idle_s = Seconds(idle_start);
  Counters idle1 = Snapshot(hs);
  double baseline_bytes_per_s = static_cast<double>(idle1.bytes_out - idle0.bytes_out) / idle_s;
  double baseline_cpu_per_s = 0;
  for (size_t i = 0; i < hs.size(); ++i) baseline_cpu_per_s += idle1.cpu[i] - idle0.cpu[i];
  baseline_cpu_per_s /= idle_s;

  std::vector<Phase> phases;
  for (auto [name, rate] : {std::pair<const char*, double>{"low", low_rate}, {"high", high_rate}}) {
    Phase ph{name, rate, {}, 0, 0, 0};
    Counters c0 = Snapshot(hs);
    auto start = Clock::now();
    std::vector<std::pair<std::string, Clock::time_point>> sent;
    for (int i = 0; i < writes; ++i) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(
                                                static_cast<int64_t>(1e6 * i / rate)));
      sent.push_back(write(random_live()));
    }
    for (auto& [value, t0] : sent) {
      ph.everywhere.push_back(arrivals.Everywhere(value, t0, 60));
      if (ph.everywhere.back() < 0) {
        std::vector<double> t = arrivals.Times(value, t0);
        for (size_t i = 0; i < t.size(); ++i) {
          if (t[i] < 0) {
            std::fprintf(stderr, "%s (written on host %zu to %s) never reported by host %zu\n",
                         value.c_str(), writer_of[value].first, writer_of[value].second.c_str(), i);
          }
        }
      }
    }
    double span = Seconds(start);
    Counters c1 = Snapshot(hs);
    double bytes = static_cast<double>(c1.bytes_out - c0.bytes_out) - baseline_bytes_per_s * span;
    std::fprintf(stderr, "%s: %llu bytes out in %.1f s, keepalives %.0f/s\n", name,
                 static_cast<unsigned long long>(c1.bytes_out - c0.bytes_out), span,
                 baseline_bytes_per_s);
    ph.bytes_per_hop = bytes / writes / static_cast<double>(hosts - 1);
    double total_cpu = 0, master_cpu = 0;
    for (size_t i = 0; i < hs.size(); ++i) {
      double d = c1.cpu[i] - c0.cpu[i];
      total_cpu += d;
      if (hs[i].master) master_cpu = d;
    }
    ph.cpu_per_change_host =
        (total_cpu - baseline_cpu_per_s * span) / writes / static_cast<double>(hosts);
    ph.master_cpu_ratio = master_cpu / (total_cpu / static_cast<double>(hosts));
    phases.push_back(ph);
  }

  // Re-parent: kill the first interior host that is not the root, then
  // write from one of its children.
  double reparent = -1;
  size_t interior = 1;
  if (hosts > fanout + 1) {
    std::vector<size_t> order(hs.size());
    for (size_t i = 0; i < hs.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return hs[a].uuid < hs[b].uuid; });
    interior = order[1];
    size_t child = order[static_cast<size_t>(fanout) + 1];
    kill(hs[interior].pid, SIGKILL);
    hs[interior].alive = false;
    auto [value, t0] = write(child);
    reparent = arrivals.Everywhere(value, t0, 60);
  }

  // Heal: stop the second live host (by uuid) with its subtree, write on
  // the rest, resume; time until every host serves those writes and shows
  // one master id.
  double heal = -1;
  std::vector<size_t> live;
  for (size_t i = 0; i < hs.size(); ++i) {
    if (hs[i].alive) live.push_back(i);
  }
  std::sort(live.begin(), live.end(), [&](size_t a, size_t b) { return hs[a].uuid < hs[b].uuid; });
  if (live.size() >= 3) {
    std::vector<size_t> stopped = {live[1]};
    for (size_t c = static_cast<size_t>(fanout) + 1;
         c <= 2 * static_cast<size_t>(fanout) && c < live.size(); ++c) {
      stopped.push_back(live[c]);
    }
    for (size_t s : stopped) kill(hs[s].pid, SIGSTOP);
    for (size_t s : stopped) hs[s].alive = false;
    std::vector<std::pair<std::string, Clock::time_point>> during;
    for (int i = 0; i < 10; ++i) during.push_back(write(random_live()));
    for (auto& [value, t0] : during) arrivals.Everywhere(value, t0, 60);
    for (size_t s : stopped) hs[s].alive = true;
    auto t0 = Clock::now();
    for (size_t s : stopped) kill(hs[s].pid, SIGCONT);
    bool all = true;
    for (auto& [value, t] : during) all = all && arrivals.Everywhere(value, t0, 120) >= 0;
    heal = all && pool.WaitConverged(120) >= 0 ? Seconds(t0) : -1;
    std::printf("heal: %zu host(s) stopped while the others wrote\n", stopped.size());
  }

  // Every write on every host, read back at the end (a missing event and a
  // lost write look alike above; this tells them apart).
  int lost = 0;
  std::map<std::string, std::string> last_values(written.begin(), written.end());
  for (const auto& [vm, value] : written) last_values[vm] = value;
  for (const Host& h : hs) {
    if (!h.alive) continue;
    for (const auto& [vm, value] : last_values) {
      nlohmann::json r = Call(h.socket, "/remote_db_access_v2",
                              {"Read_field", "VM", "name__description", vm});
      if (r[1] != value && ++lost <= 5) {
        std::fprintf(stderr, "%s: %s is %s, not %s\n", h.uuid.c_str(), vm.c_str(),
                     r.dump().c_str(), value.c_str());
      }
    }
  }
  std::printf("\nhosts %d, fan-out %d, %d writes per phase, %s\n", hosts, fanout, writes,
              no_fsync ? "no fsync" : "fsync");
  std::printf("reference: the writer's own event    p50 %7.1f ms  p99 %7.1f ms\n",
              1000 * Percentile(local, 0.5), 1000 * Percentile(local, 0.99));
  std::printf("forwarded: a write to another host's VM answered in p50 %7.1f ms  (own VM: "
              "%.1f ms, %.1fx)\n",
              1000 * Percentile(forwarded_call, 0.5), 1000 * Percentile(own_call, 0.5),
              Percentile(forwarded_call, 0.5) / Percentile(own_call, 0.5));
  nlohmann::json summary = {{"hosts", hosts}, {"fanout", fanout}, {"writes", writes},
                            {"reference_p50_ms", 1000 * Percentile(local, 0.5)},
                            {"forwarded_call_p50_ms", 1000 * Percentile(forwarded_call, 0.5)},
                            {"own_call_p50_ms", 1000 * Percentile(own_call, 0.5)}};
  for (const Phase& ph : phases) {
    std::vector<double> ok;
    int lost = 0;
    for (double t : ph.everywhere) (t < 0 ? lost++ : (ok.push_back(t), 0));
    double p50 = Percentile(ok, 0.5), p99 = Percentile(ok, 0.99);
    std::printf(
        "%-4s %5.1f/s: served everywhere p50 %7.1f ms  p99 %7.1f ms  (%.1fx the reference)  "
        "%d not arrived\n"
        "              %.0f bytes per change per hop, %.2f ms CPU per change per host, "
        "master's CPU %.2fx the mean\n",
        ph.name.c_str(), ph.rate, 1000 * p50, 1000 * p99, p50 / Percentile(local, 0.5), lost,
        ph.bytes_per_hop, 1000 * ph.cpu_per_change_host, ph.master_cpu_ratio);
    summary[ph.name] = {{"rate", ph.rate},
                        {"p50_ms", 1000 * p50},
                        {"p99_ms", 1000 * p99},
                        {"not_arrived", lost},
                        {"bytes_per_change_per_hop", ph.bytes_per_hop},
                        {"cpu_ms_per_change_per_host", 1000 * ph.cpu_per_change_host},
                        {"master_cpu_vs_mean", ph.master_cpu_ratio}};
  }
  std::printf("re-parent: interior host killed, a child's write served everywhere in %.2f s\n",
              reparent);
  std::printf("heal: subtree stopped and resumed, one master id everywhere in %.2f s\n", heal);
  summary["reparent_s"] = reparent;
  summary["heal_s"] = heal;
  summary["writes_missing_at_the_end"] = lost;
  std::printf("writes not readable on some host at the end: %d (of %zu x %d hosts)\n", lost,
              written.size(), hosts);
  std::printf("%s\n", summary.dump().c_str());

  if (!svg.empty()) {
    std::ofstream out(svg);
    out << "<svg xmlns='http://www.w3.org/2000/svg' width='640' height='400' font-family='sans-serif' "
           "font-size='12'>\n<rect width='640' height='400' fill='white'/>\n";
    double max_ms = 1;
    for (const Phase& ph : phases) {
      for (double t : ph.everywhere) max_ms = std::max(max_ms, 1000 * t);
    }
    auto x = [&](double ms) { return 60 + 550 * ms / max_ms; };
    auto y = [&](double f) { return 360 - 320 * f; };
    out << "<line x1='60' y1='360' x2='610' y2='360' stroke='black'/>"
        << "<line x1='60' y1='40' x2='60' y2='360' stroke='black'/>\n"
        << "<text x='300' y='390'>ms until every host serves a write (max " << static_cast<int>(max_ms)
        << ")</text><text x='10' y='30'>fraction of writes, " << hosts << " hosts</text>\n";
    const char* colours[] = {"#1f77b4", "#d62728"};
    for (size_t p = 0; p < phases.size(); ++p) {
      std::vector<double> t;
      for (double v : phases[p].everywhere) {
        if (v >= 0) t.push_back(1000 * v);
      }
      std::sort(t.begin(), t.end());
      out << "<polyline fill='none' stroke='" << colours[p] << "' points='";
      for (size_t i = 0; i < t.size(); ++i) {
        out << x(t[i]) << "," << y(static_cast<double>(i + 1) / static_cast<double>(t.size())) << " ";
      }
      out << "'/>\n<text x='470' y='" << 300 + 16 * p << "' fill='" << colours[p] << "'>"
          << phases[p].name << " " << phases[p].rate << "/s</text>\n";
    }
    out << "</svg>\n";
    std::printf("CDF written to %s\n", svg.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace xgdb::bench

int main(int argc, char** argv) {
  try {
    return xgdb::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xgdb-pool-bench: %s\n", e.what());
    return 1;
  }
}
