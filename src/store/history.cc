// Reading history: resolving revisions (ids, names, times), log with a path
// filter, images and diffs of any commit. Diff is a Merkle walk: subtrees
// with equal ids are skipped without being read, so its cost follows the
// size of the change, not of the database.
#include <algorithm>
#include <ctime>
#include <map>

#include "store/image_loader.h"
#include "store/layout.h"
#include "store/name_codec.h"
#include "store/store_impl.h"
#include "store/tree_writer.h"

namespace xgdb {

using namespace store;

namespace {

// "YYYY-MM-DDTHH:MM:SSZ" or "@<seconds>" -> seconds since the epoch.
std::optional<int64_t> ParseTime(const std::string& rev) {
  if (rev.size() > 1 && rev[0] == '@') {
    for (size_t i = 1; i < rev.size(); ++i) {
      if (rev[i] < '0' || rev[i] > '9') return std::nullopt;
    }
    return std::stoll(rev.substr(1));
  }
  struct tm tm = {};
  int y, mo, d, h, mi, s;
  char z = 0;
  if (rev.size() != 20 ||
      std::sscanf(rev.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z) != 7 ||
      z != 'Z') {
    return std::nullopt;
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm));
}

TreePtr CommitTree(const git_commit* commit) {
  git_tree* raw = nullptr;
  Check(git_commit_tree(&raw, commit), "reading the tree of " + OidHex(*git_commit_id(commit)));
  return TreePtr(raw);
}

TreePtr LookupTree(git_repository* repo, const git_oid& id) {
  git_tree* raw = nullptr;
  Check(git_tree_lookup(&raw, repo, &id), "reading tree " + OidHex(id));
  return TreePtr(raw);
}

git_oid ResolveId(git_repository* repo, const std::string& rev) {
  if (auto t = ParseTime(rev)) {
    git_oid id;
    if (git_reference_name_to_id(&id, repo, kMasterRef) != 0) {
      throw Error(ErrorKind::kInvalidArgument, "no master branch");
    }
    while (true) {
      CommitPtr c = LookupCommit(repo, id);
      if (git_commit_time(c.get()) <= *t) return id;
      if (git_commit_parentcount(c.get()) == 0) break;
      id = *git_commit_parent_id(c.get(), 0);
    }
    throw Error(ErrorKind::kInvalidArgument, "no commit at or before " + rev);
  }
  git_object* raw = nullptr;
  if (rev.empty() || git_revparse_single(&raw, repo, rev.c_str()) != 0) {
    throw Error(ErrorKind::kInvalidArgument, "unknown revision '" + rev + "'");
  }
  ObjectPtr obj(raw);
  git_object* peeled = nullptr;
  if (git_object_peel(&peeled, obj.get(), GIT_OBJECT_COMMIT) != 0) {
    throw Error(ErrorKind::kInvalidArgument, "'" + rev + "' is not a commit");
  }
  git_oid id = *git_object_id(peeled);
  git_object_free(peeled);
  return id;
}

CommitInfo Info(const git_commit* c) {
  CommitInfo info;
  info.id = OidHex(*git_commit_id(c));
  for (unsigned i = 0; i < git_commit_parentcount(c); ++i) {
    info.parents.push_back(OidHex(*git_commit_parent_id(c, i)));
  }
  const git_signature* a = git_commit_author(c);
  info.author_name = a->name;
  info.author_email = a->email;
  info.time = git_commit_time(c);
  info.message = git_commit_message(c);
  return info;
}

// "table", "table/ref" or "table/ref/field" -> the tree path it names.
std::string FilterPath(const std::string& filter) {
  size_t first = filter.find('/');
  if (first == std::string::npos) return TableDir(filter);
  std::string table = filter.substr(0, first);
  std::string rest = filter.substr(first + 1);
  size_t last = rest.rfind('/');
  if (last == std::string::npos) return RowDir(table, rest);
  return RowDir(table, rest.substr(0, last)) + "/" + EncodeName(rest.substr(last + 1));
}

// The id at `path` in a commit's tree (zero when absent).
git_oid IdAt(const git_tree* root, const std::string& path) {
  git_oid id{};
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, root, path.c_str()) == 0) {
    id = *git_tree_entry_id(raw);
    git_tree_entry_free(raw);
  }
  return id;
}

// Entries of two trees side by side, by name (either may be null).
using Pairs = std::map<std::string, std::pair<const git_tree_entry*, const git_tree_entry*>>;
Pairs Pair(const git_tree* a, const git_tree* b) {
  Pairs out;
  if (a) for (size_t i = 0; i < git_tree_entrycount(a); ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(a, i);
    out[git_tree_entry_name(e)].first = e;
  }
  if (b) for (size_t i = 0; i < git_tree_entrycount(b); ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(b, i);
    out[git_tree_entry_name(e)].second = e;
  }
  return out;
}

bool SameId(const git_tree_entry* a, const git_tree_entry* b) {
  return a && b && git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b));
}

TreePtr SubTree(git_repository* repo, const git_tree_entry* e) {
  if (e == nullptr || git_tree_entry_type(e) != GIT_OBJECT_TREE) return nullptr;
  return LookupTree(repo, *git_tree_entry_id(e));
}

class Differ {
 public:
  Differ(git_repository* repo, const Schema& schema, std::vector<FieldChange>* out)
      : repo_(repo), schema_(schema), out_(out) {}

  void Roots(const git_tree* a, const git_tree* b) {
    const git_tree_entry* da = git_tree_entry_byname(a, kDataDir);
    const git_tree_entry* db = git_tree_entry_byname(b, kDataDir);
    if (SameId(da, db) || (!da && !db)) return;
    TreePtr ta = SubTree(repo_, da), tb = SubTree(repo_, db);
    for (const auto& [name, p] : Pair(ta.get(), tb.get())) {
      if (SameId(p.first, p.second)) continue;
      auto decoded = DecodeName(name);
      const Table* table = decoded ? schema_.FindTable(*decoded) : nullptr;
      if (table == nullptr) throw Error(ErrorKind::kCorrupt, "unknown table directory " + name);
      FanoutDir(*table, std::string(kDataDir) + "/" + name, p.first, p.second, kFanout.levels);
    }
  }

 private:
  // A table's directory (`below` = kFanout.levels) or a fan-out directory
  // with `below` more levels under it; at 0 its entries are rows.
  void FanoutDir(const Table& table, const std::string& path, const git_tree_entry* a,
                 const git_tree_entry* b, int below) {
    TreePtr ta = SubTree(repo_, a), tb = SubTree(repo_, b);
    for (const auto& [name, p] : Pair(ta.get(), tb.get())) {
      if (SameId(p.first, p.second)) continue;
      std::string child = path + "/" + name;
      if (below > 0) {
        FanoutDir(table, child, p.first, p.second, below - 1);
      } else {
        Row(table, name, child, p.first, p.second);
      }
    }
  }

  void Row(const Table& table, const std::string& name, const std::string& path,
           const git_tree_entry* a, const git_tree_entry* b) {
    std::optional<RowContents> ra, rb;
    if (a) ra = ReadRow(repo_, table, *git_tree_entry_id(a), name, path);
    if (b) rb = ReadRow(repo_, table, *git_tree_entry_id(b), name, path);
    if (!ra || !rb) {
      FieldChange c{ra ? FieldChange::Kind::kRowRemoved : FieldChange::Kind::kRowAdded,
                    table.name, ra ? ra->ref : rb->ref, "", "", ""};
      out_->push_back(std::move(c));
      return;
    }
    std::map<int, std::pair<const std::string*, const std::string*>> cols;
    for (const auto& [col, text] : ra->columns) cols[col->index].first = &text;
    for (const auto& [col, text] : rb->columns) cols[col->index].second = &text;
    for (const auto& [index, p] : cols) {
      const Column& col = table.columns[index];
      std::string absent = col.type == ColumnType::kString ? "" : "()";
      FieldChange c{FieldChange::Kind::kModified, table.name, rb->ref, col.name,
                    p.first ? *p.first : absent, p.second ? *p.second : absent};
      if (!p.first) c.kind = FieldChange::Kind::kAdded;
      if (!p.second) c.kind = FieldChange::Kind::kRemoved;
      if (c.old_value != c.new_value || c.kind != FieldChange::Kind::kModified) {
        out_->push_back(std::move(c));
      }
    }
  }

  git_repository* repo_;
  const Schema& schema_;
  std::vector<FieldChange>* out_;
};

}  // namespace

std::string Store::Resolve(const std::string& rev) const {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  return OidHex(ResolveId(impl_->repo.get(), rev));
}

std::string Store::Head() const {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  bool found = false;
  git_oid id = impl_->MasterId(&found);
  if (!found) throw Error(ErrorKind::kCorrupt, "repository " + path() + " has no master branch");
  return OidHex(id);
}

std::string Store::ServedHead() const {
  // Master is read under the same lock: UpdateMaster marks the image behind
  // before it moves master, so no move can fall between the two reads (one
  // did: the head already moved, the image not yet, and events were made of
  // the old rows under the new head's token, so that change was never
  // reported). Lock order: served_mu, then git_mu.
  std::lock_guard<std::mutex> lock(impl_->served_mu);
  if (impl_->image_behind_at) return *impl_->image_behind_at;
  return Head();
}

std::unique_ptr<Database> Store::LoadAt(const std::string& rev) const {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  CommitPtr c = LookupCommit(repo, ResolveId(repo, rev));
  TreePtr root = CommitTree(c.get());
  return LoadImage(repo, root.get(), nullptr);  // that commit's own schema
}

std::vector<CommitInfo> Store::Log(const std::string& rev, size_t max_count,
                                   const std::string& path_filter) const {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  git_oid start = ResolveId(repo, rev);
  std::string path = path_filter.empty() ? "" : FilterPath(path_filter);
  git_revwalk* raw = nullptr;
  Check(git_revwalk_new(&raw, repo), "walking history");
  RevwalkPtr walk(raw);
  // Every parent is followed, as `git log` does, so a task's own commits
  // (the second parent of its merge) show who changed what.
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
  Check(git_revwalk_push(walk.get(), &start), "walking history");
  std::vector<CommitInfo> out;
  git_oid id;
  while (out.size() < max_count && git_revwalk_next(&id, walk.get()) == 0) {
    CommitPtr c = LookupCommit(repo, id);
    if (!path.empty()) {
      // Shown when the path differs from every parent: a merge that only
      // brings a side's change is left out, the side's commit is listed.
      TreePtr tree = CommitTree(c.get());
      git_oid here = IdAt(tree.get(), path);
      unsigned parents = git_commit_parentcount(c.get());
      bool same_as_a_parent = false;
      for (unsigned i = 0; i < parents && !same_as_a_parent; ++i) {
        CommitPtr parent = LookupCommit(repo, *git_commit_parent_id(c.get(), i));
        TreePtr ptree = CommitTree(parent.get());
        git_oid before = IdAt(ptree.get(), path);
        same_as_a_parent = git_oid_equal(&here, &before);
      }
      if (parents == 0) {
        git_oid none{};
        same_as_a_parent = git_oid_equal(&here, &none);
      }
      if (same_as_a_parent) continue;
    }
    out.push_back(Info(c.get()));
  }
  return out;
}

CommitInfo Store::GetCommit(const std::string& rev) const {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  return Info(LookupCommit(repo, ResolveId(repo, rev)).get());
}

std::vector<FieldChange> Store::Diff(const std::string& from, const std::string& to) const {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  CommitPtr a = LookupCommit(repo, ResolveId(repo, from));
  CommitPtr b = LookupCommit(repo, ResolveId(repo, to));
  TreePtr ta = CommitTree(a.get()), tb = CommitTree(b.get());
  RequireCurrentFormat(repo, ta.get());  // ReadMeta checks tb
  std::shared_ptr<const Schema> schema = ReadMetaCached(repo, tb.get());
  std::vector<FieldChange> out;
  Differ(repo, *schema, &out).Roots(ta.get(), tb.get());
  return out;
}

int64_t Store::GenerationAt(const std::string& rev) const {
  // G(c) = max(B(c), 1 + the largest G of its parents), G(root) =
  // max(B(root), 1), with B the count in c's meta/generation (0 when
  // absent): a commit counts more than every commit it contains, whichever
  // parent comes first. So tokens grow across replication merges (whose
  // first parent is the smaller id, not this host's old master), every host
  // counts a commit alike, and a tree carrying an old count (a revert, a
  // merge) cannot lower it. Counted once per commit and kept: later calls
  // count only new commits.
  constexpr size_t kMaxKept = 1 << 21;  // ~100 MB at most; then counted again
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  auto& known = impl_->generations;
  if (known.size() > kMaxKept) known.clear();
  const git_oid start = ResolveId(repo, rev);
  git_oid last_root{}, last_meta{};
  int64_t last_base = 0;
  bool have_root = false, have_meta = false;
  // Nearly every commit changes the root but not meta/: the count is read
  // once per meta/ tree, not once per commit.
  auto base_of = [&](const git_commit* c) {
    const git_oid* root_id = git_commit_tree_id(c);
    if (have_root && git_oid_equal(root_id, &last_root)) return last_base;
    last_root = *root_id;
    have_root = true;
    TreePtr root = LookupTree(repo, *root_id);
    const git_tree_entry* meta = git_tree_entry_byname(root.get(), "meta");
    if (meta == nullptr) {
      have_meta = false;
      last_base = 0;
    } else if (!have_meta || !git_oid_equal(git_tree_entry_id(meta), &last_meta)) {
      last_meta = *git_tree_entry_id(meta);
      have_meta = true;
      last_base = ReadGenerationBase(repo, last_meta);
    }
    return last_base;
  };
  // Depth first, parents before children, without recursion (histories
  // are millions of commits deep).
  std::vector<std::pair<git_oid, bool>> stack{{start, false}};
  while (!stack.empty()) {
    auto [id, parents_pushed] = stack.back();
    if (known.count(id) != 0) {
      stack.pop_back();
      continue;
    }
    CommitPtr c = LookupCommit(repo, id);
    const unsigned parents = git_commit_parentcount(c.get());
    if (!parents_pushed) {
      stack.back().second = true;
      for (unsigned i = 0; i < parents; ++i) {
        const git_oid* p = git_commit_parent_id(c.get(), i);
        if (known.count(*p) == 0) stack.push_back({*p, false});
      }
      continue;
    }
    int64_t g = 1;
    for (unsigned i = 0; i < parents; ++i) {
      g = std::max(g, known.at(*git_commit_parent_id(c.get(), i)) + 1);
    }
    known[id] = std::max(g, base_of(c.get()));
    stack.pop_back();
  }
  return known.at(start);
}

}  // namespace xgdb
