#include "event/volatile_stream.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>

namespace xgdb::event {

namespace {

uint64_t NowMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// True when a column of a row present before and after, but not written to
// git, differs: only then is a persistent row's change the stream's business
// (git reports stored columns once they are committed).
bool UnstoredChanged(const Database& before, const RowDelta& d) {
  Record old = before.ReadRecord(d.table->name, d.ref);
  for (const Column& c : d.table->columns) {
    if (d.table->Stored(c)) continue;
    const std::string* was = nullptr;
    for (const auto& [name, value] : old.fields) {
      if (name == c.name) {
        was = &value;
        break;
      }
    }
    if (was == nullptr || *was != d.values[c.index]) return true;
  }
  return false;
}

}  // namespace

VolatileStream::VolatileStream(Database& db, size_t max_log)
    : db_(db), max_log_(std::max<size_t>(max_log, 1)) {
  seen_sequence_ = db_.Sequence();
  seen_ = db_.Clone();
  stamp_ = NowMicros();
  horizon_ = stamp_;
}

VolatileStream::~VolatileStream() = default;

uint64_t VolatileStream::NextStamp() {
  stamp_ = std::max(stamp_ + 1, NowMicros());
  return stamp_;
}

void VolatileStream::Log(uint64_t stamp, const std::string& ref) {
  log_.emplace_back(stamp, ref);
  while (log_.size() > max_log_) {
    auto [old_stamp, old_ref] = std::move(log_.front());
    log_.pop_front();
    horizon_ = std::max(horizon_, old_stamp);
    // Forget objects no longer named by the log: a token old enough to need
    // them is resynchronised anyway.
    auto it = objects_.find(old_ref);
    if (it != objects_.end() &&
        std::max({it->second.created, it->second.modified, it->second.deleted}) <= horizon_) {
      objects_.erase(it);
    }
  }
}

bool VolatileStream::CatchUp() {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t sequence = db_.Sequence();
  if (sequence == seen_sequence_) return false;
  std::unique_ptr<Database> now = db_.Clone();
  std::vector<RowDelta> deltas = now->ChangedSince(*seen_);
  uint64_t stamp = 0;
  for (const RowDelta& d : deltas) {
    if (!d.table->gen_events) continue;
    if (d.in_base && d.exists && d.table->persistent && !UnstoredChanged(*seen_, d)) continue;
    if (stamp == 0) stamp = NextStamp();
    Stamps& s = objects_[d.ref];
    s.table = d.table;
    if (!d.in_base && d.exists) {
      s.created = s.modified = stamp;
      s.deleted = 0;
    } else if (d.exists) {
      s.modified = stamp;
    } else {
      s.deleted = stamp;
    }
    Log(stamp, d.ref);
  }
  seen_ = std::move(now);
  seen_sequence_ = sequence;
  return stamp != 0;
}

uint64_t VolatileStream::Touch(const Table& table, const std::string& ref) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t stamp = NextStamp();
  Stamps& s = objects_[ref];
  s.table = &table;
  s.modified = stamp;
  Log(stamp, ref);
  return stamp;
}

uint64_t VolatileStream::stamp() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stamp_;
}

uint64_t VolatileStream::horizon() const {
  std::lock_guard<std::mutex> lock(mu_);
  return horizon_;
}

std::optional<Stamps> VolatileStream::Lookup(const std::string& ref) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(ref);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

uint64_t VolatileStream::ChangedAfter(
    uint64_t since, const std::function<void(const std::string&, const Stamps&)>& fn) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto first = std::upper_bound(log_.begin(), log_.end(), since,
                                [](uint64_t s, const auto& entry) { return s < entry.first; });
  std::unordered_set<std::string> done;
  for (auto it = first; it != log_.end(); ++it) {
    if (!done.insert(it->second).second) continue;
    auto obj = objects_.find(it->second);
    if (obj != objects_.end()) fn(it->second, obj->second);
  }
  return stamp_;
}

}  // namespace xgdb::event
