// A simulated pool for tests: the real `xapi-gitdb sim` (N real daemons on
// loopback, each with its own repository), read from its JSON lines, with
// ways to call, stop, kill and restart each host's daemon.
#ifndef XGDB_TESTS_SUPPORT_SIM_POOL_H_
#define XGDB_TESTS_SUPPORT_SIM_POOL_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/daemon.h"
#include "support/paths.h"

namespace xgdb::test {

struct SimHost {
  std::string ref, uuid, socket, peer, repo;
  std::string metrics;  // ADDRESS:PORT of GET /metrics
  pid_t pid = -1;  // sim's child; after Restart, the DaemonProcess's
  bool master = false;
  std::vector<std::string> argv;
};

class SimPool {
 public:
  // Starts `xapi-gitdb sim --hosts N --dir DIR --no-fsync EXTRA...` and
  // waits for its lines. A test failure when it does not come up.
  SimPool(const std::string& dir, int hosts, const std::vector<std::string>& extra = {});
  ~SimPool();  // SIGTERM to sim (which stops its daemons), restarted ones killed

  size_t size() const { return hosts_.size(); }
  const SimHost& host(size_t i) const { return hosts_[i]; }
  bool ok() const { return ok_; }

  // One v2 call on host i's unix socket, in task `task` when not empty
  // (the x-xgdb-task header); the parsed answer (null when the daemon
  // cannot be reached).
  nlohmann::json Call(size_t i, const nlohmann::json& call, const std::string& task = "") const;
  // One of our calls (/xapi_gitdb) on host i's unix socket: the parsed
  // answer, null when the daemon cannot be reached.
  nlohmann::json Ours(size_t i, const nlohmann::json& call, int timeout_ms = 30000) const;
  // Read_field on host i: the value, or "" when unreachable or failing.
  std::string ReadField(size_t i, const std::string& table, const std::string& field,
                        const std::string& ref) const;
  void WriteField(size_t i, const std::string& table, const std::string& ref,
                  const std::string& field, const std::string& value) const;
  // Every host writes `field` of `ref` at once, host i the value
  // "<prefix> host <i>", and waits (up to 30 s) until every host reads the
  // same one of those values and the pool has converged. Returns that
  // value, "" when it did not settle.
  std::string WriteAtOnceAndSettle(const std::string& table, const std::string& ref,
                                   const std::string& field, const std::string& prefix) const;
  // A VM resident on host i (so owned by it, docs/ownership.md), as host i
  // reads; "" when none.
  std::string OwnedVm(size_t i) const;
  // The message of the newest commit of host i's master that changed the
  // row (plain git on its repository).
  std::string LastCommitOf(size_t i, const std::string& table, const std::string& ref) const;
  // Host i's master commit ("" when unreachable).
  std::string Master(size_t i) const;
  // Whether every host in `live` (all when empty) has the same master and
  // the same heads.
  bool Converged(const std::vector<size_t>& live = {}) const;

  void Signal(size_t i, int sig) const;
  // SIGKILL, and waits until the process is gone (a zombie of sim's).
  void Kill(size_t i);
  // Starts host i's daemon again with the same arguments.
  void Restart(size_t i);

 private:
  std::vector<SimHost> hosts_;
  pid_t sim_pid_ = -1;
  std::string dir_;
  std::vector<std::unique_ptr<DaemonProcess>> restarted_;
  bool ok_ = false;
};

}  // namespace xgdb::test

#endif  // XGDB_TESTS_SUPPORT_SIM_POOL_H_
