// What a peer's head brings is checked before the host's ref moves
// (docs/replication.md, "Quarantine"). Two rules, the same on every host:
//   * a commit made by a host (its "Host:" trailer: the host's uuid, or its
//     host ref for a task merge) changes only rows that host owns or that
//     nobody owns, owners read as of the commit's first parent
//     (docs/ownership.md);
//   * a replication merge (no trailer, two parents) is exactly the merge of
//     its parents that every host writes (derive.h, MergeHeads).
// A head that breaks one is not adopted: it is kept under
// refs/quarantine/<host uuid>, logged and listed, never merged into master
// and never dropped.
#ifndef XGDB_REPLICA_QUARANTINE_H_
#define XGDB_REPLICA_QUARANTINE_H_

#include <git2.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace xgdb {
class Store;
}

namespace xgdb::replica {

inline constexpr char kQuarantineRefPrefix[] = "refs/quarantine/";

struct Violation {
  std::string host;    // the host uuid whose head it came as
  std::string head;    // that head
  std::string commit;  // the first commit (oldest) that breaks a rule
  std::string actor;   // the commit's Host: trailer ("" for a merge)
  std::string parent;  // the commit's first parent
  std::string table, ref, owner;  // the row and its owner's host ref (ownership)
  std::vector<std::string> fields;  // what the commit changed in that row
  std::string reason;  // one line for people: what and why
};

// Host uuid -> host ref, as host rows say (filled as commits are checked).
using HostRefCache = std::map<std::string, std::string>;

// Checks every commit reachable from `head` and from none of `held` (the
// heads and master this host holds, so each commit is checked once),
// oldest first, and returns the first violation (host and head filled by
// the caller's `host` and `head`). Writes objects only when it recomputes
// a merge (the same objects the merge already has). Error(kCorrupt) when a
// commit cannot be read.
std::optional<Violation> FindViolation(git_repository* repo, const std::string& host,
                                       const std::string& head,
                                       const std::vector<std::string>& held, HostRefCache* cache);

// The heads refused so far, one per host (the first bad one; later heads of
// that host that contain it are refused without a second look). Thread-safe.
class Quarantine {
 public:
  explicit Quarantine(Store& store) : store_(store) {}

  // Takes up the refs/quarantine/* refs a previous run left, checking each
  // again against `held` (those whose commits are held since are dropped
  // from the list; their refs stay for people to read).
  void Load(const std::vector<std::string>& held);
  // Whether `head` of `host` is a refused head or contains one. `repo`
  // holds both (the caller's handle, under its lock).
  bool Refused(git_repository* repo, const std::string& host, const std::string& head) const;
  // Checks what `head` brings (FindViolation, on the store's repository).
  // A violation is recorded (refs/quarantine/<host> -> head, one log line)
  // and true returned: the caller must not adopt the head.
  bool Check(const std::string& host, const std::string& head,
             const std::vector<std::string>& held);
  // [{host, head, commit, actor, table, ref, owner, reason}], by host.
  nlohmann::json ToJson() const;

 private:
  std::optional<Violation> Find(const std::string& host, const std::string& head,
                                const std::vector<std::string>& held);

  Store& store_;
  mutable std::mutex mu_;
  std::map<std::string, Violation> refused_;  // by host uuid
  HostRefCache host_refs_;
};

}  // namespace xgdb::replica

#endif  // XGDB_REPLICA_QUARANTINE_H_
