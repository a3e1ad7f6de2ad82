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
#include "task/branch_apply.h"
#include "task/task_manager.h"
#include "xgdb/store.h"

namespace {

xgdb::task::TaskOptions WithoutReaper() {
  xgdb::task::TaskOptions options;
  options.reap_after_ms = 0;
  return options;
}

using namespace xgdb;
using bench::Clock;
using bench::Median;
using bench::Ms;
using bench::VmRef;

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

StoreOptions PoolOptions(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.host_name = "bench";
  o.fsync = false;
  return o;
}

std::unique_ptr<Store> MakePool(const std::string& path, size_t vms) {
  std::filesystem::remove_all(path);
  auto db = std::make_unique<Database>(BenchSchema());
  for (size_t i = 0; i < vms; ++i) {
    db->LoadRow("VM", VmRef(i),
                {{"uuid", "uuid-" + std::to_string(i)}, {"name__label", "vm" + std::to_string(i)},
                 {"other_config", "(('k' 'v'))"}});
  }
  db->FinishLoad();
  return Store::Import(PoolOptions(path), std::move(db), "pool of " + std::to_string(vms) + " VMs");
}

// Milliseconds of one begin + k writes + commit (round r picks the rows).
double TimeTask(task::TaskManager& tasks, size_t pool, size_t k, int r) {
  Clock::time_point start = Clock::now();
  std::string t = tasks.Begin();
  tasks.Run(t, [&](Database& db) {
    for (size_t i = 0; i < k; ++i) {
      db.WriteField("VM", VmRef((r * 977 + i * 131) % pool), "name__description",
                    "round " + std::to_string(r));
    }
  });
  tasks.Run("", [&](Database& db) {  // master moves on meanwhile
    db.WriteField("VM", VmRef((r * 7919 + 1) % pool), "power_state", "Running" + std::to_string(r));
  });
  tasks.Commit(t);
  return Ms(Clock::now() - start);
}

struct Pool {
  size_t vms;
  std::string path;
  std::vector<std::vector<double>> times;  // per k
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Task begin + k writes + commit on pools of 1,000 and 100,000 VMs"};
  std::string dir = "/tmp/xgdb-task-bench";
  size_t big = 100000;
  int rounds = 11;
  int runs = 3;
  app.add_option("--dir", dir, "Scratch directory (removed and recreated)");
  app.add_option("--big", big, "Size of the large pool");
  app.add_option("--rounds", rounds, "Tasks per pool, k and run");
  app.add_option("--runs", runs, "Turns each pool takes (the median is over all its tasks)");
  std::vector<size_t> ks = {1, 10, 100};
  bool only_big = false;
  app.add_option("--k", ks, "Writes per task (repeatable; default 1 10 100)");
  app.add_flag("--only-big", only_big,
               "Measure the large pool only and skip the concurrent run (for profiling)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  std::filesystem::create_directories(dir);

  // Each pool is measured alone (its store open, the others closed: they
  // would share libgit2's object cache and the heap with it), and the pools
  // take turns, `runs` times, so the machine's drift (shared cores, the
  // file system) falls on all of them alike.
  std::vector<size_t> sizes = only_big ? std::vector<size_t>{big}
                                       : std::vector<size_t>{1000, 10000, big};
  std::vector<Pool> pools;
  for (size_t vms : sizes) {
    Clock::time_point t0 = Clock::now();
    Pool p{vms, dir + "/pool-" + std::to_string(vms), std::vector<std::vector<double>>(ks.size())};
    MakePool(p.path, vms);
    std::printf("pool %zu VMs: imported in %.0f ms\n", vms, Ms(Clock::now() - t0));
    pools.push_back(std::move(p));
  }
  for (int run = 0; run < runs; ++run) {
    for (Pool& p : pools) {
      auto store = Store::Open(PoolOptions(p.path));
      task::TaskManager tasks(*store, WithoutReaper());
      for (int r = 0; r < 3; ++r) TimeTask(tasks, p.vms, 10, r);  // warm caches
      for (size_t i = 0; i < ks.size(); ++i) {
        for (int r = 0; r < rounds; ++r) {
          p.times[i].push_back(TimeTask(tasks, p.vms, ks[i], run * rounds + r));
        }
      }
    }
  }
  std::printf("\nbegin + k writes + commit (median of %d x %d, ms; fsync off)\n", runs, rounds);
  std::printf("%6s", "k");
  for (const Pool& p : pools) std::printf(" %10zu VMs", p.vms);
  if (!only_big) std::printf(" %10s %10s", "big/1k", "big/10k");
  std::printf("\n");
  for (size_t i = 0; i < ks.size(); ++i) {
    std::printf("%6zu", ks[i]);
    std::vector<double> med;
    for (Pool& p : pools) {
      med.push_back(Median(p.times[i]));
      std::printf(" %14.2f", med.back());
    }
    if (!only_big) std::printf(" %10.2f %10.2f", med[2] / med[0], med[2] / med[1]);
    std::printf("\n");
  }
  // An as-of read (History_get) of the largest pool ten commits back: the
  // image made from master's by re-applying what changed since, against
  // loading that commit whole.
  {
    auto store = Store::Open(PoolOptions(pools.back().path));
    std::string rev = store->Log("master", 21).back().id;  // 10 task merges back
    std::vector<double> image_at;
    for (int i = 0; i < 5; ++i) {
      Clock::time_point t0 = Clock::now();
      task::ImageAt(*store, rev);
      image_at.push_back(Ms(Clock::now() - t0));
    }
    Clock::time_point t0 = Clock::now();
    store->LoadAt(rev);
    double load_at = Ms(Clock::now() - t0);
    std::printf("\nas-of read %zu VMs, 10 task commits back: ImageAt %.2f ms (median of 5), "
                "LoadAt %.0f ms, ratio %.4f\n",
                pools.back().vms, Median(image_at), load_at, Median(image_at) / load_at);
  }
  pools.clear();
  if (only_big) {
    std::filesystem::remove_all(dir);
    return 0;
  }

  // 16 concurrent tasks committing into master.
  {
    auto store = MakePool(dir + "/pool-concurrent", 1000);
    task::TaskManager tasks(*store, WithoutReaper());
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
                db.WriteField("VM", VmRef(th * 50 + n * 10 + i), "name__description", "c");
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
