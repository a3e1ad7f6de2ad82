// The git-backed store: a real git repository (libgit2) whose `master`
// branch holds the database, one directory per object and one file per field
// (docs/format.md), plus the in-memory image (database.h) that serves reads.
//
// Writes go to the image at once; the store turns what changed into a commit
// (group commit, see StartCommitter) whose new objects are written as a pack.
// Opening rebuilds the image from master's head commit.
#ifndef XGDB_STORE_H_
#define XGDB_STORE_H_

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "xgdb/database.h"
#include "xgdb/env.h"
#include "xgdb/error.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"

struct git_repository;  // libgit2

namespace xgdb {

struct StoreOptions {
  // The repository: a bare git repository (`git -C PATH log` and
  // `git clone PATH` work as on any bare repository).
  std::string path = "/var/lib/xapi-db";
  std::string host_name;  // commit author name; empty: the machine's host name
  std::string host_id;    // commit author e-mail; empty: "<host_name>@xapi-gitdb"
  bool fsync = true;      // fsync packs, refs and the directory on each commit
  // Where every file is written and the time is read; must outlive the
  // store. Null: Env::Default().
  Env* env = nullptr;
  // Store::Open only: open for reading. No repository lock, no image, no
  // thread, no upgrade, nothing written; history, rows (ReadRowAt) and
  // LoadAt are read from git as asked, so a read costs what it reads. db(),
  // Commit and every writer throw Error(kInvalidArgument). It lowers
  // libgit2's process-wide object cache to 4 MB (each object is read once).
  bool read_only = false;
  // Written into the repository lock file beside the pid, for other
  // processes to find this one (RepositoryHolder): where it serves.
  std::string served_at;
  // This host's uuid, for a pool (docs/replication.md): every move of
  // master made here (commits, task merges, reverts) also moves
  // refs/hosts/<host_uuid>, this host's line of work that peers replicate;
  // merges of other hosts' heads (MasterMove::own false) do not. Created at
  // master on open when missing (a single host's repository becomes the
  // first head of its pool), and recorded in <repo>/xgdb-host: a later
  // writable open without it takes the recorded one (so an offline revert
  // moves the host ref too), and one with another uuid fails with
  // Error(kInvalidArgument). Empty and none recorded: no host ref (a pool
  // of one).
  std::string host_uuid;
  // Called after every commit of the image's changes that wrote a commit
  // (group commits and Commit), on the committing thread, with how many
  // rows it wrote and how long it took from taking the changes to master
  // moved, in seconds (the daemon's metrics). It must be quick and must not
  // call into the store.
  std::function<void(size_t rows, double seconds)> on_commit;
};

// The process that holds a repository open for writing (its lock file,
// <repo>/xgdb.lock, is flock'ed while it lives).
struct RepositoryHolder {
  int64_t pid = 0;
  std::string served_at;  // StoreOptions::served_at; "" when not serving
};

// One row as a commit holds it: stored columns, by name, as stored text.
struct StoredRow {
  std::string table, ref;
  FieldList fields;  // in column order
};

// What Store::Import records besides the rows.
struct ImportOptions {
  // xapi's generation count of the imported database (a state.db manifest's
  // generation_count), kept in meta/generation so that GenerationAt, and so
  // an export, never goes below it. 0: none recorded.
  int64_t generation_count = 0;
};

struct CommitInfo {
  std::string id;                    // 40 hex digits
  std::vector<std::string> parents;
  std::string author_name, author_email;
  int64_t time = 0;                  // seconds since the epoch
  std::string message;
};

// One field that differs between two commits. A created or deleted row is
// reported once with field "" and kind kRowAdded / kRowRemoved.
struct FieldChange {
  enum class Kind { kRowAdded, kRowRemoved, kAdded, kRemoved, kModified } kind;
  std::string table, ref, field;
  std::string old_value, new_value;  // stored text (sets/maps as S-expressions)
};

// A repository has one writing process at a time: Create, Open (unless
// read_only) and Import take its lock and fail with Error(kBusy) naming the
// holder's pid while another process holds it. The repository holds
// secrets (the `secret` table): it is created readable by its owner only.
class Store {
 public:
  // Creates a repository at options.path holding an empty database of
  // `schema` (one initial commit). Error(kInvalidArgument) if one exists.
  static std::unique_ptr<Store> Create(const StoreOptions& options,
                                       std::shared_ptr<const Schema> schema);
  // Opens an existing repository and rebuilds the image from master.
  // Error(kCorrupt) when the path holds no repository, or a missing, corrupt
  // or half-written one; nothing is changed on disk then. Lock files of
  // refs left by a dead process (under the repository lock, nobody else's)
  // are removed, with a log line.
  static std::unique_ptr<Store> Open(const StoreOptions& options);
  // Writes `image` as one commit on master replacing everything (creating
  // the repository when needed) and returns the store serving it. On
  // failure nothing is left behind: a repository (and directories) it
  // created are removed, an existing repository is left as it was.
  static std::unique_ptr<Store> Import(const StoreOptions& options,
                                       std::unique_ptr<Database> image,
                                       const std::string& message,
                                       const ProgressFn& progress = nullptr,
                                       const ImportOptions& import_options = {});
  // Makes a repository at options.path (missing or an empty directory)
  // from a bundle Backup() wrote, or `git bundle create FILE --all` of a
  // repository: its objects, master and refs/hosts/*. Refuses a bundle that
  // is not a complete v2 bundle, names other refs, or lacks an object
  // master's tree needs (Error kCorrupt or kInvalidArgument); nothing is
  // left behind then. Returns the store opened for writing.
  static std::unique_ptr<Store> Restore(const StoreOptions& options, const std::string& file);
  ~Store();  // stops the committer and commits what is pending

  // Combines every pack of the repository into one now (`xapi-gitdb gc`;
  // the background repacker only keeps their number bounded). Returns how
  // many packs were combined. Error(kInvalidArgument) on a read-only open.
  size_t Compact();

  // The number of packs under objects/pack (a directory listing).
  size_t PackCount() const;

  // What `xapi-gitdb status` shows of the repository itself.
  struct Stats {
    int format = 0;         // meta/format of master: 1, 2 or 3
    size_t packs = 0;       // packs under objects/pack
    uint64_t pack_bytes = 0;
    uint64_t repository_bytes = 0;  // every file of the repository
    // Rows of master per table that has any, in schema order: from the image
    // when open for writing, else counted in master's tree.
    std::vector<std::pair<std::string, size_t>> rows;
  };
  Stats GetStats() const;

  // Writes a git bundle (v2) of master (as HEAD and refs/heads/master) and
  // every refs/hosts/* ref to `file`: `git bundle verify FILE` and
  // `git clone FILE` read it. Works on a read-only open, so beside a
  // daemon; the file is written aside, synced and renamed, mode 0600 (it
  // holds the database's secrets). Returns the number of objects.
  size_t Backup(const std::string& file) const;

  // The process holding the repository at `path` for writing, if any.
  static std::optional<RepositoryHolder> Holder(const std::string& path);

  // Master's image. Writers hold master_gate() shared (see UpdateMaster).
  Database& db();
  const std::string& path() const;
  // The Env the store writes through (StoreOptions::env or the default).
  Env& env() const;

  // Commits everything the image changed since the last commit, now.
  // Returns the new commit id, or "" when nothing changed.
  std::string Commit(const std::string& message = "");
  // Starts a background thread that commits every `interval_ms` whatever
  // changed in that interval (one commit for all of it).
  void StartCommitter(int interval_ms);
  void StopCommitter();
  // The next commit of what the image changed (Commit or the committer)
  // carries `trailer` ("Name: value", one line) after its Host: trailer, so
  // a write made under a lock carries the lock's token (docs/locks.md,
  // "VM starts"). Add it once the write is in the image: it lands on the
  // commit holding the write, or on the next one when that was already
  // written. Kept until a commit is written.
  void AddTrailer(const std::string& trailer);
  // Blocks until every change up to Database::Sequence() == seq is
  // committed. Throws the background error (below) when one is recorded
  // while it waits: the change may still be committed by a later retry.
  void WaitDurable(uint64_t seq);
  uint64_t DurableSequence() const;

  // ---- Background errors (LevelDB's RecordBackgroundError). ----
  // The failure of a commit, fsync or move of master that is not resolved
  // yet. While one is recorded, master's image refuses writes
  // (Database::RefuseWrites), WaitDurable throws it, and the committer
  // retries; the first retry that writes to disk again clears it. Each is
  // logged once when recorded and once when cleared. Acknowledged writes
  // are never dropped: what was not committed stays pending.
  std::optional<Error> BackgroundError() const;

  // ---- The one writer of master. ----
  // What an UpdateMaster plan decides: the commit master moves to (written
  // already, e.g. a merge; "" leaves master where it is) and the rows the
  // image takes so that it equals that commit (Database::ApplyRows).
  struct MasterMove {
    std::string commit;
    std::vector<RowDelta> rows;
    std::string log_message;            // the reflog's
    std::function<void()> after_move;   // runs once master moved, before the rows
    // Whether this is this host's own work (its host ref follows master) or
    // a merge of other hosts' heads (replication: its host ref stays).
    bool own = true;
  };
  // Runs `plan(head)` while nothing else writes master or its image: every
  // acknowledged write is committed first, writers holding master_gate()
  // shared are waited for and held off. Then checks the rows against the
  // image, moves master, runs after_move, applies the rows, and calls the
  // head listeners. An error before master moves changes nothing; a failed
  // move is recorded as a background error. Returns master's head after.
  std::string UpdateMaster(const std::function<MasterMove(const std::string& head)>& plan);
  // Held shared by every writer of master's image (a protocol write), so
  // that UpdateMaster never runs in the middle of one.
  std::shared_mutex& master_gate();
  // Master's head and a clone of its image equal to it (pending writes
  // committed first).
  std::pair<std::string, std::unique_ptr<Database>> CloneMaster();
  // Calls fn(head) after every move of master (group commits and
  // UpdateMaster), on the moving thread (UpdateMaster's still holds the
  // master gate): it must be quick and must not call into the store's
  // writers or master's image writes. Returns an id for RemoveHeadListener.
  int AddHeadListener(std::function<void(const std::string& head)> fn);
  void RemoveHeadListener(int id);

  // ---- History (read-only; safe while the committer runs). ----
  // Resolves a revision (commit id or prefix, branch, "master~2", ...) or,
  // when `rev` parses as a time ("2026-11-24T10:00:00Z", "@1700000000"), the
  // last master commit at or before it. Error(kInvalidArgument) if unknown.
  std::string Resolve(const std::string& rev) const;
  std::string Head() const;
  // Master's head as master's image shows it: Head(), except while
  // UpdateMaster has moved master but not yet put the new rows into the
  // image (readers that pair a commit with the image, such as events, use
  // this one).
  std::string ServedHead() const;
  // The database as of a revision, built from that commit alone.
  std::unique_ptr<Database> LoadAt(const std::string& rev) const;
  // Commits reachable from `rev` through every parent (as `git log`), newest
  // first; when `path_filter` is set (a table, "table/ref" or
  // "table/ref/field"), only those whose tree there differs from every
  // parent's: a task's commit is listed, the merge that brought it is not.
  std::vector<CommitInfo> Log(const std::string& rev, size_t max_count,
                              const std::string& path_filter = "") const;
  CommitInfo GetCommit(const std::string& rev) const;
  // What differs from `from` to `to`, in tables, objects and fields.
  std::vector<FieldChange> Diff(const std::string& from, const std::string& to) const;
  // The generation count of `rev` (event tokens, an exported state.db):
  // one more than the largest of its parents' (1 for a root), and never
  // below an imported generation count (docs/format.md, "Generations").
  // So a commit counts more than every commit it contains, and every host
  // counts a commit alike. Counts are kept: a later call counts only
  // commits it has not seen.
  int64_t GenerationAt(const std::string& rev) const;
  // The row `ref` as commit `rev` holds it, in `table` when given, else in
  // the table that has it; every column (as LoadAt would show it), or only
  // `column` when given. Nullopt when no table has it. Costs a few tree
  // lookups per table, whatever the size of the database, plus, for a
  // derived set side (VM.VBDs), one read per row of the other table.
  std::optional<StoredRow> ReadRowAt(const std::string& rev, const std::string& ref,
                                     const std::string& table = "",
                                     const std::string& column = "") const;
  // The row whose uuid column is `uuid` at `rev` (only in `table` when
  // given), as ReadRowAt. Reads rows' uuids until it finds it: O(rows of
  // the tables searched).
  std::optional<StoredRow> FindUuidAt(const std::string& rev, const std::string& uuid,
                                      const std::string& table = "",
                                      const std::string& column = "") const;
  // The refs of `table`'s rows whose stored `column` is `value` at `rev`, at
  // most `max`: a scan of the table that reads only trees (it compares blob
  // ids), stopping at the max-th.
  std::vector<std::string> FindRefsAt(const std::string& rev, const std::string& table,
                                      const std::string& column, const std::string& value,
                                      size_t max) const;
  // The schema of the repository (meta/schema.json at master).
  std::shared_ptr<const Schema> schema() const;
  // Where an object lives in the tree ("xapi/VM/3a/OpaqueRef:3a.../").
  static std::string ObjectPath(const std::string& table, const std::string& ref);

  // ---- Branches beside master (tasks, revert; docs/tasks.md;
  // src/store/branches.cc). Refs are full names ("refs/heads/tasks/7"). ----
  // Runs `fn` on the repository under the store's git lock. Objects `fn`
  // writes are packed when it returns and discarded when it throws; `fn`
  // must not move refs (MoveRef does, once the pack is written).
  void WithRepository(const std::function<void(git_repository* repo)>& fn);
  // The commit `ref` points to, "" when there is no such ref.
  std::string RefTarget(const std::string& ref) const;
  // Points `ref` at commit `id` if it points at `expected` now ("": must not
  // exist), with a reflog entry; else Error(kConflict) naming the ref.
  // Not master nor HostRef(): those move only through UpdateMaster and
  // commits.
  void MoveRef(const std::string& ref, const std::string& id, const std::string& expected,
               const std::string& log_message);
  void DeleteRef(const std::string& ref);  // no-op when absent
  // A git object by content: `type` as git's pack format numbers it
  // (1 commit, 2 tree, 3 blob) and its bytes.
  struct RawObject {
    int type = 3;
    std::string data;
  };
  // Writes objects (the caller checked them: replica/thin_pack.h) as one
  // pack, as a commit's objects are written; the repacker keeps the pack
  // count bounded. Returns their ids (40 hex) in order. Error(kIo).
  std::vector<std::string> AddObjects(const std::vector<RawObject>& objects);
  // The refs whose names start with `prefix`, sorted.
  std::vector<std::string> ListRefs(const std::string& prefix) const;
  // Writes (moves no ref) one commit on `parent` whose tree is the parent's
  // with the given rows' directories replaced or removed (only persistent
  // tables and stored columns; values in column order as RowDelta::values),
  // authored by this host. Returns its id, or `parent` when nothing stored
  // changed. Cost follows the rows given.
  std::string WriteRowsCommit(const std::string& parent, const std::vector<RowDelta>& rows,
                              const std::string& message);
  // Writes (moves no ref) a commit of root tree `tree` (40 hex) on
  // `parent`, authored by this host. Returns its id.
  std::string WriteTreeCommit(const std::string& parent, const std::string& tree,
                              const std::string& message);
  // This host's identity as written in "Host:" trailers.
  std::string HostTag() const;
  // refs/hosts/<StoreOptions::host_uuid>, or "" when there is none.
  const std::string& HostRef() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  void RequireWritable() const;  // Error(kInvalidArgument) when read-only
  std::unique_ptr<Impl> impl_;
};

}  // namespace xgdb

#endif  // XGDB_STORE_H_
