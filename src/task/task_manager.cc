#include "task/task_manager.h"

#include <git2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <set>

#include "merge/merge.h"
#include "task/branch_apply.h"

namespace xgdb::task {

namespace {

constexpr size_t kMaxMessageRows = 50;  // a commit message is for people

std::string RandomId() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(rng() & 0xffffffffULL));
  return buf;
}

Error NoTask(const std::string& id) {
  return Error(ErrorKind::kNotFound, "no open task '" + id + "'", {"task", id, ""});
}

void AddGuard(std::vector<LockGuard>& guards, const LockGuard& guard) {
  if (std::find(guards.begin(), guards.end(), guard) == guards.end()) guards.push_back(guard);
}

const char* KindName(merge::MergeOutcome::Kind kind) {
  switch (kind) {
    case merge::MergeOutcome::Kind::kUpToDate: return "up-to-date";
    case merge::MergeOutcome::Kind::kFastForward: return "fast-forward";
    case merge::MergeOutcome::Kind::kMerged: return "merged";
  }
  return "merged";
}

}  // namespace

struct TaskManager::Task {
  std::string id;
  std::shared_ptr<Task> parent;  // null: master
  std::string host;
  std::vector<LockGuard> guards;      // its own and its parent's; guarded by TaskManager::mu_
  std::string begin_commit;
  std::string head;  // the branch's commit; guarded by gate

  // The image at begin (what the parent had), the image the branch head
  // holds, and the task's own image. base and synced share everything
  // until the first flush; all three are clones of one another, so
  // ChangedSince between them costs the rows that differ.
  std::shared_ptr<Database> base, synced;
  std::unique_ptr<Database> work;

  std::shared_mutex gate;
  bool closed = false;  // guarded by gate

  int next_child = 0;                 // guarded by TaskManager::mu_
  std::vector<std::string> children;  // guarded by TaskManager::mu_
  std::atomic<int64_t> last_used_ms{0};
};

TaskManager::TaskManager(Store& store, TaskOptions options)
    : store_(store), options_(std::move(options)) {
  // Tasks live in memory: branches left by a previous run can never be
  // committed. Remove them (logged, like reaping).
  for (const std::string& ref : store_.ListRefs("refs/heads/tasks/")) {
    spdlog::warn("tasks: removing {} (left by a previous run, at {})", ref,
                 store_.RefTarget(ref));
    store_.DeleteRef(ref);
  }
  if (options_.reap_after_ms > 0) {
    reaper_ = std::thread([this] { ReaperLoop(); });
  }
}

TaskManager::~TaskManager() {
  {
    std::lock_guard<std::mutex> lock(reaper_mu_);
    stop_ = true;
  }
  reaper_cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

std::shared_ptr<TaskManager::Task> TaskManager::Find(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) throw NoTask(id);
  return it->second;
}

std::vector<LockGuard> TaskManager::GuardsOf(const Task& task) const {
  std::lock_guard<std::mutex> lock(mu_);
  return task.guards;
}

int64_t TaskManager::NowMs() const { return store_.env().MonotonicMicros() / 1000; }

void TaskManager::Touch(Task& task) {
  int64_t now = NowMs();
  for (Task* t = &task; t != nullptr; t = t->parent.get()) t->last_used_ms = now;
}

std::string TaskManager::Begin(const std::string& parent_id, const std::string& host,
                               const std::vector<LockGuard>& guards) {
  if (!guards.empty() && !options_.check_guard) {
    throw Error(ErrorKind::kInvalidArgument,
                "this daemon runs no lock service: a task cannot be guarded by a lock here");
  }
  auto task = std::make_shared<Task>();
  std::shared_ptr<Task> parent = parent_id.empty() ? nullptr : Find(parent_id);
  task->parent = parent;
  if (parent) {
    std::unique_lock<std::shared_mutex> gate(parent->gate);
    if (parent->closed) throw NoTask(parent_id);
    task->begin_commit = FlushLocked(*parent);
    task->base = std::shared_ptr<Database>(parent->work->Clone());
    task->work = parent->work->Clone();
    task->host = host.empty() ? parent->host : host;
    task->guards = GuardsOf(*parent);
    for (const LockGuard& g : guards) AddGuard(task->guards, g);  // not shared yet
    {
      std::lock_guard<std::mutex> lock(mu_);
      task->id = parent->id + "." + std::to_string(++parent->next_child);
    }
    store_.MoveRef(BranchRef(task->id), task->begin_commit, "", "task begin: " + task->id);
    std::lock_guard<std::mutex> lock(mu_);
    parent->children.push_back(task->id);
    tasks_[task->id] = task;
  } else {
    auto [head, image] = store_.CloneMaster();  // the branch starts where master's image is
    task->begin_commit = head;
    task->work = image->Clone();
    task->base = std::shared_ptr<Database>(std::move(image));
    task->host = host.empty() ? options_.default_host : host;
    for (const LockGuard& g : guards) AddGuard(task->guards, g);  // not shared yet
    for (int attempt = 0;; ++attempt) {
      task->id = RandomId();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (tasks_.count(task->id) != 0) continue;
      }
      try {
        store_.MoveRef(BranchRef(task->id), task->begin_commit, "", "task begin: " + task->id);
        break;
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kConflict || attempt >= 8) throw;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    tasks_[task->id] = task;
  }
  task->head = task->begin_commit;
  task->synced = task->base;
  Touch(*task);
  spdlog::debug("task {} begun on {} at {}", task->id, parent_id.empty() ? "master" : parent_id,
                task->begin_commit);
  return task->id;
}

std::string TaskManager::FlushLocked(Task& task) {
  std::vector<RowDelta> rows = task.work->ChangedSince(*task.synced);
  if (rows.empty()) return task.head;
  size_t stored_rows = 0;
  std::string lines;
  for (const RowDelta& r : rows) {
    if (!r.table->persistent) continue;
    if (++stored_rows > kMaxMessageRows) continue;
    const char* verb = !r.exists ? "delete" : (!r.in_base ? "create" : "write");
    lines += std::string(verb) + " " + r.table->name + " " + r.ref + "\n";
  }
  if (stored_rows > kMaxMessageRows) {
    lines += "... and " + std::to_string(stored_rows - kMaxMessageRows) + " more\n";
  }
  std::string first = "Task " + task.id + ": " + std::to_string(stored_rows) + " row" +
                      (stored_rows == 1 ? "" : "s") + " changed";
  std::string message = first + "\n\n" + lines + "\nHost: " + store_.HostTag() +
                        "\nTask: " + task.id + "\n";
  for (const LockGuard& g : GuardsOf(task)) message += merge::LockTokenTrailer(g.name, g.token);
  std::string commit = store_.WriteRowsCommit(task.head, rows, message);
  if (commit != task.head) {
    store_.MoveRef(BranchRef(task.id), commit, task.head, "task: " + first);
    task.head = commit;
  }
  task.synced = std::shared_ptr<Database>(task.work->Clone());
  return task.head;
}

std::string TaskManager::Flush(const std::string& id) {
  std::shared_ptr<Task> task = Find(id);
  std::unique_lock<std::shared_mutex> gate(task->gate);
  if (task->closed) throw NoTask(id);
  Touch(*task);
  return FlushLocked(*task);
}

CommitOutcome TaskManager::Commit(const std::string& id) {
  std::shared_ptr<Task> task = Find(id);
  std::unique_lock<std::shared_mutex> gate(task->gate);
  if (task->closed) throw NoTask(id);
  Touch(*task);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!task->children.empty()) {
      throw Error(ErrorKind::kInvalidArgument,
                  "task " + id + " has open nested tasks (" + task->children.front() +
                      "...): commit or abort them first");
    }
  }
  FlushLocked(*task);

  std::shared_ptr<Task> parent = task->parent;
  CommitOutcome outcome;
  outcome.into = parent ? parent->id : "master";
  std::unique_lock<std::shared_mutex> parent_gate;
  std::string ours;
  if (parent) {
    parent_gate = std::unique_lock<std::shared_mutex>(parent->gate);
    if (parent->closed) throw NoTask(parent->id);
    ours = FlushLocked(*parent);
  }

  // What the task did, row by row (both directions: the "before" side
  // tells which non-stored columns the task itself changed).
  std::vector<RowDelta> now = task->work->ChangedSince(*task->base);
  std::vector<RowDelta> before = task->base->ChangedSince(*task->work);
  TaskRows task_rows;
  std::vector<RowKey> keys;
  for (const RowDelta& r : now) {
    RowKey key{r.table->name, r.ref};
    task_rows.now[key] = &r;
    keys.push_back(key);
  }
  for (const RowDelta& r : before) task_rows.before[{r.table->name, r.ref}] = &r;

  // Merges the task's head into `into` (the parent's head), whose image is
  // `image`: the merge commit and the rows that bring the image to it.
  merge::MergeOutcome merged;
  auto merge_into = [&](const std::string& into, Database& image) {
    store_.WithRepository([&](git_repository* repo) {
      merge::ImageRowView ours_view(image);
      merge::MergeOptions options;
      options.actor = task->host;
      options.ours_view = &ours_view;
      merged = merge::MergeCommits(repo, into, task->head, options);
    });
    for (const merge::RowChanged& r : merged.both_changed) {
      task_rows.merged.insert({r.table, r.ref});
    }
    return RowsAt(store_, merged.commit, image, keys, &task_rows);
  };
  // Once the parent's ref has moved the task is committed: its images go
  // before the rows are applied, so the parent's nodes they shared are the
  // parent's alone again and are updated in place, not path-copied (and the
  // old paths are not left to free).
  auto drop_images = [&] {
    task->base.reset();
    task->synced.reset();
    task->work.reset();
  };
  try {
    size_t applied = 0;
    if (parent) {
      std::vector<RowDelta> rows = merge_into(ours, *parent->work);
      applied = rows.size();
      MoveBranchAndApply(store_, BranchRef(parent->id), ours, merged.commit, *parent->work, rows,
                         "task commit: " + id, drop_images);
      parent->head = merged.commit;
      parent->synced = std::shared_ptr<Database>(parent->work->Clone());
      // The parent now holds changes made under the task's locks: its own
      // commit into master must be checked against them too.
      std::lock_guard<std::mutex> lock(mu_);
      for (const LockGuard& g : task->guards) AddGuard(parent->guards, g);
    } else {
      // Fencing: refused while nothing moved if a guard's lock was lost
      // (its lease ran out while this host was cut off, say). Checked
      // before master's gate is taken: the check is a network round trip.
      for (const LockGuard& g : GuardsOf(*task)) options_.check_guard(g);
      // The merge sees every acknowledged master write (UpdateMaster commits
      // them first).
      store_.UpdateMaster([&](const std::string& head) {
        Store::MasterMove move;
        move.rows = merge_into(head, store_.db());
        move.commit = merged.commit;
        move.log_message = "task commit: " + id;
        move.after_move = drop_images;
        applied = move.rows.size();
        return move;
      });
    }
    outcome.commit = merged.commit;
    outcome.kind = KindName(merged.kind);
    outcome.rows = applied;
  } catch (const Error& e) {
    throw Error(e.kind(),
                "task " + id + " (" + BranchRef(id) + ") was not committed into " + outcome.into +
                    ": " + e.what(),
                e.args());
  }
  task->closed = true;
  store_.DeleteRef(BranchRef(id));
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.erase(id);
    if (parent) std::erase(parent->children, id);
  }
  spdlog::debug("task {} committed into {}: {} ({})", id, outcome.into, outcome.commit,
                outcome.kind);
  return outcome;
}

std::vector<std::string> TaskManager::Abort(const std::string& id) {
  std::shared_ptr<Task> task = Find(id);
  {
    std::unique_lock<std::shared_mutex> gate(task->gate);
    if (task->closed) throw NoTask(id);
    task->closed = true;  // no new calls, no new children from here on
  }
  std::vector<std::string> children;
  {
    std::lock_guard<std::mutex> lock(mu_);
    children = task->children;
  }
  std::vector<std::string> aborted;
  for (const std::string& child : children) {
    try {
      for (std::string& c : Abort(child)) aborted.push_back(std::move(c));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) throw;  // committed or aborted meanwhile
    }
  }
  store_.DeleteRef(BranchRef(id));
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.erase(id);
    if (task->parent) std::erase(task->parent->children, id);
  }
  aborted.push_back(id);
  return aborted;
}

std::vector<TaskInfo> TaskManager::List() const {
  std::vector<std::shared_ptr<Task>> tasks;
  std::vector<TaskInfo> out;
  int64_t now = NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, t] : tasks_) {
    TaskInfo info;
    info.id = id;
    info.parent = t->parent ? t->parent->id : "";
    info.branch = BranchRef(id);
    info.begin_commit = t->begin_commit;
    info.host = t->host;
    info.guards = t->guards;
    info.idle_ms = now - t->last_used_ms;
    info.children = t->children;
    out.push_back(std::move(info));
  }
  return out;
}

void TaskManager::Run(const std::string& id, const std::function<void(Database& db)>& fn) {
  if (id.empty()) {
    std::shared_lock<std::shared_mutex> gate(store_.master_gate());
    fn(store_.db());
    return;
  }
  std::shared_ptr<Task> task = Find(id);
  std::shared_lock<std::shared_mutex> gate(task->gate);
  if (task->closed) throw NoTask(id);
  Touch(*task);
  fn(*task->work);
}

std::vector<std::string> TaskManager::ReapIdle() {
  std::vector<std::string> reaped;
  if (options_.reap_after_ms <= 0) return reaped;
  int64_t now = NowMs();
  std::vector<std::pair<std::string, int64_t>> idle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, t] : tasks_) {
      int64_t quiet = now - t->last_used_ms;
      if (quiet > options_.reap_after_ms) idle.emplace_back(id, quiet);
    }
  }
  for (const auto& [id, quiet] : idle) {  // parents sort before their children
    try {
      for (const std::string& gone : Abort(id)) {
        spdlog::warn("tasks: reaped task {} (idle {} ms, limit {} ms); branch {} deleted", gone,
                     quiet, options_.reap_after_ms, BranchRef(gone));
        reaped.push_back(gone);
      }
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) {
        spdlog::error("tasks: reaping task {} failed: {}", id, e.what());
      }
    }
  }
  return reaped;
}

void TaskManager::ReaperLoop() {
  int64_t every = options_.reap_check_ms > 0
                      ? options_.reap_check_ms
                      : std::clamp<int64_t>(options_.reap_after_ms / 4, 1, 1000);
  std::unique_lock<std::mutex> lock(reaper_mu_);
  while (!stop_) {
    reaper_cv_.wait_for(lock, std::chrono::milliseconds(every), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    try {
      ReapIdle();
    } catch (const std::exception& e) {
      spdlog::error("tasks: reaper: {}", e.what());
    }
    lock.lock();
  }
}

std::string TaskManager::Revert(const std::string& rev) {
  return RevertCommit(store_, rev);
}

}  // namespace xgdb::task
