// xgdb-task-bench: the cost of a task (docs/tasks.md, "Cost").
//
// For pools of 1,000 and 100,000 VMs: Task begin + k field writes + commit
// (with one master write meanwhile, so the commit is a real three-way
// merge), k = 1, 10, 100; prints the median per k and pool and the
// 100k/1k ratio, which should stay near 1 (cost follows k, not the pool).
// Then 16 tasks on 16 threads committing into master at once.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "bench_util.h"
#include "task/task_manager.h"
#include "xgdb/store.h"

namespace {

using namespace xgdb;
using bench::Clock;
using bench::Ms;

std::shared_ptr<const Schema> BenchSchema() {
  return Schema::FromJson(R"JSON({
  "schema_major_vsn": 5, "schema_minor_vsn": 1,
  "tables": [
    {"name": "VM", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name__label", "type": "string", "persistent": true, "empty": "", "default": ""},
      {"name": "name__description", "type": "string", "persistent": true, "empty": "", "default": ""},
      {"name": "power_state", "type": "string", "persistent": true, "empty": "", "default": "Halted"},
      {"name": "memory_static_max", "type": "string", "persistent": true, "empty": "", "default": "0"},
      {"name": "other_config", "type": "map", "persistent": true, "empty": "()", "default": "()"}]}
  ],
  "one_to_many": [], "many_to_many": []
})JSON");
}

std::string Ref(size_t i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "OpaqueRef:%08zx-0000-4000-8000-%012zu",
                static_cast<size_t>((i * 2654435761u) & 0xffffffffu), i);
  return buf;
}


double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::unique_ptr<Store> MakePool(const std::string& path, size_t vms) {
  std::filesystem::remove_all(path);
  auto db = std::make_unique<Database>(BenchSchema());
  for (size_t i = 0; i < vms; ++i) {
    db->LoadRow("VM", Ref(i),
                {{"uuid", "uuid-" + std::to_string(i)}, {"name__label", "vm" + std::to_string(i)},
                 {"other_config", "(('k' 'v'))"}});
  }
  db->FinishLoad();
  StoreOptions o;
  o.path = path;
  o.host_name = "bench";
  o.fsync = false;
  return Store::Import(o, std::move(db), "pool of " + std::to_string(vms) + " VMs");
}

// Median ms of begin + k writes + commit.
double TimeTasks(Store& store, task::TaskManager& tasks, size_t pool, size_t k, int rounds) {
  std::vector<double> times;
  for (int r = 0; r < rounds; ++r) {
    Clock::time_point start = Clock::now();
    std::string t = tasks.Begin();
    tasks.Run(t, [&](Database& db) {
      for (size_t i = 0; i < k; ++i) {
        db.WriteField("VM", Ref((r * 977 + i * 131) % pool), "name__description",
                      "round " + std::to_string(r));
      }
    });
    tasks.Run("", [&](Database& db) {  // master moves on meanwhile
      db.WriteField("VM", Ref((r * 7919 + 1) % pool), "power_state", "Running" + std::to_string(r));
    });
    tasks.Commit(t);
    times.push_back(Ms(Clock::now() - start));
  }
  (void)store;
  return Median(times);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Task begin + k writes + commit on pools of 1,000 and 100,000 VMs"};
  std::string dir = "/tmp/xgdb-task-bench";
  size_t big = 100000;
  int rounds = 15;
  app.add_option("--dir", dir, "Scratch directory (removed and recreated)");
  app.add_option("--big", big, "Size of the large pool");
  app.add_option("--rounds", rounds, "Tasks per measurement (median reported)");
  std::vector<size_t> ks = {1, 10, 100};
  bool only_big = false;
  app.add_option("--k", ks, "Writes per task (repeatable; default 1 10 100)");
  app.add_flag("--only-big", only_big,
               "Measure the large pool only and skip the concurrent run (for profiling)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  std::filesystem::create_directories(dir);

  const std::vector<size_t> pools =
      only_big ? std::vector<size_t>{big} : std::vector<size_t>{1000, big};
  std::vector<std::vector<double>> med(pools.size());
  for (size_t p = 0; p < pools.size(); ++p) {
    Clock::time_point t0 = Clock::now();
    auto store = MakePool(dir + "/pool-" + std::to_string(pools[p]), pools[p]);
    std::printf("pool %zu VMs: imported in %.0f ms\n", pools[p], Ms(Clock::now() - t0));
    task::TaskManager tasks(*store, task::TaskOptions{0, 0, ""});
    TimeTasks(*store, tasks, pools[p], 10, 3);  // warm caches
    for (size_t k : ks) med[p].push_back(TimeTasks(*store, tasks, pools[p], k, rounds));
  }
  std::printf("\nbegin + k writes + commit (median of %d, ms; fsync off)\n", rounds);
  if (only_big) {
    std::printf("%6s %12s\n", "k", "big pool");
    for (size_t i = 0; i < ks.size(); ++i) std::printf("%6zu %12.2f\n", ks[i], med[0][i]);
    std::filesystem::remove_all(dir);
    return 0;
  }
  std::printf("%6s %12s %12s %8s\n", "k", "1k pool", "big pool", "ratio");
  for (size_t i = 0; i < ks.size(); ++i) {
    std::printf("%6zu %12.2f %12.2f %8.2f\n", ks[i], med[0][i], med[1][i], med[1][i] / med[0][i]);
  }

  // 16 concurrent tasks committing into master.
  {
    auto store = MakePool(dir + "/pool-concurrent", 1000);
    task::TaskManager tasks(*store, task::TaskOptions{0, 0, ""});
    constexpr int kThreads = 16, kPerThread = 5;
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    Clock::time_point start = Clock::now();
    for (int th = 0; th < kThreads; ++th) {
      threads.emplace_back([&, th] {
        for (int n = 0; n < kPerThread; ++n) {
          try {
            std::string t = tasks.Begin();
            tasks.Run(t, [&](Database& db) {
              for (int i = 0; i < 10; ++i) {
                db.WriteField("VM", Ref(th * 50 + n * 10 + i), "name__description", "c");
              }
            });
            tasks.Commit(t);
          } catch (const std::exception& e) {
            std::fprintf(stderr, "task failed: %s\n", e.what());
            ++failed;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    double ms = Ms(Clock::now() - start);
    std::printf("\n%d threads x %d tasks (10 writes each) into master: %.0f ms, %.1f commits/s, "
                "%d failed\n",
                kThreads, kPerThread, ms, kThreads * kPerThread * 1000.0 / ms, failed.load());
  }
  std::filesystem::remove_all(dir);
  return 0;
}
