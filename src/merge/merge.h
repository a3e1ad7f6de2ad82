// Merging one commit into another: the one call the task and replication
// features make (docs/merge.md). It finds the merge base, merges the trees
// at field granularity (tree_merge.h), refuses changes to objects another
// host owns (ownership.h) and writes a deterministic merge commit
// (merge_commit.h). It never moves a ref: the caller moves the target only
// when this returns, so on any error the target is untouched.
#ifndef XGDB_MERGE_MERGE_H_
#define XGDB_MERGE_MERGE_H_

#include <git2.h>

#include <string>
#include <vector>

#include "merge/merge_commit.h"
#include "merge/ownership.h"
#include "merge/tree_merge.h"

namespace xgdb::merge {

struct MergeOptions {
  // The acting host's ref (the host whose branch is merged); "" skips the
  // ownership check (local plain-protocol writes).
  std::string actor;
  const OwnershipRules* rules = nullptr;  // nullptr: OwnershipRules::Builtin()
  // Optional view of ours for owner lookups (e.g. ImageRowView of the
  // store's image of master), instead of reading ours' tree.
  RowView* ours_view = nullptr;
  ParentOrder order = ParentOrder::kOursFirst;
  // When ours is an ancestor of theirs, answer theirs itself instead of
  // writing a merge commit.
  bool fast_forward = true;
  // Who wins what cannot merge (tree_merge.h); kNone: Error(kConflict).
  // Each decision is written into the merge commit's message as a
  // "Conflict:" line (see ConflictLine).
  Winner winner = Winner::kNone;
};

struct MergeOutcome {
  enum class Kind { kUpToDate, kFastForward, kMerged } kind = Kind::kMerged;
  std::string commit;  // what the target should point to now
  std::string base;    // the merge base used
  std::vector<RowChanged> theirs_changed;  // when an actor was given
  std::vector<RowChanged> both_changed;    // rows merged field by field
  std::vector<Conflict> resolved;          // settled by options.winner
  ReadStats stats;     // trees/blobs read by the merge and the check
};

// Merges commit `theirs` into commit `ours` (40-hex ids). Throws
// Error(kConflict) listing the conflicts, Error(kOwnership) naming the
// first row the actor may not change, Error(kInvalidArgument) for unknown
// or unrelated commits.
// The line a settled conflict gets in a merge commit's message:
// "Conflict: <table> <ref> <field> [<key>] kept <side's value> over <other's>"
// with quoted values as Conflict::Describe shows them.
std::string ConflictLine(const Conflict& c, Winner winner);

MergeOutcome MergeCommits(git_repository* repo, const std::string& ours, const std::string& theirs,
                          const MergeOptions& options = {});

}  // namespace xgdb::merge

#endif  // XGDB_MERGE_MERGE_H_
