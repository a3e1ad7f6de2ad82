#include "store/image_loader.h"

#include <algorithm>
#include <unordered_map>

#include "schema/sexpr.h"
#include "store/git_ptr.h"
#include "store/layout.h"
#include "store/member_order.h"
#include "store/name_codec.h"
#include "store/tree_writer.h"

namespace xgdb::store {
namespace {

[[noreturn]] void Corrupt(const std::string& what) {
  throw Error(ErrorKind::kCorrupt, "corrupt repository: " + what);
}

std::string ReadBlob(git_repository* repo, const git_oid& id, const std::string& path) {
  git_blob* raw = nullptr;
  Check(git_blob_lookup(&raw, repo, &id), "cannot read " + path + " (" + OidHex(id) + ")",
        ErrorKind::kCorrupt);
  BlobPtr blob(raw);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<size_t>(git_blob_rawsize(blob.get())));
}

TreePtr LookupTree(git_repository* repo, const git_oid& id, const std::string& path) {
  git_tree* raw = nullptr;
  Check(git_tree_lookup(&raw, repo, &id), "cannot read " + path + " (" + OidHex(id) + ")",
        ErrorKind::kCorrupt);
  return TreePtr(raw);
}

bool IsBlob(const git_tree_entry* e) { return git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB; }
bool IsTree(const git_tree_entry* e) { return git_tree_entry_filemode(e) == GIT_FILEMODE_TREE; }

// The members %verbatim holds (by DistinctSet or DistinctMap); text that
// does not parse is corrupt.
template <typename Parse>
auto Distinct(const std::string& verbatim, const std::string& path, Parse parse) {
  try {
    return parse(verbatim);
  } catch (const Error& e) {
    Corrupt(path + "/%verbatim does not parse: " + e.what());
  }
}

// The text of a set/map directory: its members in xapi's order (%order,
// else tree order) printed canonically, or %verbatim when it holds the text
// of exactly those members.
std::string ReadMembersText(git_repository* repo, const git_oid& dir_id, bool is_map,
                            const std::string& path) {
  TreePtr dir = LookupTree(repo, dir_id, path);
  sexpr::StringMap members;  // tree order
  std::vector<std::string> names;
  std::optional<std::string> order_text, verbatim;
  size_t n = git_tree_entrycount(dir.get());
  if (n == 0) Corrupt(path + " is an empty directory");
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(dir.get(), i);
    std::string name = git_tree_entry_name(e);
    std::string member_path = path + "/" + name;
    if (IsColumnNote(name)) {
      if (!IsBlob(e)) Corrupt(member_path + " must be a file");
      (name == kOrderEntry ? order_text : verbatim) = ReadBlob(repo, *git_tree_entry_id(e), member_path);
      continue;
    }
    std::string raw, value;
    if (IsBlob(e)) {
      auto decoded = DecodeName(name);
      if (!decoded) Corrupt("entry name does not decode: " + member_path);
      raw = std::move(*decoded);
      value = ReadBlob(repo, *git_tree_entry_id(e), member_path);
    } else if (IsTree(e) && IsHashedName(name)) {
      TreePtr inner = LookupTree(repo, *git_tree_entry_id(e), member_path);
      const git_tree_entry* ne = git_tree_entry_byname(inner.get(), kHashedNameEntry);
      const git_tree_entry* ve = git_tree_entry_byname(inner.get(), kHashedValueEntry);
      if (ne == nullptr || !IsBlob(ne) || (is_map && (ve == nullptr || !IsBlob(ve))) ||
          git_tree_entrycount(inner.get()) != (is_map ? 2u : 1u)) {
        Corrupt("hashed entry " + member_path + " must hold exactly " +
                (is_map ? "`name` and `value`" : "`name`"));
      }
      raw = ReadBlob(repo, *git_tree_entry_id(ne), member_path + "/name");
      if (EncodeName(raw) != name) Corrupt("hashed entry " + member_path + " does not match its name");
      if (is_map) value = ReadBlob(repo, *git_tree_entry_id(ve), member_path + "/value");
    } else {
      Corrupt("unexpected entry " + member_path);
    }
    if (!is_map && !value.empty()) Corrupt("set element " + member_path + " is not empty");
    names.push_back(std::move(name));
    members.emplace_back(std::move(raw), std::move(value));
  }
  sexpr::StringMap pairs;
  if (!order_text) {
    pairs = std::move(members);  // tree order is xapi's order
  } else {
    std::unordered_map<std::string_view, size_t> index;
    for (size_t i = 0; i < names.size(); ++i) index.emplace(names[i], i);
    pairs.reserve(members.size());
    for (const std::string& name : MemberOrder(names, order_text, path)) {
      pairs.push_back(std::move(members[index.at(name)]));
    }
  }
  if (!is_map) {
    sexpr::StringSet set;
    set.reserve(pairs.size());
    for (auto& p : pairs) set.push_back(std::move(p.first));
    if (!verbatim) return sexpr::PrintSet(set);
    if (Distinct(*verbatim, path, DistinctSet) != set) Corrupt(path + "/%verbatim does not hold its members");
    return std::move(*verbatim);
  }
  if (!verbatim) return sexpr::PrintMap(pairs);
  if (Distinct(*verbatim, path, DistinctMap) != pairs) Corrupt(path + "/%verbatim does not hold its members");
  return std::move(*verbatim);
}

}  // namespace

int ReadFormatNumber(git_repository* repo, const git_tree* root) {
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, root, kFormatPath) < 0) Corrupt("meta/format is missing");
  TreeEntryPtr format(raw);
  if (!IsBlob(format.get())) Corrupt("meta/format is not a file");
  std::string text = ReadBlob(repo, *git_tree_entry_id(format.get()), kFormatPath);
  if (text == kFormatText) return 3;
  if (text == kFormat2Text) return 2;
  if (text == kFormat1Text) return 1;
  Corrupt("unknown format in meta/format: '" + text.substr(0, 80) + "'");
}

Fanout FanoutOfFormat(int number) { return number == 1 ? kFormat1Fanout : kFanout; }

Fanout ReadFanout(git_repository* repo, const git_tree* root) {
  return FanoutOfFormat(ReadFormatNumber(repo, root));
}

void RequireCurrentFormat(git_repository* repo, const git_tree* root) {
  if (ReadFanout(repo, root) != kFanout) {
    throw Error(ErrorKind::kInvalidArgument,
                "a commit predates repository format 2 (it was written by an earlier release): "
                "it can be read whole (get --at, export --at) but not diffed, merged or reverted");
  }
}

int64_t ReadGenerationBase(git_repository* repo, const git_oid& meta_id) {
  git_tree* raw = nullptr;
  if (git_tree_lookup(&raw, repo, &meta_id) != 0) return 0;  // meta is a file
  TreePtr meta(raw);
  const git_tree_entry* e = git_tree_entry_byname(meta.get(), kGenerationEntry);
  if (e == nullptr || !IsBlob(e)) return 0;
  auto count = ParseGeneration(ReadBlob(repo, *git_tree_entry_id(e), kGenerationPath));
  return count.value_or(0);
}

std::shared_ptr<const Schema> ReadMeta(git_repository* repo, const git_tree* root,
                                       Fanout* fanout) {
  if (fanout != nullptr) {
    *fanout = ReadFanout(repo, root);
  } else {
    RequireCurrentFormat(repo, root);
  }
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, root, kGenerationPath) == 0) {
    TreeEntryPtr generation(raw);
    if (!IsBlob(generation.get()) ||
        !ParseGeneration(ReadBlob(repo, *git_tree_entry_id(generation.get()), kGenerationPath))) {
      Corrupt("meta/generation does not hold a generation count");
    }
  }
  if (git_tree_entry_bypath(&raw, root, kSchemaPath) < 0) Corrupt("meta/schema.json is missing");
  TreeEntryPtr schema_entry(raw);
  std::string json = ReadBlob(repo, *git_tree_entry_id(schema_entry.get()), kSchemaPath);
  try {
    return Schema::FromJson(json);
  } catch (const Error& e) {
    Corrupt(std::string("meta/schema.json does not parse: ") + e.what());
  }
}

std::shared_ptr<const Schema> ReadMetaCached(git_repository* repo, const git_tree* root) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Schema>> cache;
  const git_tree_entry* meta = git_tree_entry_byname(root, "meta");
  std::string key = meta ? OidHex(*git_tree_entry_id(meta)) : "";
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  std::shared_ptr<const Schema> schema = ReadMeta(repo, root);
  std::lock_guard<std::mutex> lock(mu);
  if (cache.size() >= 16) cache.clear();
  cache[key] = schema;
  return schema;
}

const Column* FindStoredColumn(const Table& table, const std::string& entry_name) {
  // Column names are plain identifiers, so this is nearly always a direct hit.
  auto decoded = DecodeName(entry_name);
  if (decoded) {
    const Column* col = table.FindColumn(*decoded);
    if (col != nullptr && table.Stored(*col)) return col;
    return nullptr;
  }
  for (const Column& col : table.columns) {
    if (table.Stored(col) && EncodeName(col.name) == entry_name) return &col;
  }
  return nullptr;
}

RowContents ReadRow(git_repository* repo, const Table& table, const git_oid& row_tree,
                    const std::string& entry_name, const std::string& path) {
  TreePtr row = LookupTree(repo, row_tree, path);
  RowContents out;
  std::optional<std::string> ref_column;
  size_t n = git_tree_entrycount(row.get());
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(row.get(), i);
    std::string name = git_tree_entry_name(e);
    std::string field_path = path + "/" + name;
    const Column* col = FindStoredColumn(table, name);
    if (col == nullptr) Corrupt("not a stored column of " + table.name + ": " + field_path);
    std::string text;
    if (col->type == ColumnType::kString) {
      if (!IsBlob(e)) Corrupt(field_path + " must be a file");
      text = ReadBlob(repo, *git_tree_entry_id(e), field_path);
    } else {
      if (!IsTree(e)) Corrupt(field_path + " must be a directory");
      text = ReadMembersText(repo, *git_tree_entry_id(e), col->type == ColumnType::kMap,
                             field_path);
    }
    if (col->name == "_ref") ref_column = text;
    out.columns.emplace_back(col, std::move(text));
  }
  if (!ref_column) Corrupt(path + " has no _ref");
  // The row's ref is its directory's name. Its _ref column is usually the
  // same text, but xapi lets create_row give another (spec 4.10, quirk 5),
  // and an empty ref is a ref too: both read back as written. A ref too
  // long for a name is stored hashed; only its _ref spells it then.
  if (IsHashedName(entry_name)) {
    if (HashedName(*ref_column) != entry_name) {
      Corrupt(path + "/_ref holds '" + *ref_column + "', which is not this directory's name");
    }
    out.ref = *ref_column;
  } else {
    std::optional<std::string> ref = DecodeName(entry_name);
    if (!ref) Corrupt(path + ": the directory name does not decode to a ref");
    out.ref = std::move(*ref);
  }
  std::sort(out.columns.begin(), out.columns.end(),
            [](const auto& a, const auto& b) { return a.first->index < b.first->index; });
  return out;
}

std::string MissingColumnValue(const Table& table, const Column& col, const std::string& path) {
  if (col.type != ColumnType::kString) return "()";
  if (col.default_value) return *col.default_value;
  Corrupt(path + " lacks column " + col.name + " of " + table.name + ", which has no default");
}

namespace {

// Loads the rows below one fan-out directory (`depth` levels still to go).
void LoadRows(git_repository* repo, const Table& table, const git_oid& dir,
              const std::string& path, std::string prefix, int depth, Fanout fanout,
              Database* db) {
  TreePtr tree = LookupTree(repo, dir, path);
  for (size_t i = 0; i < git_tree_entrycount(tree.get()); ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
    std::string name = git_tree_entry_name(e);
    std::string child = path + "/" + name;
    if (depth > 0) {
      if (!IsBucketName(name, fanout) || !IsTree(e)) Corrupt("not a fan-out directory: " + child);
      LoadRows(repo, table, *git_tree_entry_id(e), child,
               prefix.empty() ? name : prefix + "/" + name, depth - 1, fanout, db);
      continue;
    }
    if (!IsTree(e)) Corrupt("not a row directory: " + child);
    RowContents row = ReadRow(repo, table, *git_tree_entry_id(e), name, child);
    if (BucketPath(row.ref, fanout) != prefix) {
      Corrupt(child + " is in the wrong fan-out directory");
    }
    FieldList fields;
    fields.reserve(table.columns.size());
    size_t next = 0;
    for (const Column& col : table.columns) {
      if (!table.Stored(col)) {  // FinishLoad resets or rebuilds it
        fields.emplace_back(col.name, col.empty);
        continue;
      }
      if (next < row.columns.size() && row.columns[next].first == &col) {
        fields.emplace_back(col.name, std::move(row.columns[next].second));
        ++next;
      } else {
        fields.emplace_back(col.name, MissingColumnValue(table, col, child));
      }
    }
    try {
      db->LoadRow(table.name, row.ref, std::move(fields));
    } catch (const Error& e) {
      Corrupt(child + ": " + e.what());
    }
  }
}

}  // namespace

std::unique_ptr<Database> LoadImage(git_repository* repo, const git_tree* root,
                                    std::shared_ptr<const Schema> schema) {
  Fanout fanout;
  if (schema) {
    fanout = ReadFanout(repo, root);
  } else {
    schema = ReadMeta(repo, root, &fanout);
  }
  auto db = std::make_unique<Database>(schema);
  for (size_t i = 0; i < git_tree_entrycount(root); ++i) {
    std::string name = git_tree_entry_name(git_tree_entry_byindex(root, i));
    if (name != "meta" && name != kDataDir) Corrupt("unexpected top-level entry " + name);
  }
  const git_tree_entry* data = git_tree_entry_byname(root, kDataDir);
  if (data != nullptr) {
    if (!IsTree(data)) Corrupt("xapi is not a directory");
    TreePtr tables = LookupTree(repo, *git_tree_entry_id(data), kDataDir);
    for (size_t t = 0; t < git_tree_entrycount(tables.get()); ++t) {
      const git_tree_entry* te = git_tree_entry_byindex(tables.get(), t);
      std::string table_path = std::string(kDataDir) + "/" + git_tree_entry_name(te);
      auto table_name = DecodeName(git_tree_entry_name(te));
      const Table* table = table_name ? schema->FindTable(*table_name) : nullptr;
      if (table == nullptr || !table->persistent || !IsTree(te)) {
        Corrupt("not a persistent table of the schema: " + table_path);
      }
      LoadRows(repo, *table, *git_tree_entry_id(te), table_path, "", fanout.levels, fanout,
               db.get());
    }
  }
  try {
    db->FinishLoad();
  } catch (const Error& e) {
    Corrupt(std::string("the rows do not form a valid database: ") + e.what());
  }
  return db;
}

}  // namespace xgdb::store
