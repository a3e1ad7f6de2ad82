#include "store/pack_writer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "store/git_ptr.h"
#include "store/repack.h"
#include "store/sha1.h"

namespace xgdb::store {
namespace {

// A file written under a temporary name and renamed into place; removed
// again if never committed.
class TempFile {
 public:
  // A spare from `spares` if one is ready, else a new file in `dir`. Packs
  // and indexes are read-only, as git leaves them, and for the owner only
  // (the repository holds secrets).
  TempFile(Env& env, const std::string& dir, SparePool* spares) : env_(env) {
    std::string spare = spares != nullptr ? spares->Take() : "";
    if (!spare.empty()) {
      try {
        file_ = env_.NewWritableFile(spare, 0400);
        path_ = spare;
        return;
      } catch (const Error&) {
        RemoveQuietly(spare);
      }
    }
    static std::atomic<uint64_t> counter{0};
    path_ = dir + "/tmp_xgdb_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    file_ = env_.NewWritableFile(path_, 0400);
  }
  ~TempFile() {
    file_.reset();
    if (!path_.empty()) RemoveQuietly(path_);
  }
  void Write(const std::string& bytes) { file_->Append(bytes); }
  void Commit(const std::string& final_path, bool sync) {
    if (sync) file_->Sync();
    file_->Close();
    env_.RenameFile(path_, final_path);
    path_.clear();
  }

 private:
  void RemoveQuietly(const std::string& path) {
    try {
      env_.RemoveFile(path);
    } catch (const Error&) {
    }
  }
  Env& env_;
  std::unique_ptr<WritableFile> file_;
  std::string path_;
};

void PutBe32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xff));
}

}  // namespace

void PutObjectHeader(std::string& out, git_object_t type, uint64_t size) {
  unsigned char c = static_cast<unsigned char>((static_cast<unsigned>(type) << 4) | (size & 15));
  size >>= 4;
  while (size != 0) {
    out.push_back(static_cast<char>(c | 0x80));
    c = static_cast<unsigned char>(size & 0x7f);
    size >>= 7;
  }
  out.push_back(static_cast<char>(c));
}

namespace {

// One zlib stream for all of a pack's objects: compress2() would set up
// (and allocate ~300 KB for) a new one per object. Most objects are small
// trees and blobs, and deflateReset clears the match hash table, 64 KB at
// zlib's defaults: per object that memset would cost more than compressing.
// So objects up to kSmallObject bytes go through a stream with a window and
// hash table sized for them (any inflate reads what it writes), and with
// `store_small` they are not compressed at all: deflate's "stored" blocks,
// a copy (see WritePackFiles).
class Deflater {
 public:
  explicit Deflater(bool store_small) {
    if (deflateInit(&large_, Z_BEST_SPEED) != Z_OK ||
        deflateInit2(&small_, store_small ? Z_NO_COMPRESSION : Z_BEST_SPEED, Z_DEFLATED,
                     kSmallWindowBits, kSmallMemLevel, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw Error(ErrorKind::kIo, "zlib: cannot start a deflate stream");
    }
  }
  ~Deflater() {
    deflateEnd(&large_);
    deflateEnd(&small_);
  }
  void Append(std::string& out, const std::string& data) {
    z_stream& z = data.size() <= kSmallObject ? small_ : large_;
    deflateReset(&z);
    size_t at = out.size();
    out.resize(at + deflateBound(&z, static_cast<uLong>(data.size())));
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(&out[at]);
    z.avail_out = static_cast<uInt>(out.size() - at);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
      throw Error(ErrorKind::kIo, "zlib: cannot compress an object for a pack");
    }
    out.resize(out.size() - z.avail_out);
  }

 private:
  static constexpr size_t kSmallObject = 4096;
  static constexpr int kSmallWindowBits = 12;  // a 4 KB window: the whole object
  static constexpr int kSmallMemLevel = 4;     // a 4 KB hash table (2 is slower)
  z_stream large_{};
  z_stream small_{};
};

}  // namespace

constexpr size_t kSpares = 8;  // two per commit: a burst of four commits

SparePool::SparePool(Env& env, std::string git_dir)
    : env_(env), dir_(std::move(git_dir) + "/xgdb-spare") {
  // Spares left by processes that are gone (a crash) are removed; those of a
  // live process (the daemon, while `xapi-gitdb log` opens the same
  // repository) are left to it.
  std::error_code ec;
  try {
    env_.CreateDir(dir_, 0700);
  } catch (const Error& e) {
    spdlog::warn("{}: {} (commits make their own files)", dir_, e.what());
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    long pid = 0;
    if (std::sscanf(name.c_str(), "spare-%ld-", &pid) == 1 && pid > 0 &&
        (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)) {
      continue;
    }
    std::filesystem::remove(entry.path(), ec);
  }
  thread_ = std::thread([this] { Run(); });
}

SparePool::~SparePool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  for (const std::string& p : ready_) {
    try {
      env_.RemoveFile(p);
    } catch (const Error&) {
    }
  }
}

std::string SparePool::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
  if (ready_.empty()) return "";
  std::string p = std::move(ready_.back());
  ready_.pop_back();
  return p;
}

void SparePool::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (ready_.size() >= kSpares) {
      cv_.wait(lock);
      continue;
    }
    std::string path = dir_ + "/spare-" + std::to_string(getpid()) + "-" + std::to_string(++made_);
    lock.unlock();
    bool made = true;
    try {
      env_.NewWritableFile(path, 0600)->Close();
    } catch (const Error&) {
      made = false;
    }
    lock.lock();
    if (!made) {  // e.g. a full disk: commits make their own
      cv_.wait_for(lock, std::chrono::seconds(1));
      continue;
    }
    ready_.push_back(std::move(path));
  }
}

namespace {

struct IndexEntry {
  const git_oid* id;
  uint64_t offset;
  uint32_t crc;
};

// Seals `pack` (header and entries) with its checksum, builds its index and
// writes both (see WritePackFiles).
std::string WriteFiles(Env& env, const std::string& git_dir, std::string& pack,
                       std::vector<IndexEntry>& entries, bool fsync, SparePool* spares) {
  using Entry = IndexEntry;
  unsigned char pack_sum[20];
  {
    Sha1 sha;
    sha.Update(pack);
    sha.Final(pack_sum);
  }
  pack.append(reinterpret_cast<const char*>(pack_sum), 20);
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return git_oid_cmp(a.id, b.id) < 0;
  });
  std::string idx("\377tOc", 4);
  PutBe32(idx, 2);
  uint32_t fanout[256] = {};
  for (const Entry& e : entries) ++fanout[e.id->id[0]];
  for (int i = 1; i < 256; ++i) fanout[i] += fanout[i - 1];
  for (uint32_t f : fanout) PutBe32(idx, f);
  for (const Entry& e : entries) idx.append(reinterpret_cast<const char*>(e.id->id), 20);
  for (const Entry& e : entries) PutBe32(idx, e.crc);
  std::vector<uint64_t> large;
  for (const Entry& e : entries) {
    if (e.offset < 0x80000000u) {
      PutBe32(idx, static_cast<uint32_t>(e.offset));
    } else {
      PutBe32(idx, 0x80000000u | static_cast<uint32_t>(large.size()));
      large.push_back(e.offset);
    }
  }
  for (uint64_t off : large) {
    PutBe32(idx, static_cast<uint32_t>(off >> 32));
    PutBe32(idx, static_cast<uint32_t>(off));
  }
  idx.append(reinterpret_cast<const char*>(pack_sum), 20);
  unsigned char idx_sum[20];
  {
    Sha1 sha;
    sha.Update(idx);
    sha.Final(idx_sum);
  }
  idx.append(reinterpret_cast<const char*>(idx_sum), 20);

  git_oid name;
  git_oid_fromraw(&name, pack_sum);
  return InstallPackFiles(env, git_dir, OidHex(name), pack, idx, fsync, spares);
}

}  // namespace

std::string InstallPackFiles(Env& env, const std::string& git_dir, const std::string& name,
                             const std::string& pack, const std::string& idx, bool fsync,
                             SparePool* spares) {
  std::string pack_dir = git_dir;
  if (!pack_dir.empty() && pack_dir.back() == '/') pack_dir.pop_back();
  pack_dir += "/objects/pack";
  std::string base = pack_dir + "/pack-" + name;
  TempFile pack_file(env, pack_dir, spares);
  pack_file.Write(pack);
  TempFile idx_file(env, pack_dir, spares);
  idx_file.Write(idx);
  pack_file.Commit(base + ".pack", fsync);
  idx_file.Commit(base + ".idx", fsync);
  if (fsync) env.SyncDir(pack_dir);
  return base + ".pack";
}

std::string WritePackFiles(Env& env, const std::string& git_dir,
                           const std::vector<PackObject>& objects, bool fsync, SparePool* spares) {
  std::vector<IndexEntry> entries;
  entries.reserve(objects.size());
  std::string pack = "PACK";
  PutBe32(pack, 2);
  PutBe32(pack, static_cast<uint32_t>(objects.size()));
  // A commit's pack (a few trees and blobs of a few hundred bytes, mostly
  // object ids that do not compress) is combined with others byte for byte
  // and then recompressed, with deltas, once the combination passes
  // kDeltaRepackBytes (repack.h): compressing its small objects now would
  // cost more CPU than everything else the commit does. A larger pack (an
  // import) may stay as it is for long: everything in it is compressed.
  size_t raw = 0;
  for (const PackObject& o : objects) raw += o.data->size();
  Deflater deflater(/*store_small=*/raw < kDeltaRepackBytes);
  for (const PackObject& o : objects) {
    size_t start = pack.size();
    PutObjectHeader(pack, o.type, o.data->size());
    deflater.Append(pack, *o.data);
    uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(pack.data() + start),
              static_cast<uInt>(pack.size() - start)));
    entries.push_back({&o.id, start, crc});
  }
  return WriteFiles(env, git_dir, pack, entries, fsync, spares);
}

std::string WriteRawPackFiles(Env& env, const std::string& git_dir,
                              const std::vector<RawPackEntry>& raw, bool fsync) {
  std::vector<IndexEntry> entries;
  entries.reserve(raw.size());
  std::string pack = "PACK";
  PutBe32(pack, 2);
  PutBe32(pack, static_cast<uint32_t>(raw.size()));
  for (const RawPackEntry& e : raw) {
    entries.push_back({&e.id, pack.size(), e.crc});
    pack.append(e.bytes);
  }
  return WriteFiles(env, git_dir, pack, entries, fsync, nullptr);
}

}  // namespace xgdb::store
