// Deterministic merge commits (docs/merge.md, "Merge commits").
//
// The same tree and parents give the same commit id on every host: the
// identity is fixed ("xapi-gitdb merge"), the time is the later of the
// parents' committer times (UTC), and the message is derived only from the
// parents, the tree and the acting host. So hosts that merge the same work
// converge on the same history.
#ifndef XGDB_MERGE_MERGE_COMMIT_H_
#define XGDB_MERGE_MERGE_COMMIT_H_

#include <git2.h>

#include <cstdint>
#include <map>
#include <string>

namespace xgdb::merge {

inline constexpr char kMergeAuthorName[] = "xapi-gitdb merge";
inline constexpr char kMergeAuthorEmail[] = "merge@xapi-gitdb";

enum class ParentOrder {
  // Task merges: the target (ours, e.g. master) is the first parent, so
  // `git log --first-parent master` is master's own history.
  kOursFirst,
  // Replication: parents sorted by id, so host A merging B's head and host B
  // merging A's head write the same commit.
  kSorted,
};

// Writes (does not move any ref) the merge commit of `tree` with parents
// `ours` and `theirs` (commit ids, 40 hex). `host` is the acting host's ref
// recorded as the trailer "Host: <host>" (the host whose work is merged;
// "" for replication merges, where it would differ between hosts).
// `notes` (lines, each ending in '\n') go between the title and the
// trailers; they must be derived from the same inputs, or hosts would differ.
// Returns the commit id. Error(kIo/kCorrupt) when a parent is unreadable.
std::string CreateMergeCommit(git_repository* repo, const git_oid& tree, const std::string& ours,
                              const std::string& theirs, ParentOrder order,
                              const std::string& host = "", const std::string& notes = "");

// The value of the last "Host: " trailer of a commit message ("" if none):
// the identity of the host that made a commit (store commits carry
// StoreOptions::host_id, merge commits the acting host).
std::string HostTrailer(const std::string& message);

// Fencing (docs/locks.md): a commit made under a lock carries one trailer
// "Lock-Token: <token> <lock name>" per lock (token first: names may hold
// spaces). LockTokenTrailer formats one line (with its '\n');
// LockTokenTrailers reads them back, the greatest token per lock name.
std::string LockTokenTrailer(const std::string& name, uint64_t token);
std::map<std::string, uint64_t> LockTokenTrailers(const std::string& message);

}  // namespace xgdb::merge

#endif  // XGDB_MERGE_MERGE_COMMIT_H_
