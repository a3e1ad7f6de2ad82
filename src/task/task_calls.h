// Our own calls for tasks and history (proto/xapi-gitdb.md, sections
// "Tasks" and "History"), registered into the extension registry.
#ifndef XGDB_TASK_TASK_CALLS_H_
#define XGDB_TASK_TASK_CALLS_H_

#include "rpc/extension.h"
#include "task/task_manager.h"

namespace xgdb::task {

// Task_begin, Task_commit, Task_abort, Task_list, History_get, History_log,
// History_diff, History_revert. `tasks` must outlive the registry's use.
void RegisterTaskCalls(rpc::ExtensionRegistry& registry, TaskManager& tasks);

}  // namespace xgdb::task

#endif  // XGDB_TASK_TASK_CALLS_H_
