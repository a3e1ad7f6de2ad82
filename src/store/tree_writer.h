// Building trees: a row's directory, the meta/ directory, a whole image.
// Objects are written through the repository (so into its ObjectSink).
#ifndef XGDB_STORE_TREE_WRITER_H_
#define XGDB_STORE_TREE_WRITER_H_

#include <git2.h>

#include <string>
#include <string_view>
#include <vector>

#include "xgdb/database.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"

namespace xgdb::store {

struct EntrySpec {
  std::string name;  // already encoded
  git_oid id;
  git_filemode_t mode;
};

git_oid WriteBlob(git_repository* repo, std::string_view data);
git_oid WriteTree(git_repository* repo, const std::vector<EntrySpec>& entries);

// The directory of one row from its stored columns (name, stored text);
// columns that are not Table::Stored are skipped, unknown ones are an
// Error(kInvalidArgument), bad set/map text an Error(kParse).
git_oid WriteRowTree(git_repository* repo, const Table& table, const FieldList& stored);

// meta/: format and schema.
git_oid WriteMetaTree(git_repository* repo, const Schema& schema);

// The root tree: meta/ plus xapi/ (`data` may be null: no rows at all).
git_oid WriteRootTree(git_repository* repo, const git_oid& meta, const git_oid* data);

// The root tree holding every stored row of `db` (the import fast path:
// built bottom-up, no tree is read back).
git_oid WriteImageTree(git_repository* repo, const Database& db, const ProgressFn& progress);

}  // namespace xgdb::store

#endif  // XGDB_STORE_TREE_WRITER_H_
