// Writes of xapi's protocol made under locks (docs/locks.md): a plain write
// sent with the grant it relies on, and a VM start, which takes its lock.
//
// Fenced writes ("Fencing"): a v1 or v2 write carrying the header
// `x-xgdb-lock: <token> <name>` is made only while that grant is live (a
// linearizable check on the leader), and its commit carries the token, as
// a task's commits do.
//
// VM starts ("VM starts"): a VM that runs nowhere belongs to no host: any host may start it, and two
// hosts that start it before they see each other's write would both run it.
// So a write that makes a VM resident on this host, when it was resident on
// no other, is made only once this host holds the exclusive lock
// `VM:<uuid>`. The commit holding the write carries the lock's token (a
// Lock-Token trailer, which the replication merge honours when two starts
// meet anyway, docs/replication.md). The lock service renews the lock while
// the VM stays here; this host gives it back when it writes the VM
// elsewhere (a migration), nowhere (a halt) or deletes it. Reboots change
// nothing here, so they take no lock.
#ifndef XGDB_LOCK_LOCKED_WRITES_H_
#define XGDB_LOCK_LOCKED_WRITES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "rpc/dispatcher.h"
#include "xgdb/store.h"

namespace xgdb::lock {

class LockService;

// Makes the request `body` with `make` under the grant `header` names
// ("<token> <name>"): a write is made only once the lock service says the
// grant is live, and the commit holding it carries "Lock-Token: <token>
// <name>"; reads are made as they are. A grant that is not live, a header
// that does not parse, or no answer from the lock service: HTTP 500 naming
// why, nothing written.
rpc::RpcResult MakeFencedWrite(LockService& locks, Store& store, const std::string& header,
                               rpc::ProtocolVersion version, std::string_view body,
                               const std::function<rpc::RpcResult()>& make);

class VmStartGuard {
 public:
  // `host_ref`: this host's row, as VM.resident_on names it.
  VmStartGuard(Store& store, LockService& locks, std::string host_ref);
  VmStartGuard(const VmStartGuard&) = delete;
  VmStartGuard& operator=(const VmStartGuard&) = delete;

  // Makes the request `body` with `make` (the write on master), taking the
  // VM's lock first when it starts a VM here and giving it back when it
  // moves a VM away. A start whose lock is held by another host, or that
  // the lock service cannot decide within its wait, is not made: HTTP 500
  // naming the holder or the reason (xapi's protocol has no failure for
  // it), and a log line.
  rpc::RpcResult Write(rpc::ProtocolVersion version, std::string_view body,
                       const std::function<rpc::RpcResult()>& make);

 private:
  struct Held {
    std::string name;  // VM:<uuid>
    uint64_t token = 0;
  };
  void Release(const std::string& vm);  // if this host holds its lock
  void GiveBack(const Held& held);

  Store& store_;
  LockService& locks_;
  const std::string host_ref_;
  std::mutex mu_;
  std::map<std::string, Held> held_;  // by VM ref
};

}  // namespace xgdb::lock

#endif  // XGDB_LOCK_LOCKED_WRITES_H_
