#include "event/event_hub.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <spdlog/spdlog.h>

#include "xgdb/error.h"

namespace xgdb::event {

namespace {

// xapi: a timeout that cannot be turned into a duration means 24 hours.
constexpr double kLongestWait = 24 * 3600.0;
// Without waiters the stream is still caught up now and then, so the image
// clone it compares against does not pin old row versions for long.
constexpr auto kIdleTick = std::chrono::seconds(1);

}  // namespace

EventHub::EventHub(Store& store, EventHubOptions options)
    : store_(store), source_(store, options.max_stream_log), options_(options) {
  // Woken by what changes, not by polling: a new head (commits, merges)
  // and, while anyone waits, any write to the image (non-persistent data
  // reaches events without a commit).
  head_listener_ = store_.AddHeadListener([this](const std::string&) { Kick(); });
  store_.db().SetChangeListener([this](uint64_t) {
    if (has_waiters_.load(std::memory_order_relaxed)) Kick();
  });
}

EventHub::~EventHub() {
  store_.RemoveHeadListener(head_listener_);
  store_.db().SetChangeListener(nullptr);
  Stop();
}

void EventHub::Kick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    kicked_ = true;
  }
  cv_.notify_all();
}

void EventHub::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void EventHub::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::list<Waiter> rest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    rest.swap(waiters_);
  }
  for (Waiter& w : rest) w.reply(Answer(EventList(), w.token));
}

size_t EventHub::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size() + in_round_;
}

rpc::RpcResult EventHub::Answer(const EventList& events, const std::string& token) {
  // ["Event_from", {"events", "token", "valid_ref_counts"}] as SuccessResult
  // would print it (compact, keys in order), around the events' text, which
  // is neither parsed nor copied again.
  std::string body = "[\"Event_from\",{\"events\":";
  body.reserve(events.bytes() + 4096);
  events.AppendTo(body);
  body += ",\"token\":" + nlohmann::json(token).dump();
  body += ",\"valid_ref_counts\":" + source_.ValidRefCounts().dump() + "}]";
  return rpc::RpcResult(200, std::move(body), "");
}

void EventHub::From(const std::vector<std::string>& classes, const std::string& token,
                    double timeout_seconds, rpc::ReplyFn reply) {
  Subscriptions subs = Subscriptions::Parse(classes);
  std::optional<Position> since = ParseToken(token);
  Position now = source_.Refresh();
  Evaluation ev = source_.Evaluate(subs, since, now, nullptr);
  if (!ev.events.empty()) {
    reply(Answer(ev.events, FormatToken(ev.at)));
    return;
  }
  double wait = timeout_seconds;
  if (!std::isfinite(wait) || wait > kLongestWait) wait = kLongestWait;
  if (wait <= 0) {
    reply(Answer(ev.events, token));  // 6.4: nothing new, token unchanged
    return;
  }
  std::vector<std::string> sorted = classes;
  std::sort(sorted.begin(), sorted.end());
  std::string key;
  for (const std::string& c : sorted) key += c + '\n';
  Waiter w{std::move(subs), std::move(key), token, ev.at, now,
           Clock::now() + std::chrono::microseconds(static_cast<int64_t>(wait * 1e6)),
           std::move(reply)};
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopped_) {
      lock.unlock();
      w.reply(Answer(EventList(), token));
      return;
    }
    waiters_.push_back(std::move(w));
    has_waiters_ = true;
    kicked_ = true;  // the hub re-checks it against anything newer than `now`
  }
  cv_.notify_all();
}

std::string EventHub::Inject(const std::string& cls, const std::string& ref) {
  std::string token = source_.Inject(cls, ref);
  Kick();
  return token;
}

void EventHub::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    Clock::time_point t = Clock::now();
    Clock::time_point wake = t + kIdleTick;
    for (const Waiter& w : waiters_) wake = std::min(wake, w.deadline);
    has_waiters_ = !waiters_.empty();
    cv_.wait_until(lock, wake, [this] { return stopping_ || kicked_; });
    if (stopping_) break;
    kicked_ = false;
    lock.unlock();
    try {
      Position now = source_.Refresh();
      Round(now, Clock::now());
    } catch (const std::exception& e) {
      spdlog::warn("events: checking for changes failed: {}", e.what());
    }
    lock.lock();
  }
}

void EventHub::Round(const Position& now, Clock::time_point t) {
  std::list<Waiter> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(waiters_);
    in_round_ = batch.size();
  }
  DiffMemo memo;  // one diff per token commit, whatever the number of waiters
  // Waiters with the same subscription and position get the same answer:
  // made once per round (500 alike cost one evaluation and one answer).
  struct Outcome {
    std::optional<rpc::RpcResult> answer;  // none: nothing for them yet
    Position at;
  };
  std::map<std::string, Outcome> outcomes;
  std::vector<std::pair<rpc::ReplyFn, rpc::RpcResult>> answers;
  for (auto it = batch.begin(); it != batch.end();) {
    Waiter& w = *it;
    bool done = false;
    if (!(w.seen == now)) {
      try {
        std::string key = w.classes + (w.since ? FormatToken(*w.since) : "");
        auto known = outcomes.find(key);
        if (known == outcomes.end()) {
          Evaluation ev = source_.Evaluate(w.subs, w.since, now, &memo);
          Outcome o{std::nullopt, ev.at};
          if (!ev.events.empty()) o.answer = Answer(ev.events, FormatToken(ev.at));
          known = outcomes.emplace(std::move(key), std::move(o)).first;
        }
        if (known->second.answer) {
          answers.emplace_back(std::move(w.reply), *known->second.answer);
          done = true;
        } else {
          // Nothing it listens to changed up to here: later rounds diff
          // from here, so a long wait costs what changed since, not since
          // the token (xapi's "last", 6.4 step 3).
          w.since = known->second.at;
          w.seen = now;
        }
      } catch (const Error& e) {
        answers.emplace_back(std::move(w.reply), rpc::FailureResult(e));
        done = true;
      } catch (const std::exception& e) {  // e.g. a value JSON cannot carry
        answers.emplace_back(std::move(w.reply),
                             rpc::RpcResult{500, "", std::string("events: ") + e.what()});
        done = true;
      }
    }
    if (!done && w.deadline <= t) {
      answers.emplace_back(std::move(w.reply), Answer(EventList(), w.token));
      done = true;
    }
    it = done ? batch.erase(it) : std::next(it);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiters_.splice(waiters_.end(), batch);
    in_round_ = 0;
  }
  for (auto& [reply, result] : answers) reply(std::move(result));
}

}  // namespace xgdb::event
