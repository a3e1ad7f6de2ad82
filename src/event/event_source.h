// Computes Event_from answers: the events between a token and now for a set
// of subscriptions (docs/events.md, "Computing events"). Persistent rows
// come from git (event_diff.h: token commit against master's head), the
// rest from the volatile stream (volatile_stream.h); both are folded per
// object with xapi's add/mod/del rules, and snapshots are read from the
// image after the changes are known.
//
// Thread-safe; no thread of its own (the hub, event_hub.h, owns waiting).
#ifndef XGDB_EVENT_EVENT_SOURCE_H_
#define XGDB_EVENT_EVENT_SOURCE_H_

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "event/event_diff.h"
#include "event/subscription.h"
#include "event/token.h"
#include "event/volatile_stream.h"
#include "xgdb/store.h"

namespace xgdb::event {

// Per-commit git changes computed once and shared by every waiter of a
// wake-up round (hundreds of waiters usually stand on the same commit).
using DiffMemo = std::map<std::string, std::shared_ptr<const std::vector<GitChange>>>;

// The events of one answer, kept as the JSON text of their array as they
// are made: a full resync of a big pool is tens of MB of text, and as a
// tree of nlohmann::json values it took ~18 times that (docs/events.md,
// "Memory").
class EventList {
 public:
  void Add(const nlohmann::json& event) {
    text_ += text_.empty() ? "[" : ",";
    text_ += event.dump();
  }
  bool empty() const { return text_.empty(); }
  size_t bytes() const { return text_.size(); }
  // Appends the array's JSON text (as nlohmann's compact dump prints it).
  void AppendTo(std::string& out) const {
    out += text_.empty() ? "[" : text_;
    out += "]";
  }

 private:
  std::string text_;  // "[e1,e2" without the closing bracket; "" for none
};

struct Evaluation {
  EventList events;
  Position at;          // the position these events bring the client to
  bool resync = false;  // the token was "" or could not be answered
};

class EventSource {
 public:
  explicit EventSource(Store& store, size_t max_stream_log = 1000000);

  Store& store() { return store_; }
  VolatileStream& stream() { return stream_; }

  // Reads master's head (cheap) and returns the position now: head commit,
  // its generation, the stream's newest stamp. Also catches the stream up.
  Position Refresh();
  // The last position Refresh() saw.
  Position Current() const;

  // Events for `subs` between `since` (nullopt: the beginning) and `now`
  // (a Position from Refresh()). Unknown commits, and stamps the stream can
  // no longer answer, are answered with a full resync (every object as add).
  Evaluation Evaluate(const Subscriptions& subs, const std::optional<Position>& since,
                      const Position& now, DiffMemo* memo);

  // {"vm": 3, ...}: rows per table, every table, lower-cased names.
  nlohmann::json ValidRefCounts() const;

  // event.inject: touches the row (Error::NotFound when `ref` is not a row
  // of `cls`) and returns a token strictly below the first token whose
  // answer reports the touch (xapi-data-model.md 6.3).
  std::string Inject(const std::string& cls, const std::string& ref);

 private:
  bool KnownCommit(const std::string& commit, const Position& now);
  void FullResync(const Subscriptions& subs, const Position& now, Evaluation* out);
  bool Snapshot(const Table& table, const std::string& ref, nlohmann::json* record) const;

  Store& store_;
  Database& db_;
  CommitReader reader_;
  VolatileStream stream_;
  mutable std::mutex head_mu_;
  std::string head_;       // master's head as last read
  int64_t generation_ = 0;  // its first-parent commit count
};

}  // namespace xgdb::event

#endif  // XGDB_EVENT_EVENT_SOURCE_H_
