#include "store/tree_writer.h"

#include <map>

#include "schema/sexpr.h"
#include "store/git_ptr.h"
#include "store/layout.h"
#include "store/name_codec.h"

namespace xgdb::store {
namespace {

// A set element or map key as a tree entry: inline `encoded -> blob(value)`,
// or for long names `%H<id>/ -> {name: raw, value: value}` (sets: no value).
void AddMember(git_repository* repo, std::vector<EntrySpec>& out, std::string_view raw,
               const std::string* value) {
  std::string name = EncodeName(raw);
  if (!IsHashedName(name)) {
    out.push_back({name, WriteBlob(repo, value ? *value : ""), GIT_FILEMODE_BLOB});
    return;
  }
  std::vector<EntrySpec> inner;
  inner.push_back({kHashedNameEntry, WriteBlob(repo, raw), GIT_FILEMODE_BLOB});
  if (value) inner.push_back({kHashedValueEntry, WriteBlob(repo, *value), GIT_FILEMODE_BLOB});
  out.push_back({name, WriteTree(repo, inner), GIT_FILEMODE_TREE});
}

// Adds the entry of one column, or nothing for an empty set/map.
void AddColumn(git_repository* repo, std::vector<EntrySpec>& entries, const Column& col,
               const std::string& text) {
  std::string name = EncodeName(col.name);
  if (col.type == ColumnType::kString) {
    entries.push_back({name, WriteBlob(repo, text), GIT_FILEMODE_BLOB});
    return;
  }
  std::vector<EntrySpec> members;
  if (col.type == ColumnType::kSet) {
    for (const std::string& e : sexpr::ParseSet(text)) AddMember(repo, members, e, nullptr);
  } else {
    for (const auto& [k, v] : sexpr::ParseMap(text)) AddMember(repo, members, k, &v);
  }
  if (members.empty()) return;  // git has no empty trees: absent means "()"
  entries.push_back({name, WriteTree(repo, members), GIT_FILEMODE_TREE});
}

}  // namespace

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

git_oid WriteRowTree(git_repository* repo, const Table& table, const FieldList& stored) {
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
      AddColumn(repo, entries, *col, text);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kParse) throw;
      throw Error(ErrorKind::kParse, table.name + "." + field + ": " + e.what());
    }
  }
  return WriteTree(repo, entries);
}

git_oid WriteMetaTree(git_repository* repo, const Schema& schema) {
  return WriteTree(repo, {{"format", WriteBlob(repo, kFormatText), GIT_FILEMODE_BLOB},
                          {"schema.json", WriteBlob(repo, schema.json_text()),
                           GIT_FILEMODE_BLOB}});
}

git_oid WriteRootTree(git_repository* repo, const git_oid& meta, const git_oid* data) {
  std::vector<EntrySpec> entries{{"meta", meta, GIT_FILEMODE_TREE}};
  if (data != nullptr) entries.push_back({kDataDir, *data, GIT_FILEMODE_TREE});
  return WriteTree(repo, entries);
}

git_oid WriteImageTree(git_repository* repo, const Database& db, const ProgressFn& progress) {
  std::vector<EntrySpec> tables;
  std::map<std::string, std::vector<EntrySpec>> buckets;  // of the current table
  const Table* current = nullptr;
  auto flush_table = [&] {
    if (current == nullptr || buckets.empty()) return;
    std::vector<EntrySpec> bucket_entries;
    for (const auto& [bucket, rows] : buckets) {
      bucket_entries.push_back({bucket, WriteTree(repo, rows), GIT_FILEMODE_TREE});
    }
    tables.push_back({EncodeName(current->name), WriteTree(repo, bucket_entries),
                      GIT_FILEMODE_TREE});
    buckets.clear();
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
    buckets[Bucket(ref)].push_back(
        {EncodeName(ref), WriteRowTree(repo, table, stored), GIT_FILEMODE_TREE});
    if (progress && ++done % 1000 == 0) progress(done, total);
  });
  flush_table();
  git_oid meta = WriteMetaTree(repo, db.schema());
  if (tables.empty()) return WriteRootTree(repo, meta, nullptr);
  git_oid data = WriteTree(repo, tables);
  return WriteRootTree(repo, meta, &data);
}

}  // namespace xgdb::store
