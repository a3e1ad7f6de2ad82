#include "store/repack.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "store/git_ptr.h"
#include "store/pack_writer.h"

namespace xgdb::store {

namespace fs = std::filesystem;

std::vector<git_oid> ReadPackIndex(const std::string& idx_path) {
  std::ifstream in(idx_path, std::ios::binary);
  unsigned char header[8 + 256 * 4];
  if (!in.read(reinterpret_cast<char*>(header), sizeof header) ||
      std::memcmp(header, "\377tOc\0\0\0\2", 8) != 0) {
    throw Error(ErrorKind::kCorrupt, "not a version 2 pack index: " + idx_path);
  }
  const unsigned char* last = header + 8 + 255 * 4;
  uint32_t count = (uint32_t{last[0]} << 24) | (uint32_t{last[1]} << 16) |
                   (uint32_t{last[2]} << 8) | uint32_t{last[3]};
  std::vector<git_oid> ids(count);
  for (git_oid& id : ids) {
    if (!in.read(reinterpret_cast<char*>(id.id), GIT_OID_RAWSZ)) {
      throw Error(ErrorKind::kCorrupt, "truncated pack index: " + idx_path);
    }
  }
  return ids;
}

std::vector<std::string> ListPacks(const std::string& repo_path) {
  std::vector<std::string> packs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(repo_path) / "objects" / "pack", ec)) {
    if (e.path().extension() == ".pack") packs.push_back(e.path().string());
  }
  std::sort(packs.begin(), packs.end());
  return packs;
}

namespace {

struct OidLess {
  bool operator()(const git_oid& a, const git_oid& b) const { return git_oid_cmp(&a, &b) < 0; }
};

// Copies `ids` into one undeltified pack (pack_writer.h); returns its path.
std::string CopyObjects(Env& env, git_repository* repo, const std::string& repo_path,
                        const std::set<git_oid, OidLess>& ids, bool fsync) {
  git_odb* raw_odb = nullptr;
  Check(git_repository_odb(&raw_odb, repo), "repack: opening the object database");
  OdbPtr odb(raw_odb);
  std::vector<std::string> data;
  std::vector<PackObject> objects;
  data.reserve(ids.size());
  objects.reserve(ids.size());
  for (const git_oid& id : ids) {
    git_odb_object* raw = nullptr;
    Check(git_odb_read(&raw, odb.get(), &id), "repack: reading " + OidHex(id), ErrorKind::kCorrupt);
    OdbObjectPtr obj(raw);
    data.emplace_back(static_cast<const char*>(git_odb_object_data(obj.get())),
                      git_odb_object_size(obj.get()));
    objects.push_back({id, git_odb_object_type(obj.get()), nullptr});
  }
  for (size_t i = 0; i < objects.size(); ++i) objects[i].data = &data[i];
  return WritePackFiles(env, repo_path, objects, fsync);
}

uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error(ErrorKind::kIo, "repack: reading " + path);
  return out;
}

// Combines packs whose entries are all whole objects (those the store's
// writer made) by copying their entries byte for byte, with the CRCs of
// their indexes. Returns "" when some entry is a delta (the caller then
// rebuilds the objects instead).
std::string CopyRawEntries(Env& env, const std::string& repo_path,
                           const std::vector<std::string>& packs, bool fsync) {
  std::vector<std::string> files;  // keeps the bytes the entries point into
  files.reserve(packs.size() * 2);
  std::vector<RawPackEntry> entries;
  std::set<git_oid, OidLess> seen;
  for (const std::string& pack_path : packs) {
    files.push_back(ReadWhole(fs::path(pack_path).replace_extension(".idx").string()));
    const std::string& idx = files.back();
    files.push_back(ReadWhole(pack_path));
    const std::string& pack = files.back();
    auto* ib = reinterpret_cast<const unsigned char*>(idx.data());
    if (idx.size() < 8 + 1024 || std::memcmp(ib, "\377tOc\0\0\0\2", 8) != 0 ||
        pack.size() < 32) {
      throw Error(ErrorKind::kCorrupt, "repack: bad pack or index " + pack_path);
    }
    size_t n = Be32(ib + 8 + 255 * 4);
    size_t ids = 8 + 1024, crcs = ids + 20 * n, offs = crcs + 4 * n, large = offs + 4 * n;
    if (idx.size() < large + 40) throw Error(ErrorKind::kCorrupt, "repack: short index " + pack_path);
    std::vector<std::pair<uint64_t, size_t>> by_offset;  // offset, index position
    for (size_t i = 0; i < n; ++i) {
      uint64_t off = Be32(ib + offs + 4 * i);
      if (off & 0x80000000u) {
        size_t k = off & 0x7fffffffu;
        if (idx.size() < large + 8 * k + 8 + 40) {
          throw Error(ErrorKind::kCorrupt, "repack: bad index " + pack_path);
        }
        off = (uint64_t{Be32(ib + large + 8 * k)} << 32) | Be32(ib + large + 8 * k + 4);
      }
      by_offset.push_back({off, i});
    }
    std::sort(by_offset.begin(), by_offset.end());
    for (size_t j = 0; j < by_offset.size(); ++j) {
      uint64_t start = by_offset[j].first;
      uint64_t end = j + 1 < by_offset.size() ? by_offset[j + 1].first : pack.size() - 20;
      if (start < 12 || end <= start || end > pack.size() - 20) {
        throw Error(ErrorKind::kCorrupt, "repack: bad offsets in " + pack_path);
      }
      unsigned type = (static_cast<unsigned char>(pack[start]) >> 4) & 7;
      if (type == 6 || type == 7) return "";  // a delta
      size_t i = by_offset[j].second;
      RawPackEntry e;
      std::memcpy(e.id.id, ib + ids + 20 * i, 20);
      if (!seen.insert(e.id).second) continue;
      e.crc = Be32(ib + crcs + 4 * i);
      e.bytes = std::string_view(pack).substr(start, end - start);
      entries.push_back(e);
    }
  }
  return WriteRawPackFiles(env, repo_path, entries, fsync);
}

// A pack with deltas from git_packbuilder. libgit2 writes it (and its
// index) into a scratch directory of the repository; the bytes are then
// put into objects/pack through `env` like every other pack, so the files
// readers see are written, synced and renamed in the store's order.
std::string WriteDeltaPack(Env& env, git_packbuilder* pb, const std::string& repo_path,
                           bool fsync) {
  const std::string scratch = (fs::path(repo_path) / "xgdb-repack").string();
  std::error_code ec;
  fs::remove_all(scratch, ec);
  env.CreateDir(scratch, 0700);
  Check(git_packbuilder_write(pb, scratch.c_str(), 0, nullptr, nullptr), "repack: writing");
  const std::string name = git_packbuilder_name(pb);
  const std::string base = scratch + "/pack-" + name;
  std::string pack = ReadWhole(base + ".pack"), idx = ReadWhole(base + ".idx");
  fs::remove_all(scratch, ec);
  return InstallPackFiles(env, repo_path, name, pack, idx, fsync);
}

}  // namespace

size_t RepackOnce(Env& env, const std::string& repo_path, size_t max_packs, bool fsync,
                  const std::function<void(const std::function<void()>&)>& swap) {
  struct Pack {
    std::string path;
    uintmax_t size;
  };
  std::vector<Pack> packs;
  for (const std::string& p : ListPacks(repo_path)) {
    fs::path base = fs::path(p).replace_extension();
    std::error_code ec;
    if (!fs::exists(base.string() + ".idx", ec) || fs::exists(base.string() + ".keep", ec)) {
      continue;  // being written by someone, or pinned
    }
    packs.push_back({p, fs::file_size(p, ec)});
  }
  if (packs.size() <= max_packs) return 0;
  std::sort(packs.begin(), packs.end(),
            [](const Pack& a, const Pack& b) { return a.size < b.size; });
  // Keep the largest suffix in which every pack is at least twice the size
  // of all smaller packs together; combine the rest.
  size_t combine = 0;
  uintmax_t prefix = 0;
  std::vector<uintmax_t> prefix_sums;
  for (const Pack& p : packs) {
    prefix_sums.push_back(prefix);
    prefix += p.size;
  }
  for (size_t j = packs.size(); j-- > 1;) {
    if (packs[j].size < 2 * prefix_sums[j]) {
      combine = j + 1;
      break;
    }
  }
  if (combine < 2) combine = packs.size() - max_packs / 2;  // already geometric
  packs.resize(combine);

  EnsureLibgit2();
  git_repository* raw_repo = nullptr;
  Check(git_repository_open_bare(&raw_repo, repo_path.c_str()), "repack: opening " + repo_path);
  RepoPtr repo(raw_repo);
  std::set<git_oid, OidLess> ids;  // an object may be in several packs
  uintmax_t bytes = 0;
  for (const Pack& p : packs) {
    bytes += p.size;
    std::string idx = fs::path(p.path).replace_extension(".idx").string();
    for (const git_oid& id : ReadPackIndex(idx)) ids.insert(id);
  }
  std::string fresh;
  if (bytes < kDeltaRepackBytes) {
    std::vector<std::string> paths;
    for (const Pack& p : packs) paths.push_back(p.path);
    fresh = CopyRawEntries(env, repo_path, paths, fsync);
    if (fresh.empty()) fresh = CopyObjects(env, repo.get(), repo_path, ids, fsync);
  } else {
    git_packbuilder* raw_pb = nullptr;
    Check(git_packbuilder_new(&raw_pb, repo.get()), "repack: creating a pack");
    PackBuilderPtr pb(raw_pb);
    git_packbuilder_set_threads(pb.get(), 1);
    for (const git_oid& id : ids) {
      Check(git_packbuilder_insert(pb.get(), &id, nullptr), "repack: adding an object");
    }
    fresh = WriteDeltaPack(env, pb.get(), repo_path, fsync);
  }
  swap([&] {
    for (const Pack& p : packs) {
      if (p.path == fresh) continue;  // same objects, same name: already there
      // Index first: a pack without one is invisible; if a crash undoes
      // these removals, the objects are merely stored twice.
      try {
        env.RemoveFile(fs::path(p.path).replace_extension(".idx").string());
        env.RemoveFile(p.path);
        env.RemoveFile(fs::path(p.path).replace_extension(".rev").string());
      } catch (const Error& e) {
        spdlog::warn("store {}: repack could not remove {}: {}", repo_path, p.path, e.what());
      }
    }
  });
  spdlog::info("store {}: combined {} packs into {}", repo_path, packs.size(), fresh);
  return packs.size();
}

Repacker::Repacker(Env& env, std::string repo_path, bool fsync,
                   std::function<void(const std::function<void()>&)> swap)
    : env_(env), path_(std::move(repo_path)), fsync_(fsync), swap_(std::move(swap)),
      thread_([this] { Run(); }) {}

Repacker::~Repacker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Repacker::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

size_t Repacker::Compact() {
  std::future<size_t> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) throw Error(ErrorKind::kInvalidArgument, "the repacker has stopped");
    compactions_.emplace_back();
    done = compactions_.back().get_future();
  }
  cv_.notify_all();
  return done.get();
}

size_t Repacker::CompactAll() {
  // Each round combines at least two packs (the geometric rule may keep the
  // largest apart), so this ends with one.
  size_t combined = 0;
  while (size_t n = RepackOnce(env_, path_, 1, fsync_, swap_)) combined += n;
  return combined;
}

void Repacker::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return poked_ || stop_ || !compactions_.empty(); });
    std::vector<std::promise<size_t>> compactions = std::move(compactions_);
    compactions_.clear();
    if (stop_ && compactions.empty()) return;
    poked_ = false;
    lock.unlock();
    try {
      if (compactions.empty()) {
        RepackOnce(env_, path_, kMaxPacks, fsync_, swap_);
      } else {
        size_t combined = CompactAll();
        for (auto& p : compactions) p.set_value(combined);
      }
    } catch (const std::exception& e) {
      spdlog::warn("store {}: repack failed (will retry after the next commit): {}", path_,
                   e.what());
      for (auto& p : compactions) p.set_exception(std::current_exception());
    }
    lock.lock();
  }
}

}  // namespace xgdb::store
