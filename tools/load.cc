// xgdb-load: drives a running `xapi-gitdb serve` over its unix socket with
// N persistent connections sending v1 framed requests exactly as xapi's
// client does, and prints requests/s and p50/p99 latency per call. In the
// same run it measures the same load against an in-process HttpServer that
// answers a constant reply (no database work), so our throughput is shown
// as a fraction of what the transport alone can do on this machine.
//
//   xgdb-load --socket /run/xapi-gitdb.sock --connections 1,8,64 --seconds 5
//
// The mix's calls use table VM and its name__label column; create_row sends
// the columns of the protocol vectors' fixture schema (tests/data/vectors),
// so a daemon serving that fixture answers every call with success.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "bench_util.h"
#include "server/client.h"
#include "server/http_server.h"
#include "xgdb/error.h"
#include "xgdb/schema.h"

namespace {

using xgdb::bench::Clock;
using xgdb::bench::Percentile;
using xgdb::server::Connection;

std::string V(const std::string& s) { return "<value>" + s + "</value>"; }
std::string Arr(const std::string& items) { return "<value><array><data>" + items + "</data></array></value>"; }
std::string Call(const std::string& fn, const std::string& arg) {
  return Arr(V(fn) + "<value/>" + arg);
}

struct Op {
  std::string name;
  int weight;
};

// What the calls work on: VM refs found on the daemon, the uuid
// read_records_where looks for (it scans the whole VM table whatever it
// finds), and the columns create_row must give because the schema has no
// default for them.
struct Workload {
  std::vector<std::string> refs;
  std::string uuid;
  std::vector<std::pair<std::string, std::string>> required;
};

// Request bodies for one call, varied by a counter so writes differ.
std::string Body(const std::string& op, const Workload& work, uint64_t n, int worker) {
  const std::string& uuid = work.uuid;
  const std::string& ref = work.refs[n % work.refs.size()];
  if (op == "read_field") return Call("read_field", Arr(V("VM") + V("name__label") + V(ref)));
  if (op == "read_record") return Call("read_record", Arr(V("VM") + V(ref)));
  if (op == "read_records_where") {
    return Call("read_records_where",
                Arr(V("VM") + Arr(V("eq") + Arr(V("field") + V("uuid")) +
                                  Arr(V("literal") + V(uuid)))));
  }
  if (op == "write_field") {
    return Call("write_field", Arr(V("VM") + V(ref) + V("name__label") +
                                   V("load " + std::to_string(n))));
  }
  // create_row: a fresh ref per call.
  std::string id = std::to_string(getpid()) + "-" + std::to_string(worker) + "-" + std::to_string(n);
  auto kv = [](const std::string& k, const std::string& v) { return Arr(V(k) + V(v)); };
  std::string fields = kv("uuid", "load-" + id) + kv("name__label", "load") +
                       kv("name__description", "") + kv("tags", "()") + kv("other_config", "()");
  for (const auto& [name, value] : work.required) fields += kv(name, value);
  return Call("create_row", Arr(V("VM") + Arr(fields) + V("OpaqueRef:load-" + id)));
}

struct Result {
  std::map<std::string, std::vector<double>> latency_us;  // per op
  uint64_t requests = 0, failures = 0;
  double seconds = 0;
};

Result Drive(const std::string& socket, int connections, double seconds,
             const std::vector<Op>& mix, const Workload& work) {
  std::vector<Result> parts(static_cast<size_t>(connections));
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  int total_weight = 0;
  for (const Op& o : mix) total_weight += o.weight;
  auto start = Clock::now();
  auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int w = 0; w < connections; ++w) {
    threads.emplace_back([&, w] {
      Result& r = parts[static_cast<size_t>(w)];
      std::mt19937 rng(static_cast<unsigned>(w) * 7919u + 1);
      try {
        Connection c = Connection::Unix(socket, 30000);
        while (!go.load()) std::this_thread::yield();
        for (uint64_t n = 0; Clock::now() < end; ++n) {
          int pick = static_cast<int>(rng() % static_cast<unsigned>(total_weight));
          const Op* op = &mix[0];
          for (const Op& o : mix) {
            if (pick < o.weight) { op = &o; break; }
            pick -= o.weight;
          }
          std::string body = Body(op->name, work, n, w);
          auto t0 = Clock::now();
          xgdb::server::Answer a = c.Call("/remote_db_access", body);
          auto t1 = Clock::now();
          ++r.requests;
          if (a.status != 200 || a.body.find("<value>success</value>") == std::string::npos) {
            ++r.failures;
          }
          r.latency_us[op->name].push_back(
              std::chrono::duration<double, std::micro>(t1 - t0).count());
          if (a.status != 200) c = Connection::Unix(socket, 30000);
        }
      } catch (const std::exception& e) {
        spdlog::error("connection {}: {}", w, e.what());
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  Result all;
  all.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (Result& r : parts) {
    all.requests += r.requests;
    all.failures += r.failures;
    for (auto& [op, v] : r.latency_us) {
      auto& dst = all.latency_us[op];
      dst.insert(dst.end(), v.begin(), v.end());
    }
  }
  return all;
}

std::vector<Op> ParseMix(const std::string& text) {
  std::vector<Op> mix;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t eq = item.find('=');
    Op op{item.substr(0, eq), eq == std::string::npos ? 1 : std::stoi(item.substr(eq + 1))};
    static const char* kKnown[] = {"read_field", "read_record", "read_records_where",
                                   "write_field", "create_row"};
    if (std::find(std::begin(kKnown), std::end(kKnown), op.name) == std::end(kKnown)) {
      throw std::runtime_error("unknown call in --mix: " + op.name);
    }
    if (op.weight > 0) mix.push_back(op);
  }
  if (mix.empty()) throw std::runtime_error("--mix is empty");
  return mix;
}

// Fills what --refs and --schema left open by asking the daemon (v2).
void Discover(const std::string& socket, const std::string& schema_name, Workload* work) {
  Connection c = Connection::Unix(socket, 30000);
  auto ask = [&c](const nlohmann::json& request) {
    xgdb::server::Answer a = c.Call("/remote_db_access_v2", request.dump());
    nlohmann::json reply = nlohmann::json::parse(a.body);
    if (a.status != 200 || reply.at(0) != request.at(0)) {
      throw std::runtime_error("daemon answered " + a.body.substr(0, 200));
    }
    return reply.at(1);
  };
  if (work->refs.empty()) {
    nlohmann::json refs = ask({"Read_refs", "VM"});
    for (size_t i = 0; i < refs.size() && i < 200; ++i) work->refs.push_back(refs[i]);
    if (work->refs.empty()) throw std::runtime_error("the daemon has no VM to read");
  }
  work->uuid = ask({"Read_field", "VM", "uuid", work->refs[0]}).get<std::string>();
  if (schema_name.empty()) return;
  std::shared_ptr<const xgdb::Schema> schema;
  int major = 0, minor = 0;
  if (std::sscanf(schema_name.c_str(), "%d.%d", &major, &minor) == 2) {
    schema = xgdb::Schema::Builtin(major, minor);
  }
  if (!schema) schema = xgdb::Schema::LoadFile(schema_name);
  const xgdb::Table* vm = schema->FindTable("VM");
  if (vm == nullptr) throw std::runtime_error("schema has no VM table");
  for (const xgdb::Column& col : vm->columns) {
    if (!col.default_value && col.name != "_ref" && col.name != "uuid" &&
        col.name != "name__label" && col.name != "name__description") {
      work->required.emplace_back(col.name, col.empty);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Load generator for xapi-gitdb serve (v1 framed requests over the unix socket)"};
  std::string socket = "/var/run/xapi-gitdb.sock";
  std::string connections_text = "1,8,64";
  double seconds = 5;
  std::string mix_text = "read_field=40,read_record=20,read_records_where=10,write_field=20,create_row=10";
  std::string refs_text;
  std::string schema_name;
  bool no_ceiling = false;
  app.add_option("--socket", socket, "The daemon's unix socket")->capture_default_str();
  app.add_option("--connections", connections_text, "Connection counts to run, comma-separated")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "Duration of each run")->capture_default_str();
  app.add_option("--mix", mix_text, "Calls and weights")->capture_default_str();
  app.add_option("--refs", refs_text,
                 "VM refs the reads and writes use (default: the first 200 the daemon lists)");
  app.add_option("--schema", schema_name,
                 "The daemon's schema (file or version, e.g. 5.909): create_row then gives "
                 "every column that has no default")
      ->type_name("FILE|VERSION");
  app.add_flag("--no-ceiling", no_ceiling, "Skip the constant-reply reference server");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  std::vector<Op> mix;
  std::vector<int> counts;
  Workload work;
  try {
    mix = ParseMix(mix_text);
    std::stringstream cs(connections_text);
    for (std::string item; std::getline(cs, item, ',');) counts.push_back(std::stoi(item));
    std::stringstream rs(refs_text);
    for (std::string item; std::getline(rs, item, ',');) work.refs.push_back(item);
    Discover(socket, schema_name, &work);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xgdb-load: %s\n", e.what());
    return 2;
  }

  // The reference: the same transport answering a constant success.
  char dir_template[] = "/tmp/xgdb-load-XXXXXX";
  std::string ceiling_socket;
  std::unique_ptr<xgdb::server::HttpServer> ceiling;
  if (!no_ceiling && mkdtemp(dir_template) != nullptr) {
    ceiling_socket = std::string(dir_template) + "/ceiling.sock";
    xgdb::server::ServerOptions o;
    o.unix_socket = ceiling_socket;
    const std::string reply = Arr(V("success") + "<value/>");
    ceiling = std::make_unique<xgdb::server::HttpServer>(
        o, xgdb::server::Synchronous([reply](const xgdb::server::Request&) {
          return xgdb::rpc::RpcResult{200, reply, ""};
        }));
    ceiling->Start();
  }

  std::printf("%-12s %-20s %10s %10s %10s %10s\n", "connections", "call", "req/s", "p50 us",
              "p99 us", "failed");
  for (int n : counts) {
    Result r = Drive(socket, n, seconds, mix, work);
    double total_rate = static_cast<double>(r.requests) / r.seconds;
    for (auto& [op, v] : r.latency_us) {
      std::printf("%-12d %-20s %10.0f %10.0f %10.0f %10s\n", n, op.c_str(),
                  static_cast<double>(v.size()) / r.seconds, Percentile(v, 0.50),
                  Percentile(v, 0.99), "");
    }
    std::printf("%-12d %-20s %10.0f %10s %10s %10llu\n", n, "ALL", total_rate, "", "",
                static_cast<unsigned long long>(r.failures));
    if (ceiling) {
      Result c = Drive(ceiling_socket, n, seconds, mix, work);
      double ceiling_rate = static_cast<double>(c.requests) / c.seconds;
      std::printf("%-12d %-20s %10.0f   -> ours = %.0f%% of the transport ceiling\n", n,
                  "CEILING(constant)", ceiling_rate,
                  ceiling_rate > 0 ? 100.0 * total_rate / ceiling_rate : 0.0);
    }
    std::fflush(stdout);
  }
  if (ceiling) {
    ceiling->Stop();
    ::rmdir(dir_template);
  }
  return 0;
}
