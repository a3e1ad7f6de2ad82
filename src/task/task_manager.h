// Tasks as git branches (docs/tasks.md).
//
// A task is a branch refs/heads/tasks/<id> and an in-memory image where the
// task's calls run. Beginning one clones its parent's image (O(1)) and
// points the branch at the parent's commit; the task then reads what its
// parent had when it began plus its own writes. Committing writes the
// task's changed rows as one commit on its branch, merges that into the
// parent's branch at field granularity (src/merge) and brings the parent's
// image up to the merge by applying the changed rows: cost O(rows the task
// changed), whatever the size of the database. Aborting drops the branch.
//
// Nested tasks nest branches: the child of tasks/7 is tasks/7.1, its child
// tasks/7.1.1 (dots, so no ref is ever both a file and a directory).
//
// Gates: every call on an image holds that image's gate shared; flushing
// and merging into it take the gate exclusively, so no write interleaves
// with a merge. Master's gate is the store's (Store::master_gate()), and a
// commit into master goes through Store::UpdateMaster, the one writer of
// master. Locks are always taken child first, parent next, master last.
#ifndef XGDB_TASK_TASK_MANAGER_H_
#define XGDB_TASK_TASK_MANAGER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "xgdb/database.h"
#include "xgdb/store.h"

namespace xgdb::task {

// A lock the task's changes are made under (fencing, docs/locks.md): the
// lock's name and the token its grant answered.
struct LockGuard {
  std::string name;
  uint64_t token = 0;
  bool operator==(const LockGuard&) const = default;
};

struct TaskOptions {
  // Tasks idle (no call, no commit attempt, no active child) for longer are
  // aborted by the reaper thread, with a log line each. 0: never.
  int64_t reap_after_ms = 30 * 60 * 1000;
  // How often the reaper looks; 0: a quarter of reap_after_ms, at most 1 s.
  int64_t reap_check_ms = 0;
  // The acting host's ref for the ownership check of top-level tasks that
  // name none ("" = no check: local tasks; docs/ownership.md).
  std::string default_host;
  // Fencing: throws Error(kFenced) unless `guard`'s token is still held
  // (the daemon asks its lock service). Called for each guard of a task
  // committing into master, before master moves. Null: tasks cannot be
  // guarded (Begin refuses guards).
  std::function<void(const LockGuard& guard)> check_guard;
};

struct TaskInfo {
  std::string id, parent;  // parent "" = master
  std::string branch;      // "refs/heads/tasks/<id>"
  std::string begin_commit, head;
  std::string host;        // acting host ref for ownership ("" none)
  std::vector<LockGuard> guards;
  int64_t idle_ms = 0;
  std::vector<std::string> children;
};

struct CommitOutcome {
  std::string commit;  // the parent branch's new head
  std::string into;    // "master" or the parent task's id
  std::string kind;    // "merged", "fast-forward" or "up-to-date"
  size_t rows = 0;     // rows applied to the parent's image
};

class TaskManager {
 public:
  TaskManager(Store& store, TaskOptions options = {});
  ~TaskManager();  // stops the reaper; open tasks' branches stay
  TaskManager(const TaskManager&) = delete;
  TaskManager& operator=(const TaskManager&) = delete;

  static std::string BranchRef(const std::string& id) { return "refs/heads/tasks/" + id; }

  // Begins a task on master (parent "") or nested in an open task. `host`
  // "" inherits the parent's (top level: options.default_host). Returns the
  // new task's id. Error(kNotFound) for an unknown parent.
  // `guards`: locks its changes are made under, in addition to its
  // parent's. Each commit of the task then carries a "Lock-Token:" trailer
  // per guard, and the commit into master is refused (Error kFenced) when
  // one of them is no longer held. Error(kInvalidArgument) for guards when
  // options.check_guard is null.
  std::string Begin(const std::string& parent = "", const std::string& host = "",
                    const std::vector<LockGuard>& guards = {});
  // Merges the task into its parent. On Error (kConflict, kOwnership,
  // kFenced, ...)
  // nothing reaches the parent, the branch holds the task's commit for
  // inspection and the task stays open until aborted. A task with open
  // nested tasks cannot commit (Error kInvalidArgument).
  CommitOutcome Commit(const std::string& id);
  // Drops the task, its nested tasks and their branches. Returns the ids
  // aborted, children first.
  std::vector<std::string> Abort(const std::string& id);
  std::vector<TaskInfo> List() const;
  // Writes the task's uncommitted rows as a commit on its branch (done by
  // Commit and before a nested Begin); returns the branch head.
  std::string Flush(const std::string& id);

  // Runs `fn` on the image of task `id` (holding its gate shared and
  // marking it active), or on master's image holding Store::master_gate()
  // shared when `id` is "". Error(kNotFound) for an unknown or finished task.
  void Run(const std::string& id, const std::function<void(Database& db)>& fn);

  // Aborts the tasks idle longer than options.reap_after_ms (the reaper
  // thread calls this); returns the ids reaped.
  std::vector<std::string> ReapIdle();

  // Undoes a commit on master as a new commit (branch_apply.h).
  std::string Revert(const std::string& rev);
  Store& store() { return store_; }

 private:
  struct Task;
  std::shared_ptr<Task> Find(const std::string& id) const;
  std::vector<LockGuard> GuardsOf(const Task& task) const;
  std::string FlushLocked(Task& task);
  void Touch(Task& task);
  void ReaperLoop();

  int64_t NowMs() const;  // the store Env's monotonic clock
  Store& store_;
  TaskOptions options_;

  mutable std::mutex mu_;  // guards tasks_ and each Task's children list
  std::map<std::string, std::shared_ptr<Task>> tasks_;

  std::mutex reaper_mu_;
  std::condition_variable reaper_cv_;
  bool stop_ = false;
  std::thread reaper_;
};

}  // namespace xgdb::task

#endif  // XGDB_TASK_TASK_MANAGER_H_
