// xgdb-bench: how fast the store imports, opens and commits, next to a
// reference measured in the same run (like LevelDB's db_bench beside
// db_bench_sqlite3): `git fast-import` writing exactly the trees our import
// produced. The machine is shared and noisy, so every figure is the MEDIAN of
// --repeats runs and the comparison is a RATIO.
//
//   xgdb-bench                         # fixture, ~5 MB and ~50 MB pools, 3 repeats
//   xgdb-bench --quick                 # CI-sized: the fixture, 1 repeat, 0.5 s writes
//   xgdb-bench --sizes fixture,5mb --repeats 5
//
// Figures (docs/benchmarks.md explains each):
//   parse      ReadStateDbFile of the state.db
//   commit     Store::Import of the parsed image (trees, pack, ref)
//   fast-imp   `git fast-import` of the same blobs and paths into an empty
//              bare repository (stream prepared beforehand, not timed)
//   open       Store::Open in a fresh process; peak RSS (VmHWM) of that process
//   writes/s   WriteField + Commit of one field in a loop on the imported repo
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "bench_util.h"
#include "store/git_ptr.h"
#include "xgdb/error.h"
#include "xgdb/statedb.h"
#include "xgdb/store.h"

namespace xgdb::bench {
namespace {

namespace fs = std::filesystem;

std::string SelfPath() { return fs::read_symlink("/proc/self/exe").string(); }

// "VmHWM:    12345 kB" -> 12345.
long StatusKb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  }
  return 0;
}

uint64_t TreeBytes(const fs::path& dir, const std::string& suffix = "") {
  uint64_t total = 0;
  std::error_code ec;
  const fs::recursive_directory_iterator end;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != end; it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file(ec)) continue;
    if (!suffix.empty() && it->path().extension() != suffix) continue;
    total += it->file_size(ec);
  }
  return total;
}

// Runs a shell command; throws when it fails. Returns its stdout.
std::string Shell(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw Error(ErrorKind::kIo, "cannot run: " + command);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error(ErrorKind::kIo, "command failed: " + command + "\n" + out);
  }
  return out;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ---- The fast-import reference. ----

// A path as fast-import's `M` command takes it: C-quoted when needed.
std::string FastImportPath(const std::string& path) {
  bool plain = !path.empty() && path[0] != '"';
  for (unsigned char c : path) plain = plain && c != '\n' && c >= 0x20;
  if (plain) return path;
  std::string out = "\"";
  for (unsigned char c : path) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

struct StreamState {
  git_repository* repo;
  std::ofstream* out;
  size_t blobs = 0;
};

int EmitEntry(const char* root, const git_tree_entry* entry, void* payload) {
  auto* st = static_cast<StreamState*>(payload);
  if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB) return 0;
  git_blob* raw = nullptr;
  if (git_blob_lookup(&raw, st->repo, git_tree_entry_id(entry)) != 0) return -1;
  store::BlobPtr blob(raw);
  const std::string path = std::string(root) + git_tree_entry_name(entry);
  char mode[16];
  std::snprintf(mode, sizeof mode, "%06o", static_cast<unsigned>(git_tree_entry_filemode(entry)));
  auto size = static_cast<size_t>(git_blob_rawsize(blob.get()));
  *st->out << "M " << mode << " inline " << FastImportPath(path) << "\ndata " << size << "\n";
  st->out->write(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                 static_cast<std::streamsize>(size));
  *st->out << "\n";
  ++st->blobs;
  return 0;
}

// Writes a fast-import stream holding master's tree of `repo_path` as one
// commit. Returns the number of blobs (field files).
size_t WriteFastImportStream(const std::string& repo_path, const std::string& stream_path) {
  git_libgit2_init();  // reference-counted; harmless when the store did it too
  git_repository* raw_repo = nullptr;
  store::Check(git_repository_open_bare(&raw_repo, repo_path.c_str()), "open " + repo_path);
  store::RepoPtr repo(raw_repo);
  git_object* raw_tree = nullptr;
  store::Check(git_revparse_single(&raw_tree, repo.get(), "master^{tree}"), "master^{tree}");
  store::ObjectPtr tree(raw_tree);

  std::ofstream out(stream_path, std::ios::binary | std::ios::trunc);
  const std::string message = "import (fast-import reference)";
  out << "commit refs/heads/master\n"
      << "committer bench <bench@localhost> 1700000000 +0000\n"
      << "data " << message.size() << "\n" << message << "\n";
  StreamState st{repo.get(), &out};
  store::Check(git_tree_walk(reinterpret_cast<git_tree*>(tree.get()), GIT_TREEWALK_PRE,
                             EmitEntry, &st),
               "walk master's tree");
  out << "\n";
  out.close();
  if (!out) throw Error(ErrorKind::kIo, "cannot write " + stream_path);
  return st.blobs;
}

struct FastImportResult {
  double seconds = 0;
  uint64_t pack_bytes = 0;
};

FastImportResult RunFastImport(const std::string& stream_path, const std::string& target) {
  fs::remove_all(target);
  Shell("git init -q --bare " + Quote(target));
  auto start = Clock::now();
  Shell("git -C " + Quote(target) + " fast-import --quiet < " + Quote(stream_path));
  FastImportResult r;
  r.seconds = Seconds(start);
  r.pack_bytes = TreeBytes(fs::path(target) / "objects", ".pack");
  return r;
}

// ---- Opening, in a fresh process so its peak RSS is the open's alone. ----

// The child side (--measure-open PATH): prints "<seconds> <VmHWM kB> <VmRSS kB before>".
int MeasureOpenChild(const std::string& path) {
  long before = StatusKb("VmRSS");
  StoreOptions options;
  options.path = path;
  auto start = Clock::now();
  auto store = Store::Open(options);
  double secs = Seconds(start);
  std::printf("%.6f %ld %ld %zu\n", secs, StatusKb("VmHWM"), before, store->db().TotalRows());
  return 0;
}

struct OpenResult {
  double seconds = 0;
  double peak_mb = 0;
  double base_mb = 0;
};

OpenResult MeasureOpen(const std::string& repo) {
  std::istringstream in(Shell(Quote(SelfPath()) + " --measure-open " + Quote(repo)));
  OpenResult r;
  long hwm = 0, base = 0;
  in >> r.seconds >> hwm >> base;
  r.peak_mb = hwm / 1024.0;
  r.base_mb = base / 1024.0;
  return r;
}

// ---- Single-field writes. ----

double MeasureWrites(const std::string& repo, double duration) {
  StoreOptions options;
  options.path = repo;
  auto store = Store::Open(options);
  Database& db = store->db();
  auto vms = db.ReadRefs("VM");
  if (vms.empty()) throw Error(ErrorKind::kInvalidArgument, "no VM to write to in " + repo);
  const std::string ref = vms.front();
  size_t commits = 0;
  auto start = Clock::now();
  while (Seconds(start) < duration) {
    db.WriteField("VM", ref, "name__label", "bench write " + std::to_string(commits));
    if (store->Commit("bench: write VM name__label").empty()) {
      throw Error(ErrorKind::kIo, "a write produced no commit");
    }
    ++commits;
  }
  return static_cast<double>(commits) / Seconds(start);
}

// ---- Inputs. ----

// Generates a pool of about `target` bytes with xgdb-gen-pool (beside this
// binary): one small probe to learn the bytes per guest VM, then the real one.
std::string GeneratePool(const std::string& dir, const std::string& label, uint64_t target) {
  const std::string out = dir + "/pool-" + label + ".xml";
  if (fs::exists(out)) return out;
  const std::string gen = (fs::path(SelfPath()).parent_path() / "xgdb-gen-pool").string();
  if (!fs::exists(gen)) throw Error(ErrorKind::kIo, "need " + gen + " (build xgdb-gen-pool)");
  const std::string probe = dir + "/probe.xml";
  const int probe_vms = 100;
  Shell(Quote(gen) + " --hosts 4 --vms " + std::to_string(probe_vms) + " --out " + Quote(probe));
  double per_vm = static_cast<double>(fs::file_size(probe)) / probe_vms;
  fs::remove(probe);
  int vms = std::max(10, static_cast<int>(static_cast<double>(target) / per_vm));
  int hosts = std::clamp(vms / 40, 2, 64);  // ~40 guests per host, as pools run
  std::fprintf(stderr, "generating %s: %d hosts, %d VMs\n", label.c_str(), hosts, vms);
  Shell(Quote(gen) + " --hosts " + std::to_string(hosts) + " --vms " + std::to_string(vms) +
        " --seed 7 --out " + Quote(out));
  return out;
}

std::string DefaultFixture() {
  // The build directory usually sits inside the source tree (build-*/).
  fs::path exe_dir = fs::path(SelfPath()).parent_path();
  for (fs::path p : {exe_dir / ".." / "tests/data/state-5.82.xml",
                     exe_dir / "../.." / "tests/data/state-5.82.xml"}) {
    if (fs::exists(p)) return fs::canonical(p).string();
  }
  return "tests/data/state-5.82.xml";
}

// ---- One size, all repeats. ----

struct Samples {
  std::string label;
  uint64_t file_bytes = 0;
  size_t rows = 0, blobs = 0;
  std::vector<double> parse, commit, total, fast_import, pack_mb, fi_pack_mb, open_s,
      peak_mb, writes;
};

void RunSize(const std::string& label, const std::string& input, const std::string& work,
             int repeats, double write_seconds, Samples* s) {
  s->label = label;
  s->file_bytes = fs::file_size(input);
  for (int i = 0; i < repeats; ++i) {
    std::fprintf(stderr, "%s: repeat %d/%d\n", label.c_str(), i + 1, repeats);
    const std::string repo = work + "/" + label + ".git";
    fs::remove_all(repo);

    auto start = Clock::now();
    auto image = ReadStateDbFile(input, nullptr);
    double parse = Seconds(start);
    s->rows = image->TotalRows();
    StoreOptions options;
    options.path = repo;
    start = Clock::now();
    Store::Import(options, std::move(image), "import " + label).reset();
    double commit = Seconds(start);
    s->parse.push_back(parse);
    s->commit.push_back(commit);
    s->total.push_back(parse + commit);
    s->pack_mb.push_back(TreeBytes(fs::path(repo) / "objects", ".pack") / 1e6);

    const std::string stream = work + "/" + label + ".fi";
    s->blobs = WriteFastImportStream(repo, stream);
    FastImportResult fi = RunFastImport(stream, work + "/" + label + "-fi.git");
    fs::remove(stream);
    s->fast_import.push_back(fi.seconds);
    s->fi_pack_mb.push_back(fi.pack_bytes / 1e6);

    OpenResult open = MeasureOpen(repo);
    s->open_s.push_back(open.seconds);
    s->peak_mb.push_back(open.peak_mb);

    if (write_seconds > 0) s->writes.push_back(MeasureWrites(repo, write_seconds));
  }
}

void PrintTables(const std::vector<Samples>& all, int repeats) {
  std::printf("\nMedians of %d run%s. ratio = ours / git fast-import (same trees, same run).\n\n",
              repeats, repeats == 1 ? "" : "s");
  std::printf("%-8s %8s %9s %9s %8s %8s %8s %9s %7s %7s %8s %8s\n", "size", "file MB", "rows",
              "fields", "parse s", "commit s", "total s", "fast-imp", "ratio", "ratio", "pack MB",
              "fi pack");
  std::printf("%-8s %8s %9s %9s %8s %8s %8s %9s %7s %7s %8s %8s\n", "", "", "", "", "", "", "",
              "s", "commit", "total", "", "MB");
  for (const auto& s : all) {
    double fi = Median(s.fast_import);
    std::printf("%-8s %8.2f %9zu %9zu %8.3f %8.3f %8.3f %9.3f %7.2f %7.2f %8.2f %8.2f\n",
                s.label.c_str(), s.file_bytes / 1e6, s.rows, s.blobs, Median(s.parse),
                Median(s.commit), Median(s.total), fi, fi > 0 ? Median(s.commit) / fi : 0,
                fi > 0 ? Median(s.total) / fi : 0, Median(s.pack_mb), Median(s.fi_pack_mb));
  }
  std::printf("\n%-8s %10s %14s %12s\n", "size", "open s", "peak RSS MB", "commits/s");
  for (const auto& s : all) {
    std::printf("%-8s %10.3f %14.1f %12.1f\n", s.label.c_str(), Median(s.open_s),
                Median(s.peak_mb), Median(s.writes));
  }
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  CLI::App app{"Benchmarks import, open and single-field commits against git fast-import."};
  app.name("xgdb-bench");
  std::string sizes = "fixture,5mb,50mb", fixture = DefaultFixture(), workdir, open_child;
  int repeats = 3;
  double write_seconds = 3;
  bool quick = false, keep = false;
  app.add_option("--sizes", sizes, "Comma-separated: fixture, or NNmb for a generated pool")
      ->capture_default_str();
  app.add_option("--repeats", repeats, "Runs per size; medians are reported")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--quick", quick, "CI-sized: the fixture only, 1 repeat, 0.5 s of writes");
  app.add_option("--write-seconds", write_seconds, "How long each write loop runs (0: skip)")
      ->capture_default_str();
  app.add_option("--fixture", fixture, "The real state.db")->capture_default_str();
  app.add_option("--workdir", workdir, "Scratch directory (default: a fresh one in $TMPDIR)");
  app.add_flag("--keep", keep, "Keep the scratch directory");
  app.add_option("--measure-open", open_child)->group("");  // internal: the child side
  CLI11_PARSE(app, argc, argv);
  // The store logs each repack at info; the tables are what we want to see.
  spdlog::set_level(spdlog::level::warn);

  try {
    if (!open_child.empty()) return MeasureOpenChild(open_child);
    if (quick) {
      if (app.count("--sizes") == 0) sizes = "fixture";
      if (app.count("--repeats") == 0) repeats = 1;
      if (app.count("--write-seconds") == 0) write_seconds = 0.5;
    }
    bool made_workdir = false;
    if (workdir.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/xgdb-bench-XXXXXX";
      if (mkdtemp(tmpl.data()) == nullptr) throw Error(ErrorKind::kIo, "mkdtemp failed");
      workdir = tmpl;
      made_workdir = true;
    }
    fs::create_directories(workdir);

    std::vector<Samples> all;
    std::stringstream list(sizes);
    std::string label;
    while (std::getline(list, label, ',')) {
      std::string input;
      if (label == "fixture") {
        input = fixture;
      } else if (label.size() > 2 && label.substr(label.size() - 2) == "mb") {
        uint64_t mb = std::stoull(label.substr(0, label.size() - 2));
        input = GeneratePool(workdir, label, mb * 1000 * 1000);
      } else {
        throw Error(ErrorKind::kInvalidArgument, "unknown size " + label);
      }
      Samples s;
      RunSize(label, input, workdir, repeats, write_seconds, &s);
      all.push_back(std::move(s));
    }
    PrintTables(all, repeats);
    if (made_workdir && !keep) fs::remove_all(workdir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xgdb-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace xgdb::bench

int main(int argc, char** argv) { return xgdb::bench::Main(argc, argv); }
