// Master as a function of the hosts' heads (docs/replication.md, "Master").
//
// Every host commits only to its own ref, refs/hosts/<uuid>; master is
// derived from the set of heads alone, so two hosts that know the same heads
// write the same merge commits and point master at the same id:
//   1. the frontier: the distinct heads that are not ancestors of another;
//   2. one head: that is master; several: sorted by id, folded left with the
//      field-level merge (parents in id order, deterministic commits), what
//      cannot merge settled for the side whose commit is later (committer
//      time, then the larger id), each decision a "Conflict:" line in the
//      merge commit's message. Fencing comes first: when both sides made
//      changes under one lock ("Lock-Token:" trailers), the side with the
//      newer token wins instead (docs/locks.md, "Fencing").
#ifndef XGDB_REPLICA_DERIVE_H_
#define XGDB_REPLICA_DERIVE_H_

#include <git2.h>

#include <map>
#include <string>
#include <vector>

namespace xgdb::replica {

// Host uuid -> head commit (40 hex).
using Heads = std::map<std::string, std::string>;

struct DerivedMaster {
  std::string commit;                  // "" when there are no heads
  std::vector<std::string> frontier;   // the heads that are not ancestors of another, sorted
  std::vector<std::string> conflicts;  // "Conflict:" lines of merges written now
};

// Writes the merge commits needed (objects only; moves no ref). Throws
// Error(kCorrupt/kInvalidArgument) on unreadable or unrelated heads.
DerivedMaster DeriveMaster(git_repository* repo, const Heads& heads);

// One step of the fold: the merge of two heads as every host writes it
// (parents in id order, the later side or the newer lock token winning
// what cannot merge). The same whichever is `ours`. Appends the decisions'
// "Conflict:" lines to `conflicts` (may be null).
std::string MergeHeads(git_repository* repo, const std::string& ours, const std::string& theirs,
                       std::vector<std::string>* conflicts);

// True when `descendant` is `ancestor` or has it in its history; both must
// exist.
bool Contains(git_repository* repo, const std::string& descendant, const std::string& ancestor);

}  // namespace xgdb::replica

#endif  // XGDB_REPLICA_DERIVE_H_
