#include "replica/thin_pack.h"

#include <zlib.h>

#include <map>
#include <memory>
#include <set>

#include "store/git_ptr.h"
#include "store/pack_writer.h"
#include "store/sha1.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::replica {

using namespace store;

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

std::string_view Data(const OdbObjectPtr& o) {
  return {static_cast<const char*>(git_odb_object_data(o.get())), git_odb_object_size(o.get())};
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

// ---- Reading a pack (gitformat-pack) without libgit2's indexer: peers'
// packs are small, and the indexer's scratch files cost more than the rest.

[[noreturn]] void Refuse(const std::string& why) {
  throw Error(ErrorKind::kCorrupt, "refused a pack: " + why);
}

constexpr uint64_t kMaxObjectBytes = uint64_t{64} << 20;
constexpr uint64_t kMaxPackObjects = uint64_t{1} << 22;

uint64_t GetVarint(std::string_view& in) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) Refuse("a delta ends early");
    unsigned char c = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    v |= static_cast<uint64_t>(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
  Refuse("a delta size does not end");
}

std::string ApplyDelta(std::string_view base, std::string_view delta) {
  if (GetVarint(delta) != base.size()) Refuse("a delta is for a base of another size");
  uint64_t size = GetVarint(delta);
  if (size > kMaxObjectBytes) Refuse("a delta makes an object over 64 MiB");
  std::string out;
  out.reserve(size);
  while (!delta.empty()) {
    unsigned char op = static_cast<unsigned char>(delta.front());
    delta.remove_prefix(1);
    if (op & 0x80) {
      uint64_t offset = 0, length = 0;
      for (int i = 0; i < 7; ++i) {
        if (!(op & (1 << i))) continue;
        if (delta.empty()) Refuse("a delta's copy ends early");
        uint64_t b = static_cast<unsigned char>(delta.front());
        delta.remove_prefix(1);
        if (i < 4) {
          offset |= b << (8 * i);
        } else {
          length |= b << (8 * (i - 4));
        }
      }
      if (length == 0) length = 0x10000;
      if (offset + length > base.size()) Refuse("a delta copies past its base");
      out.append(base.substr(offset, length));
    } else if (op != 0) {
      if (delta.size() < op) Refuse("a delta's insert ends early");
      out.append(delta.substr(0, op));
      delta.remove_prefix(op);
    } else {
      Refuse("a delta holds the reserved op 0");
    }
    if (out.size() > size) Refuse("a delta makes more than it says");
  }
  if (out.size() != size) Refuse("a delta makes less than it says");
  return out;
}

// Inflates one zlib stream of exactly `size` bytes from the front of `in`;
// `used` gets the compressed length.
std::string Inflate(std::string_view in, uint64_t size, size_t* used) {
  if (size > kMaxObjectBytes) Refuse("an object over 64 MiB");
  std::string out(size, '\0');
  z_stream z{};
  if (inflateInit(&z) != Z_OK) throw Error(ErrorKind::kIo, "zlib: cannot start inflating");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(in.size(), UINT32_MAX));
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(size);
  int rc = inflate(&z, Z_FINISH);
  if (rc == Z_BUF_ERROR && z.avail_out == 0 && size == 0) rc = inflate(&z, Z_FINISH);
  bool ok = rc == Z_STREAM_END && z.total_out == size;
  *used = z.total_in;
  inflateEnd(&z);
  if (!ok) Refuse("an object does not inflate to its size");
  return out;
}

struct Received {
  git_object_t type;
  std::string data;
  const std::string* base = nullptr;  // a delta's base bytes (trees: known entries)
};

// The ids a tree names, refusing entries git itself would refuse: names
// that are empty, ".", "..", ".git" in any case, or hold '/'; unknown modes.
std::vector<std::pair<std::string, bool>> TreeEntries(std::string_view data) {
  std::vector<std::pair<std::string, bool>> out;  // (raw id, is a tree)
  while (!data.empty()) {
    size_t space = data.find(' ');
    size_t nul = data.find('\0');
    if (space == std::string_view::npos || nul == std::string_view::npos || nul < space ||
        data.size() < nul + 21) {
      Refuse("a tree entry is malformed");
    }
    std::string_view mode = data.substr(0, space), name = data.substr(space + 1, nul - space - 1);
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name.empty() || name == "." || name == ".." || lower == ".git" ||
        name.find('/') != std::string_view::npos) {
      Refuse("a tree names '" + std::string(name.substr(0, 80)) + "'");
    }
    bool tree = mode == "40000";
    if (!tree && mode != "100644" && mode != "100755" && mode != "120000") {
      Refuse("a tree entry has mode " + std::string(mode.substr(0, 10)));
    }
    out.emplace_back(std::string(data.substr(nul + 1, 20)), tree);
    data.remove_prefix(nul + 21);
  }
  return out;
}

// The ids a commit names (tree, parents), as raw ids.
std::vector<std::string> CommitLinks(std::string_view data) {
  std::vector<std::string> out;
  bool first = true;
  while (!data.empty()) {
    size_t eol = data.find('\n');
    if (eol == std::string_view::npos || eol == 0) break;  // the message follows a blank line
    std::string_view line = data.substr(0, eol);
    data.remove_prefix(eol + 1);
    std::string_view hex;
    if (first) {
      if (line.substr(0, 5) != "tree ") Refuse("a commit does not start with its tree");
      hex = line.substr(5);
    } else if (line.substr(0, 7) == "parent ") {
      hex = line.substr(7);
    } else {
      continue;
    }
    first = false;
    git_oid id;
    if (hex.size() != 40 || git_oid_fromstrn(&id, hex.data(), 40) != 0) {
      Refuse("a commit names a malformed id");
    }
    out.push_back(Key(id));
  }
  if (first) Refuse("a commit has no tree");
  return out;
}

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
    git_oid id = ParseOidHex(w);
    Check(git_revwalk_push(walk.get(), &id), "walking from " + w, ErrorKind::kCorrupt);
  }
  for (const std::string& h : haves) {
    git_oid id = ParseOidHex(h);
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
  auto in_odb = [&](const std::string& key) {
    git_oid id;
    git_oid_fromraw(&id, reinterpret_cast<const unsigned char*>(key.data()));
    return git_odb_exists(odb.get(), &id) == 1;
  };
  std::map<std::string, Received> got;  // by raw id
  std::vector<std::unique_ptr<std::string>> here;  // delta bases read from our objects
  std::vector<std::string> order;
  if (!pack.empty()) {
    std::string_view bytes(pack);
    if (bytes.size() < 32 || bytes.substr(0, 4) != "PACK") Refuse("not a pack");
    Sha1 sum;
    sum.Update(bytes.substr(0, bytes.size() - 20));
    unsigned char digest[20];
    sum.Final(digest);
    if (bytes.substr(bytes.size() - 20) != std::string_view(reinterpret_cast<char*>(digest), 20)) {
      Refuse("its checksum does not match (truncated or damaged)");
    }
    auto be32 = [&](size_t at) {
      uint32_t v = 0;
      for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
      return v;
    };
    if (be32(4) != 2 && be32(4) != 3) Refuse("pack version " + std::to_string(be32(4)));
    uint32_t count = be32(8);
    if (count > kMaxPackObjects) Refuse("too many objects");
    std::string_view body = bytes.substr(12, bytes.size() - 32);
    std::vector<std::pair<std::string, std::string>> deltas;  // (base raw id, delta)
    auto add = [&](git_object_t type, std::string data, const std::string* base) {
      git_oid id;
      Check(git_odb_hash(&id, data.data(), data.size(), type), "hashing an object");
      std::string key = Key(id);
      if (got.emplace(key, Received{type, std::move(data), base}).second) order.push_back(key);
    };
    for (uint32_t n = 0; n < count; ++n) {
      if (body.empty()) Refuse("it holds fewer objects than it says");
      unsigned char c = static_cast<unsigned char>(body.front());
      body.remove_prefix(1);
      int type = (c >> 4) & 7;
      uint64_t size = c & 15;
      for (int shift = 4; c & 0x80; shift += 7) {
        if (body.empty() || shift > 60) Refuse("an object header is malformed");
        c = static_cast<unsigned char>(body.front());
        body.remove_prefix(1);
        size |= static_cast<uint64_t>(c & 0x7f) << shift;
      }
      std::string base;
      if (type == GIT_OBJECT_REF_DELTA) {
        if (body.size() < 20) Refuse("a delta lacks its base");
        base = std::string(body.substr(0, 20));
        body.remove_prefix(20);
      } else if (type < GIT_OBJECT_COMMIT || type > GIT_OBJECT_BLOB) {
        Refuse("object type " + std::to_string(type) + " is not sent between peers");
      }
      size_t used = 0;
      std::string data = Inflate(body, size, &used);
      body.remove_prefix(used);
      if (type == GIT_OBJECT_REF_DELTA) {
        deltas.emplace_back(std::move(base), std::move(data));
      } else {
        add(static_cast<git_object_t>(type), std::move(data), nullptr);
      }
    }
    if (!body.empty()) Refuse("bytes after its last object");
    // Deltas in any order: each against an object of this pack or ours.
    while (!deltas.empty()) {
      size_t before = deltas.size();
      for (auto it = deltas.begin(); it != deltas.end();) {
        const std::string* base = nullptr;
        git_object_t base_type = GIT_OBJECT_INVALID;
        if (auto g = got.find(it->first); g != got.end()) {
          base = &g->second.data;
          base_type = g->second.type;
        } else {
          git_oid id;
          git_oid_fromraw(&id, reinterpret_cast<const unsigned char*>(it->first.data()));
          git_odb_object* o = nullptr;
          if (git_odb_read(&o, odb.get(), &id) == 0) {
            OdbObjectPtr held(o);
            here.push_back(std::make_unique<std::string>(Data(held)));
            base = here.back().get();
            base_type = git_odb_object_type(held.get());
          }
        }
        if (base == nullptr) {
          ++it;
          continue;
        }
        add(base_type, ApplyDelta(*base, it->second), base);
        it = deltas.erase(it);
      }
      if (deltas.size() == before) {
        git_oid id;
        git_oid_fromraw(&id, reinterpret_cast<const unsigned char*>(deltas.front().first.data()));
        Refuse("the base " + OidHex(id) + " of a delta is neither in it nor here");
      }
    }
  }
  // Everything an object names must be in the pack or here; what a tree
  // shares with the version it was a delta against is here already.
  auto present = [&](const std::string& key) { return got.count(key) || in_odb(key); };
  for (const std::string& key : order) {
    const Received& r = got.at(key);
    if (r.type == GIT_OBJECT_TREE) {
      std::set<std::string> known;
      if (r.base != nullptr) {
        for (auto& [id, tree] : TreeEntries(*r.base)) known.insert(id);
      }
      for (auto& [id, tree] : TreeEntries(r.data)) {
        if (!known.count(id) && !present(id)) Refuse("a tree names a missing object");
      }
    } else if (r.type == GIT_OBJECT_COMMIT) {
      for (const std::string& id : CommitLinks(r.data)) {
        if (!present(id)) Refuse("a commit names a missing object");
      }
    }
  }
  for (const std::string& commit : required) {
    git_oid id = ParseOidHex(commit);
    if (!present(Key(id))) {
      throw Error(ErrorKind::kCorrupt, "refused a pack: it lacks commit " + commit);
    }
  }
  if (order.empty()) return;
  std::vector<Store::RawObject> objects;
  objects.reserve(order.size());
  for (const std::string& key : order) {
    Received& r = got.at(key);
    objects.push_back({static_cast<int>(r.type), std::move(r.data)});
  }
  store.AddObjects(objects);
}

}  // namespace xgdb::replica
