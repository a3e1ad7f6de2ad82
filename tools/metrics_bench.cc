// xgdb-metrics-bench: what counting a request in the metrics costs, next
// to the request it counts, in the same run: answering read_field (v2) on the
// real 2014 pool's image, the cheapest call xapi sends, with no transport.
// Medians of --repeats rounds; the ratio is the share the metrics add.
//
//   xgdb-metrics-bench [--calls N] [--repeats R] [--threads T]
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_util.h"
#include "rpc/dispatcher.h"
#include "server/metrics.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"

namespace xgdb::bench {
namespace {

namespace fs = std::filesystem;

std::string Fixture() {
  fs::path exe_dir = fs::read_symlink("/proc/self/exe").parent_path();
  for (fs::path p : {exe_dir / ".." / "tests/data/state-5.82.xml",
                     exe_dir / "../.." / "tests/data/state-5.82.xml"}) {
    if (fs::exists(p)) return fs::canonical(p).string();
  }
  return "tests/data/state-5.82.xml";
}

// Nanoseconds per call of `fn` on each of `threads` threads at once.
template <class Fn>
double NsPerCall(int threads, size_t calls, Fn fn) {
  auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (size_t i = 0; i < calls; ++i) fn();
    });
  }
  for (auto& w : workers) w.join();
  return Seconds(start) * 1e9 / static_cast<double>(calls);
}

int Main(int argc, char** argv) {
  size_t calls = 200000;
  int repeats = 5, threads = 2;
  CLI::App app("xgdb-metrics-bench: the cost of counting a request");
  app.add_option("--calls", calls, "Calls per round and thread")->capture_default_str();
  app.add_option("--repeats", repeats, "Rounds (the median is shown)")->capture_default_str();
  app.add_option("--threads", threads, "Threads calling at once")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<Database> db = ReadStateDbFile(Fixture(), Schema::Builtin(5, 82));
  std::string vm = db->ReadRefs("VM").front();
  const std::string body = "[\"read_field\",\"VM\",\"name__label\",\"" + vm + "\"]";
  server::Metrics metrics;
  rpc::RpcResult sample = rpc::Dispatcher::HandleOn(*db, rpc::ProtocolVersion::kV2, body);

  std::vector<double> answer, count;
  for (int r = 0; r < repeats; ++r) {
    answer.push_back(NsPerCall(threads, calls, [&] {
      rpc::RpcResult result = rpc::Dispatcher::HandleOn(*db, rpc::ProtocolVersion::kV2, body);
      if (result.status != 200) std::abort();
    }));
    count.push_back(NsPerCall(threads, calls, [&] {
      metrics.ObserveRequest(rpc::ProtocolVersion::kV2, sample, 0.0002);
    }));
  }
  double a = Median(answer), c = Median(count);
  std::printf("threads %d, %zu calls per round and thread, median of %d rounds\n", threads, calls,
              repeats);
  std::printf("answer read_field (reference)  %8.0f ns/call\n", a);
  std::printf("count it in the metrics        %8.0f ns/call  (%.1f%% of the answer)\n", c,
              100 * c / a);
  return 0;
}

}  // namespace
}  // namespace xgdb::bench

int main(int argc, char** argv) { return xgdb::bench::Main(argc, argv); }
