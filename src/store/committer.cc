// Turning the image's changes into commits: one commit per batch, costing
// in proportion to the rows that changed (each changed row's directory is
// rebuilt and spliced into the previous tree by UpdateTree, which reuses
// every untouched subtree).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "store/layout.h"
#include "store/store_impl.h"
#include "store/tree_update.h"
#include "store/tree_writer.h"

namespace xgdb {

using namespace store;
namespace fs = std::filesystem;

namespace {

// From a move of master until its rows are in the image (or the update
// throws), Store::ServedHead answers the head the image still equals.
// (`slot` is Store::Impl::image_behind_at, guarded by `mu`.)
class ImageBehind {
 public:
  ImageBehind(std::mutex& mu, std::optional<std::string>& slot, const std::string& at)
      : mu_(mu), slot_(slot) {
    std::lock_guard<std::mutex> lock(mu_);
    slot_ = at;
  }
  ~ImageBehind() {
    std::lock_guard<std::mutex> lock(mu_);
    slot_.reset();
  }

 private:
  std::mutex& mu_;
  std::optional<std::string>& slot_;
};

// Folds `later` into `earlier` (both ordered by table, ref): a row's newest
// state wins; each carries the whole stored row, so nothing else is needed.
std::vector<RowChange> MergeChanges(std::vector<RowChange> earlier, std::vector<RowChange> later) {
  if (earlier.empty()) return later;
  std::map<std::pair<std::string, std::string>, RowChange> by_key;
  for (auto* list : {&earlier, &later}) {
    for (RowChange& c : *list) {
      auto key = std::make_pair(c.table->name, c.ref);
      by_key[key] = std::move(c);
    }
  }
  std::vector<RowChange> out;
  for (auto& [key, c] : by_key) out.push_back(std::move(c));
  return out;
}

}  // namespace

std::string Store::Impl::CommitNow(const std::string& message) {
  if (!db) throw Error(ErrorKind::kInvalidArgument, "repository " + options.path + " is read-only");
  std::unique_lock<std::mutex> commit_lock(commit_mu);
  const int64_t started_us = env->MonotonicMicros();
  ChangeBatch batch = db->TakeChanges();
  std::vector<RowChange> rows = MergeChanges(std::move(unwritten), std::move(batch.rows));
  unwritten.clear();
  std::vector<std::string> summary = std::move(unwritten_summary);
  unwritten_summary.clear();
  summary.insert(summary.end(), batch.summary.begin(), batch.summary.end());
  std::vector<std::string> trailers;
  {
    std::lock_guard<std::mutex> lock(trailers_mu);
    trailers.swap(this->trailers);
  }
  // Trailers not written on a commit wait for the next one.
  auto keep_trailers = [&] {
    std::lock_guard<std::mutex> lock(trailers_mu);
    this->trailers.insert(this->trailers.begin(), trailers.begin(), trailers.end());
  };
  if (rows.empty()) {
    keep_trailers();
    ResolveBackgroundError(/*wrote=*/false);
    MarkDurable(batch.sequence);
    return "";
  }
  std::string commit_hex;
  WaitForRepacker();
  while (swap_waiting.load()) std::this_thread::yield();  // a repack's swap: ~1 ms
  try {
    std::lock_guard<std::mutex> git_lock(git_mu);
    bool found = false;
    git_oid head = MasterId(&found);
    if (!found) throw Error(ErrorKind::kCorrupt, "repository " + options.path + " lost master");
    git_commit* raw_commit = nullptr;
    Check(git_commit_lookup(&raw_commit, repo.get(), &head), "reading master's commit");
    CommitPtr commit(raw_commit);
    git_tree* raw_tree = nullptr;
    Check(git_commit_tree(&raw_tree, commit.get()), "reading master's tree");
    TreePtr root(raw_tree);

    std::vector<PathUpdate> updates;
    updates.reserve(rows.size());
    for (const RowChange& row : rows) {
      PathUpdate u;
      u.path = RowDir(row.table->name, row.ref);
      if (row.exists) {
        u.id = WriteRowTree(*sink, *row.table, row.stored);  // replaces the whole directory
        u.mode = GIT_FILEMODE_TREE;
      } else {
        u.remove = true;  // nothing happens if it was never committed
      }
      updates.push_back(std::move(u));
    }
    git_oid new_root = UpdateTree(repo.get(), *sink, *git_tree_id(root.get()), updates);
    if (git_oid_equal(&new_root, git_tree_id(root.get()))) {
      sink->Discard();  // e.g. a value written back unchanged: nothing to commit
      keep_trailers();
    } else {
      size_t changes = summary.size() + batch.summary_dropped;
      std::string first = message;
      if (first.empty()) {
        first = summary.size() == 1 && batch.summary_dropped == 0
                    ? summary[0]
                    : std::to_string(changes == 0 ? rows.size() : changes) + " changes";
      }
      git_oid id = WriteCommit(new_root, Message(first, summary, batch.summary_dropped, trailers));
      commit_hex = OidHex(id);
    }
  } catch (...) {
    // Keep what was taken so the next attempt commits it.
    {
      std::lock_guard<std::mutex> git_lock(git_mu);
      sink->Discard();
    }
    unwritten = std::move(rows);
    unwritten_summary = std::move(summary);
    keep_trailers();
    try {
      throw;
    } catch (const Error& e) {
      RecordBackgroundError(e);
    } catch (const std::exception& e) {
      RecordBackgroundError(Error(ErrorKind::kIo, e.what()));
    }
    throw;
  }
  ResolveBackgroundError(/*wrote=*/!commit_hex.empty());
  MarkDurable(batch.sequence);
  commit_lock.unlock();
  if (!commit_hex.empty() && options.on_commit) {
    options.on_commit(rows.size(), (env->MonotonicMicros() - started_us) / 1e6);
  }
  if (!commit_hex.empty()) {
    if (repacker) repacker->Poke();
    NotifyHead(commit_hex);
  }
  return commit_hex;
}

void Store::Impl::RecordBackgroundError(const Error& error) {
  {
    std::lock_guard<std::mutex> lock(bg_mu);
    if (bg_error) return;
    bg_error = Error(ErrorKind::kIo,
                     "writes are refused until the store can write again: " +
                         std::string(error.what()));
  }
  spdlog::error("store {}: {}; writes are refused, reads go on, retrying", options.path,
                error.what());
  if (db) db->RefuseWrites(bg_error->what());
  { std::lock_guard<std::mutex> lock(durable_mu); }  // no lost wake-up
  durable_cv.notify_all();  // --sync and backpressure waiters get the error
}

void Store::Impl::ClearBackgroundError() {
  {
    std::lock_guard<std::mutex> lock(bg_mu);
    if (!bg_error) return;
    bg_error.reset();
  }
  if (db) db->RefuseWrites("");
  spdlog::info("store {}: writing works again; writes are accepted", options.path);
}

bool Store::Impl::HasBackgroundError() const {
  std::lock_guard<std::mutex> lock(bg_mu);
  return bg_error.has_value();
}

void Store::Impl::ProbeDisk() {
  const std::string probe = (fs::path(options.path) / "xgdb-probe").string();
  auto file = env->NewWritableFile(probe, 0600);
  file->Append(std::string(4096, '\0'));
  if (options.fsync) file->Sync();
  file->Close();
  env->RemoveFile(probe);
}

void Store::Impl::ResolveBackgroundError(bool wrote) {
  if (!HasBackgroundError()) return;
  // A commit that wrote nothing (nothing pending, or the same tree) does
  // not tell whether the disk takes writes again; a synced probe does.
  if (!wrote) ProbeDisk();
  ClearBackgroundError();
}

void Store::Impl::WaitForRepacker() {
  if (!repacker) return;
  auto too_many = [this] { return ListPacks(options.path).size() > kMaxPacks + kMaxUnmergedPacks; };
  // A readdir of a few dozen names per commit; bounded wait: a repacker that
  // keeps failing (or pinned .keep packs) must not stop commits.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  std::unique_lock<std::mutex> lock(swap_mu);
  while (too_many() && std::chrono::steady_clock::now() < deadline) {
    repacker->Poke();
    swap_cv.wait_until(lock, deadline);
  }
}

void Store::Impl::MarkDurable(uint64_t seq) {
  {
    std::lock_guard<std::mutex> lock(durable_mu);
    durable_seq = std::max(durable_seq, seq);
  }
  durable_cv.notify_all();
}

void Store::Impl::CommitterLoop() {
  // While a background error is recorded, retries come at this pace (a
  // full disk is not freed in microseconds) instead of on every request.
  constexpr auto kRetryInterval = std::chrono::milliseconds(100);
  std::unique_lock<std::mutex> lock(committer_mu);
  while (!committer_stop) {
    const bool failing = HasBackgroundError();
    committer_cv.wait_for(
        lock, failing ? kRetryInterval : std::chrono::milliseconds(committer_interval_ms),
        [this, failing] { return committer_stop || (commit_requested && !failing); });
    if (committer_stop) break;
    commit_requested = false;
    lock.unlock();
    try {
      CommitNow("");  // records a failure, and clears it once one succeeds
    } catch (const std::exception&) {
    }
    lock.lock();
  }
}

std::string Store::Commit(const std::string& message) { return impl_->CommitNow(message); }

void Store::AddTrailer(const std::string& trailer) {
  if (trailer.find('\n') != std::string::npos || trailer.find(": ") == std::string::npos) {
    throw Error(ErrorKind::kInvalidArgument, "not a trailer line: " + trailer);
  }
  std::lock_guard<std::mutex> lock(impl_->trailers_mu);
  impl_->trailers.push_back(trailer);
}

void Store::StartCommitter(int interval_ms) {
  StopCommitter();
  std::lock_guard<std::mutex> lock(impl_->committer_mu);
  impl_->committer_stop = false;
  impl_->committer_interval_ms = std::max(1, interval_ms);
  impl_->committer = std::thread([this] { impl_->CommitterLoop(); });
}

void Store::StopCommitter() {
  {
    std::lock_guard<std::mutex> lock(impl_->committer_mu);
    if (!impl_->committer.joinable()) return;
    impl_->committer_stop = true;
  }
  impl_->committer_cv.notify_all();
  impl_->committer.join();
}

void Store::WaitDurable(uint64_t seq) {
  bool running;
  {
    std::lock_guard<std::mutex> lock(impl_->committer_mu);
    running = impl_->committer.joinable() && !impl_->committer_stop;
    impl_->commit_requested = true;
  }
  if (!running) {
    if (DurableSequence() < seq) impl_->CommitNow("");
    return;
  }
  impl_->committer_cv.notify_all();
  std::unique_lock<std::mutex> lock(impl_->durable_mu);
  impl_->durable_cv.wait(
      lock, [&] { return impl_->durable_seq >= seq || impl_->HasBackgroundError(); });
  if (impl_->durable_seq >= seq) return;
  lock.unlock();
  if (std::optional<Error> e = BackgroundError()) throw *e;
}

std::optional<Error> Store::BackgroundError() const {
  std::lock_guard<std::mutex> lock(impl_->bg_mu);
  return impl_->bg_error;
}

std::shared_mutex& Store::master_gate() { return impl_->master_gate; }

std::pair<std::string, std::unique_ptr<Database>> Store::CloneMaster() {
  std::unique_lock<std::shared_mutex> gate(impl_->master_gate);
  impl_->CommitNow("");  // so that the clone is exactly head's image
  return {Head(), db().Clone()};
}

std::string Store::UpdateMaster(const std::function<MasterMove(const std::string& head)>& plan) {
  std::unique_lock<std::shared_mutex> gate(impl_->master_gate);
  impl_->CommitNow("");  // the plan sees every acknowledged write
  std::string head = Head();
  MasterMove move = plan(head);
  const bool moves = !move.commit.empty() && move.commit != head;
  Database& image = db();
  if (!move.rows.empty()) image.CheckRows(move.rows);  // refuses before anything moves
  {
    std::optional<ImageBehind> behind;
    if (moves) {
      behind.emplace(impl_->served_mu, impl_->image_behind_at, head);
      git_oid from = ParseOidHex(head), to = ParseOidHex(move.commit);
      std::lock_guard<std::mutex> commit_lock(impl_->commit_mu);
      std::lock_guard<std::mutex> git_lock(impl_->git_mu);
      bool found = false;
      git_oid now = impl_->MasterId(&found);
      if (!found || !git_oid_equal(&now, &from)) {
        throw Error(ErrorKind::kConflict, "master moved while it was being updated", {kMasterRef});
      }
      try {
        impl_->MoveMaster(&from, to, move.log_message, move.own);
      } catch (const Error& e) {
        impl_->RecordBackgroundError(e);
        throw;
      }
    }
    if (move.after_move) move.after_move();
    if (!move.rows.empty()) image.ApplyRows(move.rows);
    // The new head holds the rows' stored columns already; what else they
    // changed is not stored. Nothing else was written meanwhile (the gate).
    image.TakeChanges();
  }
  impl_->MarkDurable(image.Sequence());
  if (!moves) return head;
  impl_->NotifyHead(move.commit);
  return move.commit;
}

int Store::AddHeadListener(std::function<void(const std::string& head)> fn) {
  std::lock_guard<std::mutex> lock(impl_->listeners_mu);
  int id = ++impl_->next_listener;
  impl_->head_listeners[id] = std::move(fn);
  return id;
}

void Store::RemoveHeadListener(int id) {
  std::lock_guard<std::mutex> lock(impl_->listeners_mu);
  impl_->head_listeners.erase(id);
}

uint64_t Store::DurableSequence() const {
  std::lock_guard<std::mutex> lock(impl_->durable_mu);
  return impl_->durable_seq;
}

}  // namespace xgdb
