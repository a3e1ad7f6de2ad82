// The lock service's calls on /xapi_gitdb (proto/xapi-gitdb.md, "Locks"):
// Lock_acquire, Lock_renew, Lock_release, Lock_list, Lock_cas, Lock_get, and
// Lock_status (this daemon's view: role, leader, voters; never routed).
// A call that carries "forwarded": true comes from another daemon routing
// it to this one as the leader it believes in: it is executed here, never
// routed again.
#ifndef XGDB_LOCK_LOCK_CALLS_H_
#define XGDB_LOCK_LOCK_CALLS_H_

#include "rpc/extension.h"

namespace xgdb::lock {

class LockService;

// `service` null: each call fails with a clear error (no lock service on
// this daemon). The service must outlive the registry's use.
void RegisterLockCalls(rpc::ExtensionRegistry& registry, LockService* service);

}  // namespace xgdb::lock

#endif  // XGDB_LOCK_LOCK_CALLS_H_
