#include "store/tree_update.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>

#include "store/git_ptr.h"
#include "store/tree_writer.h"

namespace xgdb::store {
namespace {

struct Pending {
  std::vector<std::string_view> parts;
  const PathUpdate* update;
};

// A tree entry while a tree is being rewritten. Names point into the tree
// being read or into the updates' paths (both outlive the rewrite): a
// bucket tree holds hundreds of rows, and copying each name into a string
// and a map node cost more than the rest of the splice.
struct Entry {
  std::string_view name;
  git_oid id;
  git_filemode_t mode;
};

bool GitOrder(const Entry& a, const Entry& b) { return GitTreeLess(a.name, a.mode, b.name, b.mode); }

// The bytes of a tree object; `entries` are in git order, names unique.
std::string Serialize(const std::vector<Entry>& entries) {
  size_t size = 0;
  for (const Entry& e : entries) size += e.name.size() + 8 + GIT_OID_RAWSZ;
  std::string out;
  out.reserve(size);
  for (const Entry& e : entries) AppendTreeEntry(&out, e.mode, e.name, e.id);
  return out;
}

class Updater {
 public:
  Updater(git_repository* repo, ObjectSink& sink) : repo_(repo), sink_(sink) {}

  // `tree` null: the directory does not exist yet. nullopt: it ends up empty.
  std::optional<git_oid> Apply(const git_oid* tree, const std::vector<const Pending*>& updates,
                               size_t depth, const std::string& where) {
    std::vector<Entry> entries;  // git order throughout
    TreePtr t;
    if (tree != nullptr) {
      git_tree* raw = nullptr;
      Check(git_tree_lookup(&raw, repo_, tree), "reading tree " + where + OidHex(*tree),
            ErrorKind::kCorrupt);
      t.reset(raw);
      size_t n = git_tree_entrycount(t.get());
      entries.reserve(n + updates.size());
      for (size_t i = 0; i < n; ++i) {
        const git_tree_entry* e = git_tree_entry_byindex(t.get(), i);
        entries.push_back(
            {git_tree_entry_name(e), *git_tree_entry_id(e), git_tree_entry_filemode(e)});
      }
    }
    // The entry named `name`, or end(). Binary search by name alone can
    // miss in git order (a file "a" vs "a.b" vs a directory "a"), so a miss
    // is confirmed by a scan; the store's own trees never hit that case.
    auto find = [&](std::string_view name) {
      auto it = std::lower_bound(entries.begin(), entries.end(), name,
                                 [](const Entry& e, std::string_view n) { return e.name < n; });
      if (it != entries.end() && it->name == name) return it;
      return std::find_if(entries.begin(), entries.end(),
                          [&](const Entry& e) { return e.name == name; });
    };
    // Names written or removed here are applied in place; a new name or a
    // changed mode is appended and the list re-sorted once at the end.
    bool changed = false, resort = false;
    auto set = [&](std::string_view name, const git_oid& id, git_filemode_t mode) {
      auto it = find(name);
      if (it == entries.end()) {
        if (name == "." || name == ".." || name == ".git" ||
            name.find('\0') != std::string_view::npos) {
          throw Error(ErrorKind::kInvalidArgument,
                      "bad tree entry name '" + where + std::string(name) + "'");
        }
        entries.push_back({name, id, mode});
        resort = true;
      } else {
        if (it->mode != mode) resort = true;
        it->id = id;
        it->mode = mode;
      }
      changed = true;
    };
    auto erase = [&](std::string_view name) {
      auto it = find(name);
      if (it == entries.end()) return;
      entries.erase(it);
      changed = true;
    };
    // Group by the name at this depth, keeping the order of updates.
    std::map<std::string_view, std::vector<const Pending*>> below;
    for (const Pending* p : updates) {
      std::string_view name = p->parts[depth];
      if (p->parts.size() == depth + 1) {
        below.erase(name);  // a later write of the whole entry wins
        if (p->update->remove) {
          erase(name);
        } else {
          set(name, p->update->id, p->update->mode);
        }
      } else {
        below[name].push_back(p);
      }
    }
    for (auto& [name, list] : below) {
      auto it = find(name);
      const git_oid* sub = nullptr;
      git_oid sub_id;
      if (it != entries.end()) {
        if (it->mode != GIT_FILEMODE_TREE) {
          throw Error(ErrorKind::kCorrupt,
                      "cannot update below " + where + std::string(name) + ": not a directory");
        }
        sub_id = it->id;  // `entries` may move while the subtree is rewritten
        sub = &sub_id;
      }
      std::optional<git_oid> result = Apply(sub, list, depth + 1, where + std::string(name) + "/");
      if (!result) {
        erase(name);
      } else if (sub == nullptr || !git_oid_equal(sub, &*result)) {
        set(name, *result, GIT_FILEMODE_TREE);
      }
    }
    if (entries.empty()) return std::nullopt;
    if (!changed && tree != nullptr) return *tree;
    if (resort) std::sort(entries.begin(), entries.end(), GitOrder);
    return sink_.Put(GIT_OBJECT_TREE, Serialize(entries));
  }

 private:
  git_repository* repo_;
  ObjectSink& sink_;
};

}  // namespace

git_oid UpdateTree(git_repository* repo, ObjectSink& sink, const git_oid& root,
                   const std::vector<PathUpdate>& updates) {
  if (updates.empty()) return root;
  std::vector<Pending> pending;
  pending.reserve(updates.size());
  for (const PathUpdate& u : updates) {
    Pending p{{}, &u};
    std::string_view rest = u.path;
    while (true) {
      size_t slash = rest.find('/');
      p.parts.push_back(rest.substr(0, slash));
      if (p.parts.back().empty()) {
        throw Error(ErrorKind::kInvalidArgument, "bad tree path '" + u.path + "'");
      }
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    pending.push_back(std::move(p));
  }
  std::vector<const Pending*> all;
  all.reserve(pending.size());
  for (const Pending& p : pending) all.push_back(&p);
  std::optional<git_oid> out = Updater(repo, sink).Apply(&root, all, 0, "");
  if (!out) {  // everything removed: git's empty tree
    return WriteTree(sink, std::vector<EntrySpec>{});
  }
  return *out;
}

}  // namespace xgdb::store
