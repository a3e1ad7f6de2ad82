// RAII for libgit2: one owning pointer type per libgit2 object, each freed
// by its one free function, plus the single place where a libgit2 error code
// becomes an xgdb::Error.
//
// libgit2 objects are not thread-safe: a handle (and everything looked up
// through it) belongs to one thread at a time.
#ifndef XGDB_STORE_GIT_PTR_H_
#define XGDB_STORE_GIT_PTR_H_

#include <git2.h>

#include <memory>
#include <string>

#include "xgdb/error.h"

namespace xgdb::store {

template <typename T, void (*Free)(T*)>
struct GitDeleter {
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};
template <typename T, void (*Free)(T*)>
using GitPtr = std::unique_ptr<T, GitDeleter<T, Free>>;

using RepoPtr = GitPtr<git_repository, git_repository_free>;
using OdbPtr = GitPtr<git_odb, git_odb_free>;
using OdbObjectPtr = GitPtr<git_odb_object, git_odb_object_free>;
using ObjectPtr = GitPtr<git_object, git_object_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using TreeEntryPtr = GitPtr<git_tree_entry, git_tree_entry_free>;  // owned entries only
using BlobPtr = GitPtr<git_blob, git_blob_free>;
using TreeBuilderPtr = GitPtr<git_treebuilder, git_treebuilder_free>;
using SignaturePtr = GitPtr<git_signature, git_signature_free>;
using ReferencePtr = GitPtr<git_reference, git_reference_free>;
using RevwalkPtr = GitPtr<git_revwalk, git_revwalk_free>;
using PackBuilderPtr = GitPtr<git_packbuilder, git_packbuilder_free>;

// libgit2's last error message for this thread ("" when none).
inline std::string LastGitError() {
  const git_error* e = git_error_last();
  return e != nullptr && e->message != nullptr ? e->message : "";
}

// Throws Error(kind, "<what>: <libgit2 message>") when rc < 0.
inline void Check(int rc, const std::string& what, ErrorKind kind = ErrorKind::kIo) {
  if (rc < 0) {
    std::string msg = LastGitError();
    throw Error(kind, what + (msg.empty() ? "" : ": " + msg));
  }
}

inline std::string OidHex(const git_oid& id) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &id);
  return buf;
}

// The id of 40 hex digits; Error(kInvalidArgument) naming `hex` otherwise.
inline git_oid ParseOidHex(const std::string& hex) {
  git_oid id;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&id, hex.c_str()) != 0) {
    throw Error(ErrorKind::kInvalidArgument, "not a commit id: '" + hex + "'");
  }
  return id;
}

// Commit `id`; Error(`kind`) when it cannot be read.
inline CommitPtr LookupCommit(git_repository* repo, const git_oid& id,
                              ErrorKind kind = ErrorKind::kIo) {
  git_commit* raw = nullptr;
  Check(git_commit_lookup(&raw, repo, &id), "reading commit " + OidHex(id), kind);
  return CommitPtr(raw);
}

// The root tree of commit `commit_id`.
inline TreePtr CommitRoot(git_repository* repo, const git_oid& commit_id) {
  git_commit* raw = nullptr;
  Check(git_commit_lookup(&raw, repo, &commit_id), "reading commit " + OidHex(commit_id));
  CommitPtr commit(raw);
  git_tree* raw_tree = nullptr;
  Check(git_commit_tree(&raw_tree, commit.get()), "reading the tree of " + OidHex(commit_id));
  return TreePtr(raw_tree);
}

// Makes sure git_libgit2_init() has run once in this process (never shut down:
// other threads may still hold handles at exit).
void EnsureLibgit2();

}  // namespace xgdb::store

#endif  // XGDB_STORE_GIT_PTR_H_
