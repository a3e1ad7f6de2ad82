// xgdb-store-bench: the commit path of the store, measured next to plain
// libgit2 in the same run (so numbers from a busy shared machine can still be
// compared as ratios).
//
//   xgdb-store-bench [--state tests/data/state-5.82.xml] [--commits 500]
//                    [--runs 3] [--fsync] [--group 10000] [--stream 2]
//
// Per run, in a fresh scratch repository imported from the state.db:
//   baseline  libgit2 loose objects: blob + git_tree_create_updated +
//             git_commit_create moving master, no packs (what
//             shared/notes/libgit2.md measured)
//   store     Store: WriteField(VM name__label) + Commit(), N times
//   group     one Commit() of `--group` newly created VM rows
//   stream    `--stream` seconds of single-field commits while the repacker
//             runs: commits/s, the slowest commit and the pack count at the end
// Medians over the runs are printed last.
#include <git2.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_util.h"
#include "store/git_ptr.h"
#include "store/repack.h"
#include "xgdb/error.h"
#include "xgdb/statedb.h"
#include "xgdb/store.h"

namespace {

using namespace xgdb;
namespace fs = std::filesystem;
using bench::Clock;
using bench::Median;
using bench::Seconds;

StoreOptions Options(const std::string& path, bool fsync) {
  StoreOptions o;
  o.path = path;
  o.host_name = "bench";
  o.host_id = "bench@xapi-gitdb";
  o.fsync = fsync;
  return o;
}

// Plain libgit2, loose objects: the same single-field commit the store makes.
double BaselineLoose(const std::string& repo_path, const std::string& row_dir, int commits,
                     bool fsync) {
  git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, fsync ? 1 : 0);
  git_repository* raw_repo = nullptr;
  store::Check(git_repository_open_bare(&raw_repo, repo_path.c_str()), "open " + repo_path);
  store::RepoPtr repo(raw_repo);
  git_signature* raw_sig = nullptr;
  store::Check(git_signature_now(&raw_sig, "bench", "bench@x"), "signature");
  store::SignaturePtr sig(raw_sig);
  std::string path = row_dir + "name__label";
  auto start = Clock::now();
  for (int i = 0; i < commits; ++i) {
    git_oid head;
    store::Check(git_reference_name_to_id(&head, repo.get(), "refs/heads/master"), "master");
    git_commit* raw_commit = nullptr;
    store::Check(git_commit_lookup(&raw_commit, repo.get(), &head), "commit");
    store::CommitPtr parent(raw_commit);
    git_tree* raw_tree = nullptr;
    store::Check(git_commit_tree(&raw_tree, parent.get()), "tree");
    store::TreePtr tree(raw_tree);
    std::string value = "baseline " + std::to_string(i);
    git_tree_update u{};
    u.action = GIT_TREE_UPDATE_UPSERT;
    u.path = path.c_str();
    u.filemode = GIT_FILEMODE_BLOB;
    store::Check(git_blob_create_from_buffer(&u.id, repo.get(), value.data(), value.size()),
                 "blob");
    git_oid root;
    store::Check(git_tree_create_updated(&root, repo.get(), tree.get(), 1, &u), "update");
    git_tree* raw_new = nullptr;
    store::Check(git_tree_lookup(&raw_new, repo.get(), &root), "new tree");
    store::TreePtr new_tree(raw_new);
    const git_commit* parents[1] = {parent.get()};
    git_oid id;
    store::Check(git_commit_create(&id, repo.get(), "refs/heads/master", sig.get(), sig.get(),
                                   nullptr, "baseline", new_tree.get(), 1, parents),
                 "commit");
  }
  double rate = commits / Seconds(start);
  git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
  return rate;
}

double StoreSingle(Store& store, const std::string& ref, int commits) {
  auto start = Clock::now();
  for (int i = 0; i < commits; ++i) {
    store.db().WriteField("VM", ref, "name__label", "bench " + std::to_string(i));
    if (store.Commit().empty()) throw Error(ErrorKind::kIo, "a write produced no commit");
  }
  return commits / Seconds(start);
}

// Seconds for one commit of `rows` new VMs (copies of `ref` with new ids).
double StoreGroup(Store& store, const std::string& ref, int rows) {
  const Table* vm = store.db().schema().FindTable("VM");
  FieldList fields;
  for (auto& [name, value] : store.db().ReadRecord("VM", ref).fields) {
    const Column* col = vm->FindColumn(name);
    if (col != nullptr && name != "_ref") fields.emplace_back(name, value);
  }
  for (int i = 0; i < rows; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012d", i * 2654435761u, i);
    FieldList f = fields;
    for (auto& [name, value] : f) {
      if (name == "uuid") value = id;
      if (name == "name__label") value = "group " + std::to_string(i);
    }
    store.db().CreateRow("VM", f, std::string("OpaqueRef:") + id);
  }
  auto start = Clock::now();
  store.Commit();
  return Seconds(start);
}

struct StreamResult {
  double rate = 0, max_ms = 0, p99_ms = 0;
  size_t packs = 0;
};

StreamResult StoreStream(Store& store, const std::string& ref, double seconds) {
  StreamResult r;
  size_t commits = 0;
  std::vector<double> ms;
  auto start = Clock::now();
  while (Seconds(start) < seconds) {
    store.db().WriteField("VM", ref, "name__label", "stream " + std::to_string(commits));
    auto t = Clock::now();
    store.Commit();
    ms.push_back(Seconds(t) * 1000);
    r.max_ms = std::max(r.max_ms, ms.back());
    ++commits;
  }
  std::sort(ms.begin(), ms.end());
  r.p99_ms = ms.empty() ? 0 : ms[ms.size() * 99 / 100];
  r.rate = commits / Seconds(start);
  r.packs = store::ListPacks(store.path()).size();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xgdb-store-bench: commit throughput of the git store vs plain libgit2"};
  std::string state = "tests/data/state-5.82.xml";
  std::string scratch = fs::temp_directory_path() / "xgdb-store-bench";
  int commits = 500, runs = 3, group = 10000;
  double stream = 2;
  bool fsync = false, no_baseline = false;
  app.add_option("--state", state, "state.db to import");
  app.add_option("--scratch", scratch, "scratch directory (emptied)");
  app.add_option("--commits", commits, "single-field commits per run");
  app.add_option("--runs", runs, "runs (medians are reported)");
  app.add_option("--group", group, "rows created in one group commit (0: skip)");
  app.add_option("--stream", stream, "seconds of commits while repacking (0: skip)");
  app.add_flag("--fsync", fsync, "fsync every commit (StoreOptions::fsync)");
  app.add_flag("--no-baseline", no_baseline, "skip the libgit2 baseline (for profiling)");
  CLI11_PARSE(app, argc, argv);
  try {
    store::EnsureLibgit2();
    std::vector<double> base, single, ratio, group_s, stream_rate, stream_max;
    for (int run = 0; run < runs; ++run) {
      fs::remove_all(scratch);
      fs::create_directories(scratch);
      const std::string repo = scratch + "/repo.git", loose = scratch + "/loose.git";
      Store::Import(Options(repo, fsync), ReadStateDbFile(state, nullptr), "import").reset();
      fs::copy(repo, loose, fs::copy_options::recursive);
      auto store = Store::Open(Options(repo, fsync));
      std::string ref = store->db().ReadRefs("VM").front();
      double b = no_baseline ? 1 : BaselineLoose(loose, Store::ObjectPath("VM", ref), commits, fsync);
      double s = StoreSingle(*store, ref, commits);
      base.push_back(b);
      single.push_back(s);
      ratio.push_back(s / b);
      std::printf("run %d: baseline loose %.0f/s, store %.0f/s (%.2fx)", run, b, s, s / b);
      if (stream > 0) {
        StreamResult r = StoreStream(*store, ref, stream);
        stream_rate.push_back(r.rate);
        stream_max.push_back(r.max_ms);
        std::printf(", stream %.0f/s p99 %.1f ms max %.1f ms %zu packs", r.rate, r.p99_ms,
                    r.max_ms, r.packs);
      }
      if (group > 0) {
        group_s.push_back(StoreGroup(*store, ref, group));
        std::printf(", group of %d rows %.3f s", group, group_s.back());
      }
      std::printf("\n");
      std::fflush(stdout);
    }
    std::printf("median%s: baseline loose %.0f/s, store %.0f/s, ratio %.2f", fsync ? " (fsync)" : "",
                Median(base), Median(single), Median(ratio));
    if (stream > 0) {
      std::printf(", stream %.0f/s max %.1f ms", Median(stream_rate), Median(stream_max));
    }
    if (group > 0) std::printf(", group %.3f s", Median(group_s));
    std::printf("\n");
    fs::remove_all(scratch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xgdb-store-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
