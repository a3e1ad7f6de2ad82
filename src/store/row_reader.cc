// Reading single rows straight from a commit's tree, for read-only opens
// (`xapi-gitdb get` beside a daemon): a row is found by computing its path
// in each table, so a read costs a few tree lookups, not a loaded image.
#include <functional>

#include "schema/sexpr.h"
#include "store/image_loader.h"
#include "store/layout.h"
#include "store/name_codec.h"
#include "store/store_impl.h"

namespace xgdb {

using namespace store;

namespace {

// The id git gives a file holding `text`: comparing it with a tree entry's
// id tells whether the file holds `text` without reading the file.
git_oid BlobId(const std::string& text) {
  git_oid id;
  Check(git_odb_hash(&id, text.data(), text.size(), GIT_OBJECT_BLOB), "hashing a value");
  return id;
}

bool Holds(const git_tree* dir, const std::string& name, const git_oid& blob) {
  const git_tree_entry* e = git_tree_entry_byname(dir, name.c_str());
  return e != nullptr && git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB &&
         git_oid_equal(git_tree_entry_id(e), &blob);
}

// The blob at `name` inside tree `dir`, or nullopt when there is none.
std::optional<std::string> BlobIn(git_repository* repo, const git_tree* dir,
                                  const std::string& name) {
  const git_tree_entry* e = git_tree_entry_byname(dir, name.c_str());
  if (e == nullptr || git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB) return std::nullopt;
  git_blob* raw = nullptr;
  Check(git_blob_lookup(&raw, repo, git_tree_entry_id(e)), "reading " + name, ErrorKind::kCorrupt);
  BlobPtr blob(raw);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<size_t>(git_blob_rawsize(blob.get())));
}

// Calls fn(row tree, entry name, path) for every row directory of `table`
// until it returns false.
void ForEachRowTree(git_repository* repo, const git_tree* root, const Table& table,
                    Fanout fanout,
                    const std::function<bool(const git_tree*, const std::string&,
                                             const std::string&)>& fn) {
  std::string dir = TableDir(table.name);
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, root, dir.c_str()) != 0) return;  // no rows
  TreeEntryPtr entry(raw);
  std::function<bool(const git_oid&, const std::string&, int)> walk =
      [&](const git_oid& id, const std::string& path, int depth) {
        git_tree* raw_tree = nullptr;
        Check(git_tree_lookup(&raw_tree, repo, &id), "reading " + path, ErrorKind::kCorrupt);
        TreePtr tree(raw_tree);
        for (size_t i = 0; i < git_tree_entrycount(tree.get()); ++i) {
          const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
          std::string name = git_tree_entry_name(e);
          if (depth > 0) {
            if (!walk(*git_tree_entry_id(e), path + "/" + name, depth - 1)) return false;
            continue;
          }
          git_tree* raw_row = nullptr;
          Check(git_tree_lookup(&raw_row, repo, git_tree_entry_id(e)), "reading " + path,
                ErrorKind::kCorrupt);
          TreePtr row(raw_row);
          if (!fn(row.get(), name, path + "/" + name)) return false;
        }
        return true;
      };
  walk(*git_tree_entry_id(entry.get()), dir, fanout.levels);
}

// The ref of a row directory: its decoded name, or for a hashed name the
// row's _ref (image_loader.h, ReadRow).
std::string RowRef(git_repository* repo, const git_tree* row, const std::string& entry_name) {
  if (auto decoded = DecodeName(entry_name)) return *decoded;
  return BlobIn(repo, row, EncodeName("_ref")).value_or("");
}

// Every column of row `ref` of `table`: stored ones from its directory,
// derived set sides by scanning the other table, non-persistent ones blank
// (as Store::LoadAt shows them).
StoredRow RowFields(git_repository* repo, const git_tree* root, Fanout fanout,
                    const Table& table, const std::string& ref, const git_oid& row_tree,
                    const std::string& path, const Schema& schema, const std::string& only) {
  RowContents contents = ReadRow(repo, table, row_tree, EncodeName(ref), path);
  std::vector<std::optional<std::string>> values(table.columns.size());
  for (auto& [col, text] : contents.columns) values[col->index] = std::move(text);
  StoredRow out{table.name, ref, {}};
  for (const Column& c : table.columns) {
    if (!only.empty() && c.name != only) continue;
    std::string value;
    if (values[c.index]) {
      value = std::move(*values[c.index]);
    } else if (table.Stored(c)) {
      value = MissingColumnValue(table, c, path);
    } else if (c.relation == RelationSide::kOneToManySet) {
      const Table* other = schema.FindTable(c.other_table);
      sexpr::StringSet members;
      if (other != nullptr) {
        const std::string field = EncodeName(c.other_field);
        const git_oid points_here = BlobId(ref);
        ForEachRowTree(repo, root, *other, fanout, [&](const git_tree* row, const std::string& name,
                                               const std::string&) {
          if (Holds(row, field, points_here)) members.push_back(RowRef(repo, row, name));
          return true;
        });
      }
      value = sexpr::PrintSet(members);
    } else {
      value = c.empty;
    }
    out.fields.emplace_back(c.name, std::move(value));
  }
  return out;
}

}  // namespace

std::shared_ptr<const Schema> Store::schema() const {
  if (impl_->schema) return impl_->schema;
  throw Error(ErrorKind::kCorrupt, "repository " + path() + " has no schema loaded");
}

std::optional<StoredRow> Store::ReadRowAt(const std::string& rev, const std::string& ref,
                                          const std::string& table,
                                          const std::string& column) const {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  git_oid id;
  {
    git_object* raw = nullptr;
    Check(git_revparse_single(&raw, repo, rev.c_str()), "unknown revision " + rev,
          ErrorKind::kInvalidArgument);
    ObjectPtr obj(raw);
    id = *git_object_id(obj.get());
  }
  TreePtr root = CommitRoot(repo, id);
  Fanout fanout;
  std::shared_ptr<const Schema> schema = ReadMeta(repo, root.get(), &fanout);
  for (const Table& t : schema->tables()) {
    if (!t.persistent || (!table.empty() && t.name != table)) continue;
    std::string path = RowDir(t.name, ref, fanout);  // either format
    git_tree_entry* raw = nullptr;
    if (git_tree_entry_bypath(&raw, root.get(), path.c_str()) != 0) continue;
    TreeEntryPtr entry(raw);
    return RowFields(repo, root.get(), fanout, t, ref, *git_tree_entry_id(entry.get()), path,
                     *schema, column);
  }
  return std::nullopt;
}

std::vector<std::string> Store::FindRefsAt(const std::string& rev, const std::string& table,
                                           const std::string& column, const std::string& value,
                                           size_t max) const {
  std::vector<std::string> refs;
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  git_object* raw = nullptr;
  Check(git_revparse_single(&raw, repo, rev.c_str()), "unknown revision " + rev,
        ErrorKind::kInvalidArgument);
  ObjectPtr obj(raw);
  TreePtr root = CommitRoot(repo, *git_object_id(obj.get()));
  Fanout fanout;
  std::shared_ptr<const Schema> schema = ReadMeta(repo, root.get(), &fanout);
  const Table* t = schema->FindTable(table);
  if (t == nullptr || !t->persistent) return refs;
  const std::string entry = EncodeName(column);
  const git_oid wanted = BlobId(value);
  ForEachRowTree(repo, root.get(), *t, fanout, [&](const git_tree* row, const std::string& name,
                                           const std::string&) {
    if (Holds(row, entry, wanted)) refs.push_back(RowRef(repo, row, name));
    return refs.size() < max;
  });
  return refs;
}

std::optional<StoredRow> Store::FindUuidAt(const std::string& rev, const std::string& uuid,
                                           const std::string& table,
                                           const std::string& column) const {
  std::vector<std::string> tables;
  for (const Table& t : schema()->tables()) {
    if (t.persistent && (table.empty() || t.name == table) && t.FindColumn("uuid")) {
      tables.push_back(t.name);
    }
  }
  for (const std::string& t : tables) {
    std::vector<std::string> refs = FindRefsAt(rev, t, "uuid", uuid, 1);
    if (!refs.empty()) return ReadRowAt(rev, refs[0], t, column);
  }
  return std::nullopt;
}

}  // namespace xgdb
