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

#include "store/layout.h"
#include "xgdb/database.h"
#include "xgdb/schema.h"

namespace xgdb::store {

// The number of the format meta/format names (1, 2 or 3); anything else is
// corrupt.
int ReadFormatNumber(git_repository* repo, const git_tree* root);
// The fan-out of that format: kFanout, or kFormat1Fanout for a commit of an
// earlier release.
Fanout FanoutOfFormat(int number);
Fanout ReadFanout(git_repository* repo, const git_tree* root);

// Error(kInvalidArgument) unless the root tree has the current layout
// (format 2 or 3: format 2 trees read as format 3 trees).
void RequireCurrentFormat(git_repository* repo, const git_tree* root);

// The count in a meta/ tree's `generation`, 0 when absent or not a count
// (Open refuses the latter; history stays readable).
int64_t ReadGenerationBase(git_repository* repo, const git_oid& meta_id);

// Checks meta/format and parses meta/schema.json of a root tree. With
// `fanout` null the tree must be in the current format (walks that compare
// trees need one layout), else an Error(kInvalidArgument); otherwise both
// formats are accepted and *fanout says which.
std::shared_ptr<const Schema> ReadMeta(git_repository* repo, const git_tree* root,
                                       Fanout* fanout = nullptr);

// ReadMeta(repo, root) (the current format only) through a process-wide
// cache keyed by meta/'s tree id: walks that run per commit (Diff, merges)
// would otherwise parse the schema's JSON (340 KB for xapi 5.909) each time.
std::shared_ptr<const Schema> ReadMetaCached(git_repository* repo, const git_tree* root);

// The columns present in a row directory, in column order, as stored text
// (sets and maps in xapi's order, see member_order.h).
struct RowContents {
  std::string ref;
  std::vector<std::pair<const Column*, std::string>> columns;
};
// `path` names the directory in messages; `entry_name` is its tree entry name.
RowContents ReadRow(git_repository* repo, const Table& table, const git_oid& row_tree,
                    const std::string& entry_name, const std::string& path);

// Maps a table's encoded column names to its stored columns.
const Column* FindStoredColumn(const Table& table, const std::string& entry_name);

// The database held by a root tree, in either format (schema from
// meta/schema.json, or `schema`).
std::unique_ptr<Database> LoadImage(git_repository* repo, const git_tree* root,
                                    std::shared_ptr<const Schema> schema);

// The stored text of every column of `table` a row lacks on disk would take:
// "()" for sets/maps, the default for strings (nullopt: none -> corrupt).
std::string MissingColumnValue(const Table& table, const Column& col, const std::string& path);

}  // namespace xgdb::store

#endif  // XGDB_STORE_IMAGE_LOADER_H_
