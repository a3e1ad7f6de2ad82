// Long polls of Event_from without a thread each (docs/events.md,
// "Waiting"). A call that finds nothing new becomes a Waiter (its
// subscriptions, position, deadline and reply function) in a list; one hub
// thread is woken by changes (the store's head listener for every move of
// master, the image's change listener for writes while anyone waits: no
// polling), re-evaluates the waiters that have not
// seen the newest position (one git diff per distinct token commit per
// round, shared through a DiffMemo), answers those with events, and answers
// expired ones with an empty batch and their own token. The same thread is
// the timer: it sleeps until the next deadline or change. The hub takes
// the image's change listener (Database::SetChangeListener) for its life.
//
// Stop() answers every waiter (empty batch, token unchanged) and must run
// before the transport that owns the reply functions goes away.
#ifndef XGDB_EVENT_EVENT_HUB_H_
#define XGDB_EVENT_EVENT_HUB_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "event/event_source.h"
#include "rpc/extension.h"

namespace xgdb::event {

struct EventHubOptions {
  size_t max_stream_log = 1000000;  // VolatileStream's bound
};

class EventHub {
 public:
  explicit EventHub(Store& store, EventHubOptions options = {});
  ~EventHub();  // Stop()
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  void Start();
  // Answers every waiter and joins the thread; later calls are answered at
  // once. Idempotent.
  void Stop();

  // Event_from: answers through `reply` now (events, or timeout <= 0) or
  // later (events, deadline, Stop). Throws Error for a bad token or
  // subscription (then `reply` is not called).
  void From(const std::vector<std::string>& classes, const std::string& token,
            double timeout_seconds, rpc::ReplyFn reply);
  // Event_inject: a token (see EventSource::Inject).
  std::string Inject(const std::string& cls, const std::string& ref);

  // Calls waiting for an answer (including those being re-evaluated).
  size_t waiting() const;
  EventSource& source() { return source_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Waiter {
    Subscriptions subs;
    std::string classes;            // the subscription as given, sorted: waiters alike share
                                    // one evaluation per round
    std::string token;              // as given: the answer on timeout
    std::optional<Position> since;  // advanced while nothing matches
    Position seen;                  // the position last evaluated against
    Clock::time_point deadline;
    rpc::ReplyFn reply;
  };

  void Run();
  void Kick();  // something changed: re-evaluate the waiters
  // One round: re-evaluates waiters that have not seen `now`, answers
  // those with events and those past their deadline.
  void Round(const Position& now, Clock::time_point t);
  rpc::RpcResult Answer(const EventList& events, const std::string& token);

  Store& store_;
  int head_listener_ = 0;
  std::atomic<bool> has_waiters_{false};
  EventSource source_;
  const EventHubOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<Waiter> waiters_;
  size_t in_round_ = 0;  // waiters taken out by the running Round()
  bool kicked_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace xgdb::event

#endif  // XGDB_EVENT_EVENT_HUB_H_
