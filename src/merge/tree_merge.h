// Three-way merge of two database trees at field granularity
// (docs/merge.md).
//
// The three trees (base, ours = the target such as master, theirs = the
// branch being merged) are walked together and every subtree whose id is
// equal on two sides is settled without being read: the third side's id is
// taken as is. So a merge reads O(changed fields x depth) trees, whatever
// the size of the database. Below the pruning, a String column is one value,
// a Set merges per element and a Map per key; rows created or deleted on one
// side merge cleanly. What cannot merge is reported as a Conflict naming the
// table, ref, field and key with their real (decoded) names.
#ifndef XGDB_MERGE_TREE_MERGE_H_
#define XGDB_MERGE_TREE_MERGE_H_

#include <git2.h>

#include <memory>
#include <string>
#include <vector>

#include "merge/git_reader.h"
#include "xgdb/error.h"
#include "xgdb/schema.h"

namespace xgdb::merge {

struct Conflict {
  enum class Kind {
    kField,         // a String column changed on both sides to different values
    kMapKey,        // a map key changed (or removed vs changed) on both sides
    kDeleteModify,  // one side deleted the row, the other changed it
    kMeta,          // meta/<path> changed on both sides
    kOther,         // shapes that cannot merge (a file against a directory...)
  } kind = Kind::kField;
  std::string table, ref, field, key;  // raw names; `key` only for kMapKey
  // What each side did, in words: "'a'" (the new value), "deleted the row",
  // "removed it", "created it as 'x'".
  std::string ours, theirs;

  // "VM OpaqueRef:x name__label changed on both sides ('a' vs 'b')".
  std::string Describe() const;
};

// A row that `theirs` created, deleted or modified relative to base.
struct RowChanged {
  enum class Kind { kCreated, kDeleted, kModified } kind = Kind::kModified;
  std::string table, ref;
};

// Who wins what cannot merge. kNone: it is a conflict (tasks, revert).
// Replication picks a side (docs/replication.md) so that every host makes
// the same merge.
enum class Winner { kNone, kOurs, kTheirs };

struct TreeMergeOptions {
  // Also list the rows theirs changed (for the ownership check). Costs a
  // Merkle diff of base against theirs: O(rows theirs changed x depth).
  bool collect_theirs_changes = false;
  Winner winner = Winner::kNone;
};

struct TreeMergeResult {
  git_oid tree{};                       // the merged root (valid when no conflict)
  std::vector<Conflict> conflicts;      // empty: the merge is clean
  // With a winner: what would have conflicted, settled for that side
  // (`ours`/`theirs` say what each side did).
  std::vector<Conflict> resolved;
  std::vector<RowChanged> theirs_changed;  // when collect_theirs_changes
  // Rows both sides changed, merged field by field (kind: as theirs did it).
  // Every other row of the result is ours' or theirs' directory unchanged.
  std::vector<RowChanged> both_changed;
  std::shared_ptr<const Schema> schema;    // the schema names were decoded with
  ReadStats stats;
};

// Merges three root trees of one repository; new trees are written to it
// (only along changed paths). Throws Error(kCorrupt) when a tree does not
// follow docs/format.md where the merge has to look into it.
TreeMergeResult MergeTrees(git_repository* repo, const git_oid& base, const git_oid& ours,
                           const git_oid& theirs, const TreeMergeOptions& options = {});

// Error(kConflict) whose message lists the first conflicts ("conflict: VM
// OpaqueRef:x name__label changed on both sides ('a' vs 'b'); ...") and whose
// args are table, ref, field, key of the first one.
Error ConflictError(const std::vector<Conflict>& conflicts);

}  // namespace xgdb::merge

#endif  // XGDB_MERGE_TREE_MERGE_H_
