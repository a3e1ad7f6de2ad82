#include "store/tree_update.h"

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

struct Entry {
  git_oid id;
  git_filemode_t mode;
};

class Updater {
 public:
  Updater(git_repository* repo, ObjectSink& sink) : repo_(repo), sink_(sink) {}

  // `tree` null: the directory does not exist yet. nullopt: it ends up empty.
  std::optional<git_oid> Apply(const git_oid* tree, const std::vector<const Pending*>& updates,
                               size_t depth, const std::string& where) {
    std::map<std::string, Entry, std::less<>> entries;
    if (tree != nullptr) {
      git_tree* raw = nullptr;
      Check(git_tree_lookup(&raw, repo_, tree), "reading tree " + where + OidHex(*tree),
            ErrorKind::kCorrupt);
      TreePtr t(raw);
      size_t n = git_tree_entrycount(t.get());
      for (size_t i = 0; i < n; ++i) {
        const git_tree_entry* e = git_tree_entry_byindex(t.get(), i);
        entries.emplace(git_tree_entry_name(e),
                        Entry{*git_tree_entry_id(e), git_tree_entry_filemode(e)});
      }
    }
    // Group by the name at this depth, keeping the order of updates.
    std::map<std::string_view, std::vector<const Pending*>> below;
    bool changed = false;
    for (const Pending* p : updates) {
      std::string_view name = p->parts[depth];
      if (p->parts.size() == depth + 1) {
        below.erase(name);  // a later write of the whole entry wins
        if (p->update->remove) {
          changed |= entries.erase(std::string(name)) != 0;
        } else {
          entries[std::string(name)] = Entry{p->update->id, p->update->mode};
          changed = true;
        }
      } else {
        below[name].push_back(p);
      }
    }
    for (auto& [name, list] : below) {
      auto it = entries.find(name);
      const git_oid* sub = nullptr;
      if (it != entries.end()) {
        if (it->second.mode != GIT_FILEMODE_TREE) {
          throw Error(ErrorKind::kCorrupt,
                      "cannot update below " + where + std::string(name) + ": not a directory");
        }
        sub = &it->second.id;
      }
      std::optional<git_oid> result = Apply(sub, list, depth + 1, where + std::string(name) + "/");
      if (!result) {
        if (it != entries.end()) {
          entries.erase(it);
          changed = true;
        }
      } else if (it == entries.end() || !git_oid_equal(&it->second.id, &*result)) {
        entries[std::string(name)] = Entry{*result, GIT_FILEMODE_TREE};
        changed = true;
      }
    }
    if (entries.empty()) return std::nullopt;
    if (!changed && tree != nullptr) return *tree;
    std::vector<EntrySpec> specs;
    specs.reserve(entries.size());
    for (auto& [name, e] : entries) specs.push_back({name, e.id, e.mode});
    return WriteTree(sink_, std::move(specs));
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
