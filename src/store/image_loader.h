// Reading a commit's tree back: the meta/ checks, one row, a whole image.
// Every problem is an Error(kCorrupt) naming the path: a repository that
// does not read back exactly is never served.
#ifndef XGDB_STORE_IMAGE_LOADER_H_
#define XGDB_STORE_IMAGE_LOADER_H_

#include <git2.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xgdb/database.h"
#include "xgdb/schema.h"

namespace xgdb::store {

// Checks meta/format and parses meta/schema.json of a root tree.
std::shared_ptr<const Schema> ReadMeta(git_repository* repo, const git_tree* root);

// The columns present in a row directory, in column order, as stored text
// (sets and maps canonical, members in byte order of their raw names).
struct RowContents {
  std::string ref;
  std::vector<std::pair<const Column*, std::string>> columns;
};
// `path` names the directory in messages; `entry_name` is its tree entry name.
RowContents ReadRow(git_repository* repo, const Table& table, const git_oid& row_tree,
                    const std::string& entry_name, const std::string& path);

// Maps a table's encoded column names to its stored columns.
const Column* FindStoredColumn(const Table& table, const std::string& entry_name);

// The database held by a root tree (schema from ReadMeta, or `schema`).
std::unique_ptr<Database> LoadImage(git_repository* repo, const git_tree* root,
                                    std::shared_ptr<const Schema> schema);

// The stored text of every column of `table` a row lacks on disk would take:
// "()" for sets/maps, the default for strings (nullopt: none -> corrupt).
std::string MissingColumnValue(const Table& table, const Column& col, const std::string& path);

}  // namespace xgdb::store

#endif  // XGDB_STORE_IMAGE_LOADER_H_
