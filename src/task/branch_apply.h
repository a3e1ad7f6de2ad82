// Bringing a branch's image up to a commit that was just merged into it, at
// the cost of the rows that changed (docs/tasks.md, "Committing"), and
// reverting a commit on master through the same merge rules.
//
// A branch is a ref plus the in-memory image that serves its calls: master
// and Store::db(), or a task's ref and its working image. After the merge
// engine wrote a new commit for the branch, the rows it changed are read
// back from that commit's tree and put into the image with ApplyRows, so the
// image equals the commit without reloading the database.
#ifndef XGDB_TASK_BRANCH_APPLY_H_
#define XGDB_TASK_BRANCH_APPLY_H_

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "xgdb/database.h"
#include "xgdb/store.h"

namespace xgdb::task {

using RowKey = std::pair<std::string, std::string>;  // (table, ref)
using RowMap = std::map<RowKey, const RowDelta*>;

// What a task did to its rows: how they are in its image now (`now`,
// work.ChangedSince(base)) and how they were when it began (`before`,
// base.ChangedSince(work)). Used for the columns git does not hold.
struct TaskRows {
  RowMap now, before;
  // The rows the merge combined field by field (MergeOutcome::both_changed).
  // Every other row the task changed is the task's own directory in the
  // merge commit, so its stored columns come from `now`, not from git.
  std::set<RowKey> merged;
};

// The rows `keys` of `image`'s tables as commit `commit` holds them, as
// ApplyRows input: stored columns from the commit's tree (a row absent
// there is deleted), or from task->now for a row the merge took whole from
// the task; every other column (non-persistent columns, derived
// set sides, rows of non-persistent tables) from the task when it changed
// that column (last writer wins), else from the image as it is now, else
// the column's empty value.
std::vector<RowDelta> RowsAt(Store& store, const std::string& commit, const Database& image,
                             const std::vector<RowKey>& keys, const TaskRows* task);

// Checks `rows` against `image` (uuid uniqueness, relations), then moves
// `ref` from `from` to `to` (when they differ), runs `after_move` (if any)
// and applies the rows to `image`. An error before `after_move` leaves the
// ref and the image as they were. The caller keeps other writers out of
// `image` meanwhile. For a task's branch only: master and its image move
// together in Store::UpdateMaster, which does the same steps under the
// store's own locks.
void MoveBranchAndApply(Store& store, const std::string& ref, const std::string& from,
                        const std::string& to, Database& image,
                        const std::vector<RowDelta>& rows, const std::string& log_message,
                        const std::function<void()>& after_move = nullptr);

// The image of commit `commit` (a 40-hex id), made from a clone of
// master's image at its head by re-applying the rows that differ between
// the two commits: O(rows changed since), not O(database). Stored columns
// and derived set sides are the commit's; other non-stored columns and rows
// of non-persistent tables are master's (callers that show them treat them
// as LoadAt does: blank, absent). Falls back to Store::LoadAt when the
// commit predates format 2, holds another schema, or differs from head in
// more than a quarter of the rows. Master's pending writes are committed
// first (Store::CloneMaster).
std::unique_ptr<Database> ImageAt(Store& store, const std::string& commit);

// Undoes commit `rev` (its changes against its first parent) as a new
// commit on master: a three-way merge with base = rev, ours = master,
// theirs = rev's parent, so later changes to the same fields conflict
// (Error kConflict naming table, ref and field; nothing changes). Goes
// through Store::UpdateMaster: master's pending writes are committed first
// and master's image follows. Returns the new commit, or "" when there is
// nothing to undo.
std::string RevertCommit(Store& store, const std::string& rev);

}  // namespace xgdb::task

#endif  // XGDB_TASK_BRANCH_APPLY_H_
