// Changes and commits as JSON, the same for the History_* calls and the
// CLI's --json output, so a script can read either.
#ifndef XGDB_TASK_CHANGE_JSON_H_
#define XGDB_TASK_CHANGE_JSON_H_

#include <string>

#include <nlohmann/json.hpp>

#include "xgdb/store.h"

namespace xgdb::task {

// "row added", "row removed", "added", "removed" or "modified".
const char* ChangeKindName(FieldChange::Kind kind);

// {"kind", "table", "ref", "field", "old", "new"}, every key present.
nlohmann::json ChangeJson(const FieldChange& change);

// The "Task: <id>" trailer of a commit message ("" when none): which task
// made a commit (docs/tasks.md).
std::string TaskTrailer(const std::string& message);

// {"id", "parents", "author", "email", "time", "host", "task", "message"}:
// a commit as History_log and the CLI's `log --json`/`show --json` give it.
nlohmann::json CommitJson(const CommitInfo& commit);

}  // namespace xgdb::task

#endif  // XGDB_TASK_CHANGE_JSON_H_
