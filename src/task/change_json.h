// A FieldChange as JSON, the same for the History_diff call and the CLI's
// `diff --json` and `show --json`, so a script can read either.
#ifndef XGDB_TASK_CHANGE_JSON_H_
#define XGDB_TASK_CHANGE_JSON_H_

#include <nlohmann/json.hpp>

#include "xgdb/store.h"

namespace xgdb::task {

// "row added", "row removed", "added", "removed" or "modified".
const char* ChangeKindName(FieldChange::Kind kind);

// {"kind", "table", "ref", "field", "old", "new"}, every key present.
nlohmann::json ChangeJson(const FieldChange& change);

}  // namespace xgdb::task

#endif  // XGDB_TASK_CHANGE_JSON_H_
