#include "store/repack.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "store/git_ptr.h"

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

size_t RepackOnce(const std::string& repo_path, size_t max_packs,
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
  git_packbuilder* raw_pb = nullptr;
  Check(git_packbuilder_new(&raw_pb, repo.get()), "repack: creating a pack");
  PackBuilderPtr pb(raw_pb);
  git_packbuilder_set_threads(pb.get(), 1);
  for (const Pack& p : packs) {
    std::string idx = fs::path(p.path).replace_extension(".idx").string();
    for (const git_oid& id : ReadPackIndex(idx)) {
      Check(git_packbuilder_insert(pb.get(), &id, nullptr), "repack: adding an object");
    }
  }
  std::string dir = (fs::path(repo_path) / "objects" / "pack").string();
  Check(git_packbuilder_write(pb.get(), dir.c_str(), 0, nullptr, nullptr), "repack: writing");
  std::string fresh = dir + "/pack-" + git_packbuilder_name(pb.get()) + ".pack";
  swap([&] {
    for (const Pack& p : packs) {
      std::error_code ec;
      if (p.path == fresh) continue;  // same objects, same name: already there
      fs::remove(fs::path(p.path).replace_extension(".idx"), ec);
      fs::remove(p.path, ec);
      fs::remove(fs::path(p.path).replace_extension(".rev"), ec);
    }
  });
  spdlog::info("store {}: combined {} packs into {}", repo_path, packs.size(), fresh);
  return packs.size();
}

Repacker::Repacker(std::string repo_path,
                   std::function<void(const std::function<void()>&)> swap)
    : path_(std::move(repo_path)), swap_(std::move(swap)), thread_([this] { Run(); }) {}

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

void Repacker::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return poked_ || stop_; });
    if (stop_) return;
    poked_ = false;
    lock.unlock();
    try {
      RepackOnce(path_, kMaxPacks, swap_);
    } catch (const std::exception& e) {
      spdlog::warn("store {}: repack failed (will retry after the next commit): {}", path_,
                   e.what());
    }
    lock.lock();
  }
}

}  // namespace xgdb::store
