// Moving refs through the Env (docs/format.md, "Refs"), in git's own file
// format so that plain git and libgit2 read them: a loose ref is written as
// <ref>.lock, synced, renamed over <ref>, and its directory synced; then a
// line is appended to its reflog logs/<ref> (not synced: the reflog is a
// record for people, not state).
//
// Nothing here checks what a ref points at: callers hold the repository
// lock (one writing process) and the store's git lock (one writing thread),
// read the ref, compare, then write. A lock file <ref>.lock left by a dead
// process is overwritten: under the repository lock nobody else writes refs
// (docs/operations.md says not to run ref-moving git commands beside it).
#ifndef XGDB_STORE_REFS_H_
#define XGDB_STORE_REFS_H_

#include <git2.h>

#include <string>

#include "xgdb/env.h"

namespace xgdb::store {

// Who moved a ref, as a reflog line names it.
struct RefAuthor {
  std::string name, email;
  int64_t time = 0;  // seconds since the epoch
};

// Points `ref` ("refs/heads/master") at `target`; `old` is what it pointed
// at (null when it did not exist), for the reflog. With `sync`, the ref is
// durable when this returns. Error(kIo).
void WriteRef(Env& env, const std::string& git_dir, const std::string& ref, const git_oid* old,
              const git_oid& target, const RefAuthor& author, const std::string& message,
              bool sync);

// Removes `ref`, its reflog, and its line in packed-refs if it has one.
// An absent ref is not an error. Error(kIo).
void DeleteRef(Env& env, const std::string& git_dir, const std::string& ref, bool sync);

// Removes lock files (*.lock) under refs/ and logs/, and HEAD.lock and
// packed-refs.lock, left by a process that died while moving a ref; only
// to be called under the repository lock. Returns how many it removed.
size_t RemoveStaleRefLocks(Env& env, const std::string& git_dir);

}  // namespace xgdb::store

#endif  // XGDB_STORE_REFS_H_
