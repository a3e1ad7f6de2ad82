// Registers the event calls of our protocol extension (proto/xapi-gitdb.md,
// "Events") on a registry:
//
//   ["Event_from", {"classes": ["*"], "token": "", "timeout": 30.0}]
//     -> ["Event_from", {"events": [...], "valid_ref_counts": {...}, "token": "..."}]
//   ["Event_inject", {"class": "VM", "ref": "OpaqueRef:..."}]
//     -> ["Event_inject", "<token>"]
#ifndef XGDB_EVENT_EVENT_CALLS_H_
#define XGDB_EVENT_EVENT_CALLS_H_

#include "event/event_hub.h"
#include "rpc/extension.h"

namespace xgdb::event {

// `hub` must outlive the registry's use.
void RegisterEventCalls(rpc::ExtensionRegistry& registry, EventHub& hub);

}  // namespace xgdb::event

#endif  // XGDB_EVENT_EVENT_CALLS_H_
