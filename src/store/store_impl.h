// Store's private state, shared by store.cc, committer.cc and history.cc.
//
// Locking, outermost first: master_gate (writers of master's image shared,
// UpdateMaster exclusive); commit_mu serialises commits and moves of master
// (taking the changes, writing, moving master); git_mu guards the
// repository handle and its ObjectSink (libgit2 objects are
// single-threaded); durable_mu guards the durable sequence; bg_mu the
// background error; listeners_mu the head listeners.
#ifndef XGDB_STORE_STORE_IMPL_H_
#define XGDB_STORE_STORE_IMPL_H_

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/git_ptr.h"
#include "store/object_sink.h"
#include "store/pack_writer.h"
#include "store/refs.h"
#include "store/repack.h"
#include "xgdb/env.h"
#include "xgdb/store.h"

namespace xgdb {

struct Store::Impl {
  StoreOptions options;
  Env* env = nullptr;  // options.env or Env::Default()
  std::unique_ptr<FileLock> repo_lock;  // null when read-only
  std::shared_ptr<const Schema> schema;
  std::unique_ptr<Database> db;  // null when read-only
  std::string author_name, author_email, host_tag;
  std::string host_ref;  // refs/hosts/<uuid>, "" without StoreOptions::host_uuid

  std::shared_mutex master_gate;

  mutable std::mutex bg_mu;
  std::optional<Error> bg_error;

  // Set while UpdateMaster has moved master but its rows are not in the
  // image yet: the head the image still equals (Store::ServedHead).
  mutable std::mutex served_mu;
  std::optional<std::string> image_behind_at;

  std::mutex listeners_mu;
  std::map<int, std::function<void(const std::string&)>> head_listeners;
  int next_listener = 0;

  mutable std::mutex git_mu;
  // GenerationAt's counts by commit (commits never change); git_mu.
  struct OidHash {
    size_t operator()(const git_oid& id) const {
      size_t h;
      std::memcpy(&h, id.id, sizeof h);  // an id's bytes are already uniform
      return h;
    }
  };
  struct OidEqual {
    bool operator()(const git_oid& a, const git_oid& b) const { return git_oid_equal(&a, &b); }
  };
  mutable std::unordered_map<git_oid, int64_t, OidHash, OidEqual> generations;
  std::unique_ptr<store::SparePool> spares;  // started with the repacker
  store::RepoPtr repo;
  store::ObjectSink* sink = nullptr;

  std::mutex commit_mu;
  std::vector<RowChange> unwritten;  // taken from db, not yet committed (a commit failed)
  std::vector<std::string> unwritten_summary;
  std::mutex trailers_mu;  // not commit_mu: adding one must not wait for a commit
  std::vector<std::string> trailers;  // for the next commit (AddTrailer)

  mutable std::mutex durable_mu;
  std::condition_variable durable_cv;
  uint64_t durable_seq = 0;

  std::mutex committer_mu;
  std::condition_variable committer_cv;
  bool committer_stop = false, commit_requested = false;
  int committer_interval_ms = 0;
  std::thread committer;

  std::unique_ptr<store::Repacker> repacker;
  // Set while the repacker waits for git_mu: committers let it in first
  // (std::mutex is not fair, and a stream of commits would starve it).
  std::atomic<bool> swap_waiting{false};
  // Notified after each repack swap (see WaitForRepacker).
  std::mutex swap_mu;
  std::condition_variable swap_cv;

  static std::unique_ptr<Impl> New(const StoreOptions& options);
  // Takes the repository lock (Error kBusy naming the holder).
  void LockRepository();
  // Writes this process (pid, served_at) into the lock file, once opened:
  // a failed open changes nothing.
  void AnnounceHolder();
  // After the lock: removes what dead processes left (ref locks, temporary
  // packs, a repack's scratch directory) and makes the repository the
  // owner's only. Logged when it finds something.
  void Recover();
  // The commit author, and who moves refs, now (Env's clock).
  store::RefAuthor Author() const;
  store::SignaturePtr Signature() const;
  // Points master at `target` (from `old`, null when new) through the Env;
  // with `own`, the host ref follows (git_mu held).
  void MoveMaster(const git_oid* old, const git_oid& target, const std::string& log_message,
                  bool own = true);
  // Creates the host ref at master when it is missing (git_mu held).
  void EnsureHostRef();
  // Background errors (store.h); Record logs once per episode.
  void RecordBackgroundError(const Error& error);
  void ClearBackgroundError();
  bool HasBackgroundError() const;
  // Writes and syncs a small file: whether the disk takes writes again.
  void ProbeDisk();
  // After a commit attempt succeeded (commit_mu held): clears a recorded
  // background error, probing the disk first when the attempt wrote nothing.
  void ResolveBackgroundError(bool wrote);
  void NotifyHead(const std::string& head);
  // Creates a bare repository at options.path (HEAD -> master) and opens it.
  void InitRepository();
  // Opens options.path (bare) and attaches a fresh ObjectSink; git_mu held.
  void OpenRepository(ErrorKind kind_on_failure);
  // master's commit id; `found` false when there is no master yet.
  git_oid MasterId(bool* found) const;
  // Writes a commit of `root` on master (parent: master if any), packs the
  // new objects, moves master. git_mu held. Returns the commit id.
  git_oid WriteCommit(const git_oid& root, const std::string& message);
  // Commits master, read in format `from` (1 or 2), in format 3
  // (Store::Open; docs/format.md, "Earlier formats").
  void UpgradeFormat(const git_tree* old_root, int from);
  // The full commit message: first line, summary lines, Host trailer,
  // then `trailers`.
  std::string Message(const std::string& first_line, const std::vector<std::string>& summary,
                      size_t dropped, const std::vector<std::string>& trailers = {}) const;
  std::string CommitNow(const std::string& message);
  void CommitterLoop();
  void MarkDurable(uint64_t seq);
  void StartRepacker();
  void ReopenAfterSwap();  // git_mu held
  // Waits (up to a second) while objects/pack holds more than kMaxPacks +
  // kMaxUnmergedPacks packs: the repacker fell behind a burst of commits.
  void WaitForRepacker();
};

// Making a repository where there was none (Create, Import, Restore).
bool IsEmptyOrMissingDir(const std::string& path);
// The outermost directory of `path` that does not exist yet (what creating
// `path` with its parents makes), or "" when `path` exists.
std::filesystem::path FirstMissingAncestor(const std::string& path);
// Undoes what a failed creation made: `created_root` (from
// FirstMissingAncestor) when it made directories, else the contents of
// `path`, which was an empty directory before.
void RemoveCreated(const std::string& path, const std::filesystem::path& created_root);

}  // namespace xgdb

#endif  // XGDB_STORE_STORE_IMPL_H_
