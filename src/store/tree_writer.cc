#include "store/tree_writer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string_view>

#include "schema/sexpr.h"
#include "store/git_ptr.h"
#include "store/layout.h"
#include "store/member_order.h"
#include "store/name_codec.h"

namespace xgdb::store {
namespace {

bool TreeOrder(const EntrySpec& a, const EntrySpec& b) {
  return GitTreeLess(a.name, a.mode, b.name, b.mode);
}

// A set element or map key as a tree entry: inline `encoded -> blob(value)`,
// or for long names `%H<id>/ -> {name: raw, value: value}` (sets: no value).
// `Sink` is ObjectSink& (the store) or git_repository* (through libgit2).
template <typename Sink>
void AddMember(Sink&& sink, std::vector<EntrySpec>& out, std::string_view raw,
               const std::string* value) {
  std::string name = EncodeName(raw);
  if (!IsHashedName(name)) {
    out.push_back({name, WriteBlob(sink, value ? *value : ""), GIT_FILEMODE_BLOB});
    return;
  }
  std::vector<EntrySpec> inner;
  inner.push_back({kHashedNameEntry, WriteBlob(sink, raw), GIT_FILEMODE_BLOB});
  if (value) inner.push_back({kHashedValueEntry, WriteBlob(sink, *value), GIT_FILEMODE_BLOB});
  out.push_back({name, WriteTree(sink, inner), GIT_FILEMODE_TREE});
}

// Adds the entry of one column, or nothing for an empty set/map.
template <typename Sink>
void AddColumn(Sink&& sink, std::vector<EntrySpec>& entries, const Column& col,
               const std::string& text) {
  std::string name = EncodeName(col.name);
  if (col.type == ColumnType::kString) {
    entries.push_back({name, WriteBlob(sink, text), GIT_FILEMODE_BLOB});
    return;
  }
  // A directory holds each member once (member_order.h, DistinctSet);
  // xapi's order, and text that is not the canonical print of the members,
  // go into %order and %verbatim.
  std::vector<EntrySpec> members;
  std::string printed;
  if (col.type == ColumnType::kSet) {
    sexpr::StringSet set = DistinctSet(text);
    for (const std::string& e : set) AddMember(sink, members, e, nullptr);
    printed = sexpr::PrintSet(set);
  } else {
    sexpr::StringMap map = DistinctMap(text);
    for (const auto& [k, v] : map) AddMember(sink, members, k, &v);
    printed = sexpr::PrintMap(map);
  }
  if (!std::is_sorted(members.begin(), members.end(), TreeOrder)) {
    std::vector<std::string> order;
    order.reserve(members.size());
    for (const EntrySpec& m : members) order.push_back(m.name);
    members.push_back({kOrderEntry, WriteBlob(sink, OrderText(order)), GIT_FILEMODE_BLOB});
  }
  if (printed != text) members.push_back({kVerbatimEntry, WriteBlob(sink, text), GIT_FILEMODE_BLOB});
  if (members.empty()) return;  // git has no empty trees: absent means "()"
  entries.push_back({name, WriteTree(sink, members), GIT_FILEMODE_TREE});
}

bool ValidEntryName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name != ".git" &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

template <typename Sink>
git_oid RowTree(Sink&& sink, const Table& table, const FieldList& stored) {
  std::vector<EntrySpec> entries;
  entries.reserve(stored.size());
  for (const auto& [field, text] : stored) {
    const Column* col = table.FindColumn(field);
    if (col == nullptr) {
      throw Error(ErrorKind::kInvalidArgument,
                  "table " + table.name + " has no column " + field);
    }
    if (!table.Stored(*col)) continue;
    try {
      AddColumn(sink, entries, *col, text);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kParse) throw;
      throw Error(ErrorKind::kParse, table.name + "." + field + ": " + e.what());
    }
  }
  return WriteTree(sink, entries);
}

}  // namespace

bool GitTreeLess(std::string_view a, git_filemode_t a_mode, std::string_view b,
                 git_filemode_t b_mode) {
  size_t n = std::min(a.size(), b.size());
  int c = std::memcmp(a.data(), b.data(), n);
  if (c != 0) return c < 0;
  auto next = [n](std::string_view name, git_filemode_t mode) -> unsigned {
    if (name.size() > n) return static_cast<unsigned char>(name[n]);
    return mode == GIT_FILEMODE_TREE ? '/' : 0;
  };
  return next(a, a_mode) < next(b, b_mode);
}

std::string TreeBytes(std::vector<EntrySpec>& entries) {
  std::sort(entries.begin(), entries.end(), TreeOrder);
  std::string out;
  out.reserve(entries.size() * 64);
  for (size_t i = 0; i < entries.size(); ++i) {
    const EntrySpec& e = entries[i];
    if (!ValidEntryName(e.name) || (i > 0 && entries[i - 1].name == e.name)) {
      throw Error(ErrorKind::kInvalidArgument, "bad or duplicate tree entry name '" + e.name + "'");
    }
    AppendTreeEntry(&out, e.mode, e.name, e.id);
  }
  return out;
}

void AppendTreeEntry(std::string* out, git_filemode_t mode, std::string_view name,
                     const git_oid& id) {
  switch (mode) {  // the two modes the store writes, without printf
    case GIT_FILEMODE_TREE: *out += "40000 "; break;
    case GIT_FILEMODE_BLOB: *out += "100644 "; break;
    default: {
      char text[16];
      std::snprintf(text, sizeof text, "%o ", static_cast<unsigned>(mode));
      *out += text;
    }
  }
  *out += name;
  out->push_back('\0');
  out->append(reinterpret_cast<const char*>(id.id), GIT_OID_RAWSZ);
}

git_oid WriteBlob(ObjectSink& sink, std::string_view data) {
  return sink.Put(GIT_OBJECT_BLOB, data);
}

git_oid WriteTree(ObjectSink& sink, std::vector<EntrySpec> entries) {
  return sink.Put(GIT_OBJECT_TREE, TreeBytes(entries));
}

git_oid WriteBlob(git_repository* repo, std::string_view data) {
  git_oid id;
  Check(git_blob_create_from_buffer(&id, repo, data.data(), data.size()), "writing a blob");
  return id;
}

git_oid WriteTree(git_repository* repo, const std::vector<EntrySpec>& entries) {
  git_treebuilder* raw = nullptr;
  Check(git_treebuilder_new(&raw, repo, nullptr), "creating a tree");
  TreeBuilderPtr bld(raw);
  for (const EntrySpec& e : entries) {
    Check(git_treebuilder_insert(nullptr, bld.get(), e.name.c_str(), &e.id, e.mode),
          "adding tree entry '" + e.name + "'");
  }
  git_oid id;
  Check(git_treebuilder_write(&id, bld.get()), "writing a tree");
  return id;
}

git_oid WriteRowTree(ObjectSink& sink, const Table& table, const FieldList& stored) {
  return RowTree(sink, table, stored);
}

git_oid WriteRowTree(git_repository* repo, const Table& table, const FieldList& stored) {
  return RowTree(repo, table, stored);
}

git_oid WriteMetaTree(ObjectSink& sink, const Schema& schema, int64_t generation) {
  std::vector<EntrySpec> entries{
      {"format", WriteBlob(sink, kFormatText), GIT_FILEMODE_BLOB},
      {"schema.json", WriteBlob(sink, schema.json_text()), GIT_FILEMODE_BLOB}};
  if (generation > 0) {
    entries.push_back(
        {kGenerationEntry, WriteBlob(sink, GenerationText(generation)), GIT_FILEMODE_BLOB});
  }
  return WriteTree(sink, std::move(entries));
}

std::string GenerationText(int64_t generation) { return std::to_string(generation) + "\n"; }

std::optional<int64_t> ParseGeneration(std::string_view text) {
  // Exactly what GenerationText writes: no sign, no leading zero, one "\n".
  if (text.size() < 2 || text.size() > 19 || text.back() != '\n' || text[0] == '0') {
    return std::nullopt;
  }
  int64_t value = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');  // at most 18 digits: no overflow
  }
  return value;
}

git_oid WriteRootTree(ObjectSink& sink, const git_oid& meta, const git_oid* data) {
  std::vector<EntrySpec> entries{{"meta", meta, GIT_FILEMODE_TREE}};
  if (data != nullptr) entries.push_back({kDataDir, *data, GIT_FILEMODE_TREE});
  return WriteTree(sink, entries);
}

namespace {

// Writes a table's fan-out directories bottom-up from its leaves (fan-out
// path -> row entries) and returns the table's tree.
git_oid WriteFanoutTrees(ObjectSink& sink, std::map<std::string, std::vector<EntrySpec>> dirs) {
  for (;;) {
    // Every path has the same depth, so each pass lifts all of them a level.
    std::map<std::string, std::vector<EntrySpec>> parents;
    for (auto& [path, entries] : dirs) {
      size_t slash = path.rfind('/');
      std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
      parents[parent].push_back({path.substr(slash + 1), WriteTree(sink, std::move(entries)),
                                 GIT_FILEMODE_TREE});
    }
    if (parents.size() == 1 && parents.begin()->first.empty()) {
      return WriteTree(sink, std::move(parents.begin()->second));
    }
    dirs = std::move(parents);
  }
}

}  // namespace

git_oid WriteImageTree(ObjectSink& sink, const Database& db, const ProgressFn& progress,
                       int64_t generation) {
  std::vector<EntrySpec> tables;
  std::map<std::string, std::vector<EntrySpec>> leaves;  // of the current table
  const Table* current = nullptr;
  auto flush_table = [&] {
    if (current == nullptr || leaves.empty()) return;
    tables.push_back({EncodeName(current->name), WriteFanoutTrees(sink, std::move(leaves)),
                      GIT_FILEMODE_TREE});
    leaves.clear();
  };
  size_t done = 0, total = db.TotalRows();
  FieldList stored;
  db.ForEachRow([&](const Table& table, const std::string& ref,
                    const std::vector<std::string>& values) {
    if (&table != current) {
      flush_table();
      current = &table;
    }
    if (!table.persistent) return;
    stored.clear();
    for (const Column& col : table.columns) {
      if (table.Stored(col)) stored.emplace_back(col.name, values[col.index]);
    }
    leaves[BucketPath(ref)].push_back(
        {EncodeName(ref), WriteRowTree(sink, table, stored), GIT_FILEMODE_TREE});
    if (progress && ++done % 1000 == 0) progress(done, total);
  });
  flush_table();
  git_oid meta = WriteMetaTree(sink, db.schema(), generation);
  if (tables.empty()) return WriteRootTree(sink, meta, nullptr);
  git_oid data = WriteTree(sink, tables);
  return WriteRootTree(sink, meta, &data);
}

}  // namespace xgdb::store
