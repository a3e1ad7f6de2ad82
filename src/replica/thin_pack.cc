#include "replica/thin_pack.h"

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "store/git_ptr.h"
#include "store/pack_writer.h"
#include "store/repack.h"
#include "store/sha1.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::replica {

using namespace store;
namespace fs = std::filesystem;

namespace {

// ---- git's delta format (gitformat-pack: "Deltified representation") ----

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutCopy(std::string& out, size_t offset, size_t length) {
  while (length > 0) {
    size_t n = std::min<size_t>(length, 0xffff);  // never 0, which means 64 KiB
    unsigned char op = 0x80;
    std::string args;
    for (int i = 0; i < 4; ++i) {
      if (unsigned char b = (offset >> (8 * i)) & 0xff) {
        op |= static_cast<unsigned char>(1 << i);
        args.push_back(static_cast<char>(b));
      }
    }
    for (int i = 0; i < 3; ++i) {
      if (unsigned char b = (n >> (8 * i)) & 0xff) {
        op |= static_cast<unsigned char>(0x10 << i);
        args.push_back(static_cast<char>(b));
      }
    }
    out.push_back(static_cast<char>(op));
    out += args;
    offset += n;
    length -= n;
  }
}

void PutInsert(std::string& out, std::string_view data) {
  while (!data.empty()) {
    size_t n = std::min<size_t>(data.size(), 127);
    out.push_back(static_cast<char>(n));
    out.append(data.substr(0, n));
    data.remove_prefix(n);
  }
}

// A delta of `target` against `base`: their common prefix and suffix are
// copied, the middle inserted. A tree with one entry changed differs from
// its previous version in that entry only, so this is all trees need.
std::string Delta(std::string_view base, std::string_view target) {
  size_t limit = std::min(base.size(), target.size());
  size_t prefix = 0;
  while (prefix < limit && base[prefix] == target[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < limit - prefix &&
         base[base.size() - 1 - suffix] == target[target.size() - 1 - suffix]) {
    ++suffix;
  }
  std::string out;
  PutVarint(out, base.size());
  PutVarint(out, target.size());
  if (prefix > 0) PutCopy(out, 0, prefix);
  PutInsert(out, target.substr(prefix, target.size() - prefix - suffix));
  if (suffix > 0) PutCopy(out, base.size() - suffix, suffix);
  return out;
}

std::string Deflate(std::string_view data) {
  uLongf size = compressBound(static_cast<uLong>(data.size()));
  std::string out(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                reinterpret_cast<const Bytef*>(data.data()), static_cast<uLong>(data.size()),
                Z_BEST_SPEED) != Z_OK) {
    throw Error(ErrorKind::kIo, "zlib: cannot compress an object for a peer");
  }
  out.resize(size);
  return out;
}

std::string Key(const git_oid& id) { return std::string(reinterpret_cast<const char*>(id.id), 20); }

class Packer {
 public:
  explicit Packer(git_repository* repo) : repo_(repo) {
    git_odb* raw = nullptr;
    Check(git_repository_odb(&raw, repo), "opening the object database");
    odb_.reset(raw);
  }

  bool Exists(const git_oid& id) { return git_odb_exists(odb_.get(), &id) == 1; }

  void AddCommit(const git_oid& id) {
    AddWhole(id);
    ++stats_.commits;
    git_commit* raw = nullptr;
    Check(git_commit_lookup(&raw, repo_, &id), "reading commit " + OidHex(id), ErrorKind::kCorrupt);
    CommitPtr commit(raw);
    std::vector<git_oid> parent_trees;
    for (unsigned i = 0; i < git_commit_parentcount(commit.get()); ++i) {
      git_commit* p = nullptr;
      Check(git_commit_parent(&p, commit.get(), i), "reading a parent of " + OidHex(id),
            ErrorKind::kCorrupt);
      CommitPtr parent(p);
      parent_trees.push_back(*git_commit_tree_id(parent.get()));
    }
    AddTree(*git_commit_tree_id(commit.get()), parent_trees);
  }

  std::string Finish(PackStats* stats) {
    if (count_ == 0) return "";
    std::string pack = "PACK";
    for (uint32_t v : {uint32_t{2}, count_}) {
      for (int s = 24; s >= 0; s -= 8) pack.push_back(static_cast<char>((v >> s) & 0xff));
    }
    pack += body_;
    Sha1 sum;
    sum.Update(pack);
    unsigned char digest[20];
    sum.Final(digest);
    pack.append(reinterpret_cast<const char*>(digest), 20);
    if (stats) *stats = stats_;
    return pack;
  }

 private:
  OdbObjectPtr Read(const git_oid& id) {
    git_odb_object* raw = nullptr;
    Check(git_odb_read(&raw, odb_.get(), &id), "reading object " + OidHex(id), ErrorKind::kCorrupt);
    return OdbObjectPtr(raw);
  }

  static std::string_view Data(const OdbObjectPtr& o) {
    return {static_cast<const char*>(git_odb_object_data(o.get())), git_odb_object_size(o.get())};
  }

  void AddWhole(const git_oid& id) {
    OdbObjectPtr o = Read(id);
    PutObjectHeader(body_, git_odb_object_type(o.get()), git_odb_object_size(o.get()));
    body_ += Deflate(Data(o));
    ++count_;
    ++stats_.objects;
  }

  // Tree `id`, unless a parent has it at this path (`previous`: the trees
  // the parents hold here), and below it what differs from them.
  void AddTree(const git_oid& id, const std::vector<git_oid>& previous) {
    for (const git_oid& p : previous) {
      if (git_oid_equal(&p, &id)) return;
    }
    if (!sent_.insert(Key(id)).second) return;
    OdbObjectPtr now = Read(id);
    std::string delta;
    if (!previous.empty()) {
      OdbObjectPtr base = Read(previous.front());
      delta = Delta(Data(base), Data(now));
    }
    if (!delta.empty() && delta.size() < git_odb_object_size(now.get()) / 2) {
      PutObjectHeader(body_, GIT_OBJECT_REF_DELTA, delta.size());
      body_.append(reinterpret_cast<const char*>(previous.front().id), GIT_OID_RAWSZ);
      body_ += Deflate(delta);
      ++count_;
      ++stats_.objects;
      ++stats_.deltas;
    } else {
      AddWhole(id);
    }

    git_tree* raw = nullptr;
    Check(git_tree_lookup(&raw, repo_, &id), "reading tree " + OidHex(id), ErrorKind::kCorrupt);
    TreePtr tree(raw);
    std::vector<TreePtr> olds;
    for (const git_oid& p : previous) {
      git_tree* t = nullptr;
      Check(git_tree_lookup(&t, repo_, &p), "reading tree " + OidHex(p), ErrorKind::kCorrupt);
      olds.emplace_back(t);
    }
    for (size_t i = 0; i < git_tree_entrycount(tree.get()); ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
      const git_oid* eid = git_tree_entry_id(e);
      bool is_tree = git_tree_entry_type(e) == GIT_OBJECT_TREE;
      std::vector<git_oid> before;
      bool unchanged = false;
      for (const TreePtr& old : olds) {
        const git_tree_entry* o = git_tree_entry_byname(old.get(), git_tree_entry_name(e));
        if (o == nullptr || git_tree_entry_type(o) != git_tree_entry_type(e)) continue;
        if (git_oid_equal(git_tree_entry_id(o), eid)) unchanged = true;
        before.push_back(*git_tree_entry_id(o));
      }
      if (unchanged) continue;
      if (is_tree) {
        AddTree(*eid, before);
      } else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB && sent_.insert(Key(*eid)).second) {
        AddWhole(*eid);
      }
    }
  }

  git_repository* repo_;
  OdbPtr odb_;
  std::set<std::string> sent_;
  std::string body_;
  uint32_t count_ = 0;
  PackStats stats_;
};

git_oid ParseId(const std::string& hex) {
  git_oid id;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&id, hex.c_str()) != 0) {
    throw Error(ErrorKind::kInvalidArgument, "not a commit id: '" + hex + "'");
  }
  return id;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in) throw Error(ErrorKind::kIo, "cannot read " + path);
  return s.str();
}

// Removes a scratch directory however the receiving ends, and its parent
// once no other receiving uses it.
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
    fs::remove(fs::path(path).parent_path(), ec);  // fails while not empty
  }
};

}  // namespace

std::string BuildThinPack(git_repository* repo, const std::vector<std::string>& wants,
                          const std::vector<std::string>& haves, PackStats* stats) {
  Packer packer(repo);
  git_revwalk* raw = nullptr;
  Check(git_revwalk_new(&raw, repo), "starting a history walk");
  RevwalkPtr walk(raw);
  // Parents before children: a receiver can read the pack in order.
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
  for (const std::string& w : wants) {
    git_oid id = ParseId(w);
    Check(git_revwalk_push(walk.get(), &id), "walking from " + w, ErrorKind::kCorrupt);
  }
  for (const std::string& h : haves) {
    git_oid id = ParseId(h);
    if (packer.Exists(id)) git_revwalk_hide(walk.get(), &id);  // what we lack we cannot hide
  }
  git_oid next;
  while (git_revwalk_next(&next, walk.get()) == 0) packer.AddCommit(next);
  return packer.Finish(stats);
}

void ReceivePack(Store& store, git_repository* repo, const std::string& pack,
                 const std::vector<std::string>& required) {
  git_odb* raw_odb = nullptr;
  Check(git_repository_odb(&raw_odb, repo), "opening the object database");
  OdbPtr odb(raw_odb);
  std::set<std::string> in_pack;
  if (!pack.empty()) {
    static std::atomic<uint64_t> counter{0};
    ScratchDir scratch{store.path() + "/xgdb-incoming/" + std::to_string(getpid()) + "-" +
                       std::to_string(++counter)};
    std::error_code ec;
    fs::create_directories(scratch.path, ec);
    if (ec) throw Error(ErrorKind::kIo, "cannot create " + scratch.path + ": " + ec.message());
    git_indexer_options options = GIT_INDEXER_OPTIONS_INIT;
    options.verify = 1;  // everything an object names must exist
    git_indexer* raw_indexer = nullptr;
    Check(git_indexer_new(&raw_indexer, scratch.path.c_str(), 0, odb.get(), &options),
          "starting the indexer");
    std::unique_ptr<git_indexer, decltype(&git_indexer_free)> indexer(raw_indexer,
                                                                       git_indexer_free);
    git_indexer_progress progress{};
    if (git_indexer_append(indexer.get(), pack.data(), pack.size(), &progress) != 0 ||
        git_indexer_commit(indexer.get(), &progress) != 0) {
      const git_error* e = git_error_last();
      throw Error(ErrorKind::kCorrupt,
                  std::string("refused a pack: ") + (e && e->message ? e->message : "invalid"));
    }
    std::string name = git_indexer_name(indexer.get());
    std::string base = scratch.path + "/pack-" + name;
    for (const git_oid& id : ReadPackIndex(base + ".idx")) in_pack.insert(OidHex(id));
    for (const std::string& commit : required) {
      git_oid id = ParseId(commit);
      if (!in_pack.count(commit) && git_odb_exists(odb.get(), &id) != 1) {
        throw Error(ErrorKind::kCorrupt, "refused a pack: it lacks commit " + commit);
      }
    }
    store.InstallPack(name, ReadWholeFile(base + ".pack"), ReadWholeFile(base + ".idx"));
    return;
  }
  for (const std::string& commit : required) {
    git_oid id = ParseId(commit);
    if (git_odb_exists(odb.get(), &id) != 1) {
      throw Error(ErrorKind::kCorrupt, "missing commit " + commit + " (no pack was sent)");
    }
  }
}

}  // namespace xgdb::replica
