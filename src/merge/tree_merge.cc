// The three-way tree walk. Levels (docs/format.md): root {meta, xapi},
// xapi/<table>/<h>/<h>/<h>/<h>/<ref>/<column>[/<member>]. At every level a
// name is settled without reading below it when two sides have the same
// entry id; only names changed on both sides are descended into.
#include "merge/tree_merge.h"

#include <functional>
#include <map>
#include <optional>

#include "store/image_loader.h"
#include "store/layout.h"
#include "store/member_order.h"
#include "store/name_codec.h"
#include "store/tree_writer.h"

namespace xgdb::merge {

using namespace store;

namespace {

struct Three {
  const git_tree_entry* b = nullptr;
  const git_tree_entry* o = nullptr;
  const git_tree_entry* t = nullptr;
};

// Same entry: both absent, or the same id and mode.
bool Same(const git_tree_entry* a, const git_tree_entry* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b)) &&
         git_tree_entry_filemode(a) == git_tree_entry_filemode(b);
}

bool IsDir(const git_tree_entry* e) { return git_tree_entry_type(e) == GIT_OBJECT_TREE; }

// The entries of up to three trees side by side, by name.
std::map<std::string, Three> Align(const git_tree* b, const git_tree* o, const git_tree* t) {
  std::map<std::string, Three> out;
  auto add = [&](const git_tree* tree, const git_tree_entry* Three::*side) {
    if (tree == nullptr) return;
    for (size_t i = 0; i < git_tree_entrycount(tree); ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(tree, i);
      out[git_tree_entry_name(e)].*side = e;
    }
  };
  add(b, &Three::b);
  add(o, &Three::o);
  add(t, &Three::t);
  return out;
}

std::string Quote(const std::string& value) {
  constexpr size_t kMax = 80;  // a message is for people
  if (value.size() <= kMax) return "'" + value + "'";
  return "'" + value.substr(0, kMax) + "...'";
}

class Merger {
 public:
  Merger(git_repository* repo, const TreeMergeOptions& options, TreeMergeResult* out)
      : reader_(repo), options_(options), out_(out) {}

  git_oid Root(const git_oid& base, const git_oid& ours, const git_oid& theirs) {
    TreePtr b = reader_.Tree(base), o = reader_.Tree(ours), t = reader_.Tree(theirs);
    // One layout on all three sides, or the walk would pair unrelated names.
    for (const git_tree* root : {b.get(), o.get(), t.get()}) {
      RequireCurrentFormat(reader_.repo(), root);
    }
    // Names are decoded with the schema the merged meta/ will hold.
    const git_tree_entry* bm = git_tree_entry_byname(b.get(), "meta");
    const git_tree_entry* om = git_tree_entry_byname(o.get(), "meta");
    schema_ = ReadMetaCached(reader_.repo(), Same(bm, om) ? t.get() : o.get());
    out_->schema = schema_;
    auto merged = MergeDir(
        b.get(), o.get(), t.get(),
        [&](const std::string& name, const Three& x) -> std::optional<EntrySpec> {
          if (name == "meta") return Meta(x);
          if (name == kDataDir) return Xapi(x);
          return Settle({Conflict::Kind::kOther, "", "", name, "", "changed it", "changed it"},
                        name, x);
        },
        [&](const std::string& name, const Three& x) {
          if (name == kDataDir) Collect(Level::kXapi, nullptr, name, x.b, x.t);
        });
    if (!merged) throw Error(ErrorKind::kCorrupt, "merge produced an empty root tree");
    out_->stats = reader_.stats();
    return *merged;
  }

 private:
  enum class Level { kXapi, kTable, kFanout, kRow };
  using Descend = std::function<std::optional<EntrySpec>(const std::string&, const Three&)>;
  using OnTheirs = std::function<void(const std::string&, const Three&)>;

  static std::optional<EntrySpec> Keep(const std::string& name, const git_tree_entry* e) {
    if (e == nullptr) return std::nullopt;
    return EntrySpec{name, *git_tree_entry_id(e), git_tree_entry_filemode(e)};
  }

  // A directory entry's tree; an entry that should be a directory but is a
  // file is corrupt.
  TreePtr Dir(const git_tree_entry* e, const std::string& path) {
    if (e == nullptr) return nullptr;
    if (!IsDir(e)) throw Error(ErrorKind::kCorrupt, "corrupt repository: " + path + " is not a directory");
    return reader_.Tree(e);
  }

  // The entries of three versions of one directory merged (any may be null:
  // absent). Names equal on two sides take the third side's entry unread;
  // `descend` settles names that differ on all three; `on_theirs` hears of
  // names theirs changed that were settled without descending.
  // `same_as_ours`: the result is ours' directory as it is.
  struct Entries {
    std::vector<EntrySpec> merged;
    bool same_as_ours = false;
  };
  Entries MergeEntries(const git_tree* b, const git_tree* o, const git_tree* t,
                       const Descend& descend, const OnTheirs& on_theirs) {
    Entries out;
    out.same_as_ours = o != nullptr;
    for (const auto& [name, x] : Align(b, o, t)) {
      std::optional<EntrySpec> pick;
      if (Same(x.o, x.t)) {
        pick = Keep(name, x.o);
        if (!Same(x.b, x.t) && on_theirs) on_theirs(name, x);
      } else if (Same(x.b, x.o)) {
        pick = Keep(name, x.t);
        if (on_theirs) on_theirs(name, x);
      } else if (Same(x.b, x.t)) {
        pick = Keep(name, x.o);
      } else {
        pick = descend(name, x);
      }
      if (pick) {
        if (x.o == nullptr || !git_oid_equal(&pick->id, git_tree_entry_id(x.o)) ||
            pick->mode != git_tree_entry_filemode(x.o)) {
          out.same_as_ours = false;
        }
        out.merged.push_back(std::move(*pick));
      } else if (x.o != nullptr) {
        out.same_as_ours = false;
      }
    }
    return out;
  }

  // MergeEntries written as a tree: its id (ours' own id when nothing
  // differs from ours), or nullopt when the directory ends up empty (git
  // has no empty trees).
  std::optional<git_oid> MergeDir(const git_tree* b, const git_tree* o, const git_tree* t,
                                  const Descend& descend, const OnTheirs& on_theirs) {
    Entries e = MergeEntries(b, o, t, descend, on_theirs);
    if (e.merged.empty()) return std::nullopt;
    if (e.same_as_ours) return *git_tree_id(o);
    return Write(e.merged);
  }

  git_oid Write(const std::vector<EntrySpec>& entries) {
    ++reader_.stats().trees_written;
    return WriteTree(reader_.repo(), entries);
  }

  std::optional<EntrySpec> AsDir(const std::string& name, std::optional<git_oid> id) {
    if (!id) return std::nullopt;
    return EntrySpec{name, *id, GIT_FILEMODE_TREE};
  }

  // meta/ changed on both sides, differently: a conflict per file.
  std::optional<EntrySpec> Meta(const Three& x) {
    TreePtr b = Dir(x.b, "meta"), o = Dir(x.o, "meta"), t = Dir(x.t, "meta");
    return AsDir("meta", MergeDir(b.get(), o.get(), t.get(),
                                  [&](const std::string& name, const Three& y) {
                                    return Settle({Conflict::Kind::kMeta, "meta", "", name, "",
                                                   y.o ? "changed it" : "removed it",
                                                   y.t ? "changed it" : "removed it"},
                                                  name, y);
                                  },
                                  nullptr));
  }

  std::optional<EntrySpec> Xapi(const Three& x) {
    TreePtr b = Dir(x.b, kDataDir), o = Dir(x.o, kDataDir), t = Dir(x.t, kDataDir);
    return AsDir(kDataDir,
                 MergeDir(b.get(), o.get(), t.get(),
                          [&](const std::string& name, const Three& y) { return TableDir(name, y); },
                          [&](const std::string& name, const Three& y) {
                            Collect(Level::kTable, nullptr, name, y.b, y.t);
                          }));
  }

  const Table& TableNamed(const std::string& entry) {
    auto decoded = DecodeName(entry);
    const Table* table = decoded ? schema_->FindTable(*decoded) : nullptr;
    if (table == nullptr) {
      throw Error(ErrorKind::kCorrupt, "corrupt repository: unknown table directory xapi/" + entry);
    }
    return *table;
  }

  std::optional<EntrySpec> TableDir(const std::string& name, const Three& x) {
    return FanoutDir(TableNamed(name), std::string(kDataDir) + "/" + name, name, kFanout.levels,
                     x);
  }

  // A table's directory (`below` = kFanout.levels) or a fan-out directory
  // with `below` more fan-out levels under it; at 0 its entries are rows.
  std::optional<EntrySpec> FanoutDir(const Table& table, const std::string& path,
                                     const std::string& name, int below, const Three& x) {
    TreePtr b = Dir(x.b, path), o = Dir(x.o, path), t = Dir(x.t, path);
    return AsDir(name, MergeDir(
                           b.get(), o.get(), t.get(),
                           [&](const std::string& child, const Three& y) {
                             std::string child_path = path + "/" + child;
                             return below > 0 ? FanoutDir(table, child_path, child, below - 1, y)
                                              : Row(table, child_path, child, y);
                           },
                           [&](const std::string& child, const Three& y) {
                             Collect(below > 0 ? Level::kFanout : Level::kRow, &table, child, y.b,
                                     y.t, below - 1);
                           }));
  }

  // The raw ref of a row directory: its decoded name, or for a hashed name
  // the row's _ref file.
  std::string RefOf(const std::string& entry, const git_tree_entry* row, const std::string& path) {
    if (auto decoded = DecodeName(entry)) return *decoded;
    TreePtr tree = Dir(row, path);
    const git_tree_entry* ref = tree ? git_tree_entry_byname(tree.get(), "_ref") : nullptr;
    if (ref == nullptr) throw Error(ErrorKind::kCorrupt, "corrupt repository: " + path + " has no _ref");
    return reader_.Blob(*git_tree_entry_id(ref));
  }

  // A column's raw name from its entry name.
  std::string FieldName(const Table& table, const std::string& entry) {
    if (const Column* col = FindStoredColumn(table, entry)) return col->name;
    auto decoded = DecodeName(entry);
    return decoded ? *decoded : entry;
  }

  // The first column that differs between two versions of a row.
  std::string FirstChangedField(const Table& table, const git_tree_entry* a,
                                const git_tree_entry* b, const std::string& path) {
    TreePtr ta = Dir(a, path), tb = Dir(b, path);
    for (const auto& [name, x] : Align(ta.get(), nullptr, tb.get())) {
      if (!Same(x.b, x.t)) return FieldName(table, name);
    }
    return "";
  }

  std::optional<EntrySpec> Row(const Table& table, const std::string& path,
                               const std::string& name, const Three& x) {
    const git_tree_entry* any = x.o ? x.o : x.t;
    std::string ref = RefOf(name, any ? any : x.b, path);
    using K = RowChanged::Kind;
    RowChanged changed{x.b == nullptr ? K::kCreated : x.t == nullptr ? K::kDeleted : K::kModified,
                       table.name, ref};
    out_->both_changed.push_back(changed);
    if (options_.collect_theirs_changes) out_->theirs_changed.push_back(std::move(changed));
    if (x.b != nullptr && (x.o == nullptr || x.t == nullptr)) {
      // All three differ, so the side that kept the row changed it.
      const git_tree_entry* kept = x.o ? x.o : x.t;
      std::string field = FirstChangedField(table, x.b, kept, path);
      std::string changed = "changed " + field;
      return Settle({Conflict::Kind::kDeleteModify, table.name, ref, field, "",
                     x.o ? changed : "deleted the row", x.t ? changed : "deleted the row"},
                    name, x);
    }
    TreePtr b = Dir(x.b, path), o = Dir(x.o, path), t = Dir(x.t, path);
    return AsDir(name, MergeDir(b.get(), o.get(), t.get(),
                                [&](const std::string& column, const Three& y) {
                                  return ColumnEntry(table, ref, path + "/" + column, column, y);
                                },
                                nullptr));
  }

  // A value for messages: a file's text, or "removed" when absent.
  std::string Shown(const git_tree_entry* e) {
    if (e == nullptr) return "removed";
    if (IsDir(e)) return "(a directory)";
    return Quote(reader_.Blob(*git_tree_entry_id(e)));
  }

  std::optional<EntrySpec> ColumnEntry(const Table& table, const std::string& ref,
                                       const std::string& path, const std::string& name,
                                       const Three& x) {
    const xgdb::Column* col = FindStoredColumn(table, name);
    std::string field = FieldName(table, name);
    bool dirs = (!x.b || IsDir(x.b)) && (!x.o || IsDir(x.o)) && (!x.t || IsDir(x.t));
    if (col != nullptr && col->type != ColumnType::kString && dirs) {
      return AsDir(name, MergeMembers(table, ref, *col, path, x));
    }
    return Settle({col == nullptr || dirs != (col->type != ColumnType::kString)
                       ? Conflict::Kind::kOther
                       : Conflict::Kind::kField,
                   table.name, ref, field, "", Shown(x.o), Shown(x.t)},
                  name, x);
  }

  // A set or map changed on both sides: member by member, then the order
  // (MergeMemberOrder). %verbatim is dropped: it spelled one side's members.
  std::optional<git_oid> MergeMembers(const Table& table, const std::string& ref,
                                      const xgdb::Column& col, const std::string& path,
                                      const Three& x) {
    TreePtr b = Dir(x.b, path), o = Dir(x.o, path), t = Dir(x.t, path);
    Entries e = MergeEntries(b.get(), o.get(), t.get(),
                             [&](const std::string& member, const Three& y) {
                               if (IsColumnNote(member)) return std::optional<EntrySpec>();
                               return Member(table, ref, col, path + "/" + member, member, y);
                             },
                             nullptr);
    std::erase_if(e.merged, [](const EntrySpec& m) { return IsColumnNote(m.name); });
    if (e.merged.empty()) return std::nullopt;
    // Align walks names in byte order, which for members is git's tree order
    // too: the only directories among them are hashed names (%H...), and no
    // other member name starts with %H.
    std::vector<std::string> names;
    for (const EntrySpec& m : e.merged) names.push_back(m.name);
    std::vector<std::string> order = MergeMemberOrder(
        OrderOf(b.get(), path), OrderOf(o.get(), path), OrderOf(t.get(), path), names);
    if (order != names) {
      e.merged.push_back(
          {kOrderEntry, WriteBlob(reader_.repo(), OrderText(order)), GIT_FILEMODE_BLOB});
    }
    return Write(e.merged);
  }

  // A column directory's member entry names in xapi's order.
  std::vector<std::string> OrderOf(const git_tree* dir, const std::string& path) {
    std::vector<std::string> names;
    std::optional<std::string> order_text;
    for (size_t i = 0; dir != nullptr && i < git_tree_entrycount(dir); ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(dir, i);
      std::string name = git_tree_entry_name(e);
      if (name == kOrderEntry) {
        order_text = reader_.Blob(*git_tree_entry_id(e));
      } else if (!IsColumnNote(name)) {
        names.push_back(std::move(name));
      }
    }
    return MemberOrder(names, order_text, path);
  }

  // The raw name and (map) value of a set element or map key entry.
  std::pair<std::string, std::string> MemberOf(const std::string& entry, const git_tree_entry* e,
                                               const std::string& path) {
    if (!IsDir(e)) {
      auto decoded = DecodeName(entry);
      return {decoded ? *decoded : entry, reader_.Blob(*git_tree_entry_id(e))};
    }
    TreePtr inner = reader_.Tree(e);  // hashed: {name, value}
    const git_tree_entry* n = git_tree_entry_byname(inner.get(), kHashedNameEntry);
    const git_tree_entry* v = git_tree_entry_byname(inner.get(), kHashedValueEntry);
    if (n == nullptr) throw Error(ErrorKind::kCorrupt, "corrupt repository: " + path + " has no name");
    return {reader_.Blob(*git_tree_entry_id(n)), v ? reader_.Blob(*git_tree_entry_id(v)) : ""};
  }

  std::optional<EntrySpec> Member(const Table& table, const std::string& ref,
                                  const xgdb::Column& col, const std::string& path,
                                  const std::string& name, const Three& x) {
    // Set elements are all empty files (or hashed {name} directories fixed by
    // the name), so two sides holding one always agree: only maps get here.
    const git_tree_entry* any = x.o ? x.o : x.t ? x.t : x.b;
    std::string key = MemberOf(name, any, path).first;
    auto shown = [&](const git_tree_entry* e) {
      return e == nullptr ? std::string("removed") : Quote(MemberOf(name, e, path).second);
    };
    return Settle({col.type == ColumnType::kMap ? Conflict::Kind::kMapKey : Conflict::Kind::kOther,
                   table.name, ref, col.name, key, shown(x.o), shown(x.t)},
                  name, x);
  }

  // Lists the rows below `entry` that differ from base to theirs (a Merkle
  // diff: equal subtrees are not read). A kFanout entry has `below` more
  // fan-out levels under it.
  void Collect(Level level, const Table* table, const std::string& name, const git_tree_entry* b,
               const git_tree_entry* t, int below = 0) {
    if (!options_.collect_theirs_changes || Same(b, t)) return;
    if (level == Level::kRow) {
      using K = RowChanged::Kind;
      out_->theirs_changed.push_back({b == nullptr   ? K::kCreated
                                      : t == nullptr ? K::kDeleted
                                                     : K::kModified,
                                      table->name, RefOf(name, t ? t : b, name)});
      return;
    }
    if (level == Level::kTable) {
      table = &TableNamed(name);
      below = kFanout.levels;  // a table is the top of its fan-out
    }
    TreePtr tb = Dir(b, name), tt = Dir(t, name);
    Level next = level == Level::kXapi ? Level::kTable
                 : below > 0           ? Level::kFanout
                                       : Level::kRow;
    for (const auto& [child, x] : Align(tb.get(), nullptr, tt.get())) {
      Collect(next, table, child, x.b, x.t, below - 1);
    }
  }

  // An entry changed on both sides that cannot merge: with a winner chosen
  // (TreeMergeOptions::winner) its side's entry is taken and the decision
  // recorded; otherwise a conflict (ours' entry stands in, unused).
  std::optional<EntrySpec> Settle(Conflict c, const std::string& name, const Three& x) {
    constexpr size_t kMaxListed = 1000;  // bounds memory on a wild merge
    bool theirs_win = options_.winner == Winner::kTheirs;
    auto& list = options_.winner == Winner::kNone ? out_->conflicts : out_->resolved;
    if (list.size() < kMaxListed) list.push_back(std::move(c));
    return Keep(name, theirs_win ? x.t : x.o);
  }


  GitReader reader_;
  const TreeMergeOptions& options_;
  TreeMergeResult* out_;
  std::shared_ptr<const Schema> schema_;
};

}  // namespace

std::string Conflict::Describe() const {
  std::string where = table + " " + ref + " " + field;
  switch (kind) {
    case Kind::kField:
      return where + " changed on both sides (" + ours + " vs " + theirs + ")";
    case Kind::kMapKey:
      return where + " key '" + key + "' changed on both sides (" + ours + " vs " + theirs + ")";
    case Kind::kDeleteModify:
      return table + " " + ref + " deleted on one side and changed on the other (ours " + ours +
             ", theirs " + theirs + ")";
    case Kind::kMeta:
      return "meta/" + field + " changed on both sides";
    case Kind::kOther:
      break;
  }
  return where + (key.empty() ? "" : " '" + key + "'") + " cannot be merged (" + ours + " vs " +
         theirs + ")";
}

TreeMergeResult MergeTrees(git_repository* repo, const git_oid& base, const git_oid& ours,
                           const git_oid& theirs, const TreeMergeOptions& options) {
  TreeMergeResult result;
  Merger merger(repo, options, &result);
  git_oid tree = merger.Root(base, ours, theirs);
  if (result.conflicts.empty()) result.tree = tree;
  return result;
}

Error ConflictError(const std::vector<Conflict>& conflicts) {
  constexpr size_t kShown = 5;
  std::string msg = "conflict: ";
  for (size_t i = 0; i < conflicts.size() && i < kShown; ++i) {
    if (i > 0) msg += "; ";
    msg += conflicts[i].Describe();
  }
  if (conflicts.size() > kShown) {
    msg += "; and " + std::to_string(conflicts.size() - kShown) + " more";
  }
  std::vector<std::string> args;
  if (!conflicts.empty()) {
    const Conflict& c = conflicts.front();
    args = {c.table, c.ref, c.field, c.key};
  }
  return Error(ErrorKind::kConflict, msg, std::move(args));
}

}  // namespace xgdb::merge
