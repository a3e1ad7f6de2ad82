// The in-memory change stream: what git does not hold but clients subscribe
// to (docs/events.md, "The volatile stream"). Rows of non-persistent tables
// (task, session...), changes of non-stored columns of persistent rows
// (current_operations, metrics, derived Set sides such as VM.VBDs), rows
// created or deleted before their commit, and event.inject touches.
//
// It works like xapi's own stamps (xapi-data-model.md 6.2): every object
// seen changing keeps (created, modified, deleted) stamps, and a log of
// (stamp, ref) finds the objects changed after a given stamp in time
// proportional to their number. Changes are observed by comparing clones of
// the image (Database::Clone / ChangedSince share memory, so each step
// costs what changed), so no hook inside the database is needed.
//
// Stamps grow strictly and are at least the wall clock in microseconds, so
// a restarted daemon's stamps are above every stamp it issued before.
// The log is bounded: when it is cut, stamps older than the cut can no
// longer be answered (horizon()), and callers resynchronise such tokens.
//
// Thread-safe.
#ifndef XGDB_EVENT_VOLATILE_STREAM_H_
#define XGDB_EVENT_VOLATILE_STREAM_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "xgdb/database.h"

namespace xgdb::event {

struct Stamps {
  const Table* table = nullptr;
  uint64_t created = 0;   // 0: existed before the stream saw it
  uint64_t modified = 0;
  uint64_t deleted = 0;   // 0: alive (as far as the stream knows)
};

class VolatileStream {
 public:
  // Starts observing `db` now; `max_log` bounds the log (entries).
  explicit VolatileStream(Database& db, size_t max_log = 1000000);
  ~VolatileStream();

  // Stamps what changed in the image since the last call (one stamp for
  // all of it). Returns true when something was stamped.
  bool CatchUp();
  // event.inject: marks the row modified. Returns its stamp.
  uint64_t Touch(const Table& table, const std::string& ref);

  // The newest stamp given (a position that includes everything so far).
  uint64_t stamp() const;
  // The oldest position still answerable: tokens with a stamp below it
  // (before this process started, or before a cut of the log) need a
  // full resync.
  uint64_t horizon() const;

  // Calls fn(ref, stamps) once for every object with a stamp above `since`
  // and returns stamp() as of the same moment. Precondition: since >=
  // horizon().
  // The stamps of one object, if the stream knows it.
  std::optional<Stamps> Lookup(const std::string& ref) const;

  uint64_t ChangedAfter(uint64_t since,
                        const std::function<void(const std::string&, const Stamps&)>& fn) const;

 private:
  uint64_t NextStamp();  // under mu_
  void Log(uint64_t stamp, const std::string& ref);  // under mu_

  Database& db_;
  const size_t max_log_;
  mutable std::mutex mu_;
  std::unique_ptr<Database> seen_;  // the image as of the last CatchUp
  uint64_t seen_sequence_ = 0;
  uint64_t stamp_ = 0;
  uint64_t horizon_ = 0;
  std::unordered_map<std::string, Stamps> objects_;  // by ref (refs are global)
  std::deque<std::pair<uint64_t, std::string>> log_;  // stamps ascending
};

}  // namespace xgdb::event

#endif  // XGDB_EVENT_VOLATILE_STREAM_H_
