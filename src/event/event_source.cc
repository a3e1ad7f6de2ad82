#include "event/event_source.h"

#include "xgdb/error.h"

namespace xgdb::event {

namespace {

enum class StreamOp { kNone, kAdd, kMod, kDel, kTransient };

// xapi's rule (6.4 step 2) on the stream's stamps, relative to `since`.
StreamOp StreamOpSince(const Stamps& s, uint64_t since) {
  if (s.deleted > since) return s.created > since ? StreamOp::kTransient : StreamOp::kDel;
  if (s.deleted == 0 && s.created > since) return StreamOp::kAdd;
  if (s.modified > since) return StreamOp::kMod;
  return StreamOp::kNone;
}

}  // namespace

EventSource::EventSource(Store& store, size_t max_stream_log)
    : store_(store), db_(store.db()), reader_(store.path()), stream_(store.db(), max_stream_log) {
  head_ = store_.Head();
  generation_ = store_.GenerationAt(head_);
}

Position EventSource::Refresh() {
  // Not Head(): snapshots come from the image, which takes a merge's rows
  // only after master moved.
  std::string head = store_.ServedHead();
  Position p;
  {
    std::lock_guard<std::mutex> lock(head_mu_);
    if (head != head_) {
      generation_ = store_.GenerationAt(head);  // counts only the new commits
      head_ = head;
    }
    p.generation = generation_;
    p.commit = head_;
  }
  stream_.CatchUp();
  p.stamp = stream_.stamp();
  return p;
}

Position EventSource::Current() const {
  std::lock_guard<std::mutex> lock(head_mu_);
  return Position{generation_, head_, stream_.stamp()};
}

bool EventSource::KnownCommit(const std::string& commit, const Position& now) {
  if (commit == now.commit) return true;
  try {
    return store_.Resolve(commit) == commit;
  } catch (const Error&) {
    return false;  // another host's commit, or lost in a reset
  }
}

bool EventSource::Snapshot(const Table& table, const std::string& ref,
                           nlohmann::json* record) const {
  try {
    Record r = db_.ReadRecord(table.name, ref);
    *record = nlohmann::json::object();
    for (const auto& [name, value] : r.fields) (*record)[name] = value;
    return true;
  } catch (const Error&) {
    return false;  // gone since the change was seen
  }
}

void EventSource::FullResync(const Subscriptions& subs, const Position& now, Evaluation* out) {
  out->resync = true;
  out->at = now;
  for (const Table& table : db_.schema().tables()) {
    std::string cls = Lower(table.name);
    if (!table.gen_events || !subs.MatchesTable(cls)) continue;
    std::vector<std::string> refs =
        subs.WantsWholeTable(cls) ? db_.ReadRefs(table.name) : subs.RefsOf(cls);
    for (const std::string& ref : refs) {
      nlohmann::json snapshot;
      if (!Snapshot(table, ref, &snapshot)) continue;
      out->events.Add({{"id", std::to_string(now.generation)},
                       {"timestamp", "0.0"},
                       {"class", cls},
                       {"operation", "add"},
                       {"ref", ref},
                       {"snapshot", std::move(snapshot)}});
    }
  }
}

Evaluation EventSource::Evaluate(const Subscriptions& subs, const std::optional<Position>& since,
                                 const Position& now, DiffMemo* memo) {
  Evaluation ev;
  ev.at = now;
  bool diffed = since && memo != nullptr && memo->count(since->commit) > 0;
  if (!since || since->stamp < stream_.horizon() || since->stamp > now.stamp ||
      (!diffed && !KnownCommit(since->commit, now))) {
    FullResync(subs, now, &ev);
    return ev;
  }
  struct Item {
    const Table* table = nullptr;
    std::string cls;
    std::optional<GitOp> git;
    std::optional<Stamps> stamps;
  };
  std::map<std::pair<std::string, std::string>, Item> items;  // (table, ref)

  // The stream first: the stamp it reaches is the token's, and the git part
  // below only adds.
  ev.at.stamp = stream_.ChangedAfter(since->stamp, [&](const std::string& ref, const Stamps& s) {
    std::string cls = Lower(s.table->name);
    if (!s.table->gen_events || !subs.Matches(cls, ref)) return;
    Item& item = items[{s.table->name, ref}];
    item.table = s.table;
    item.cls = std::move(cls);
    item.stamps = s;
  });
  if (since->commit != now.commit) {
    std::shared_ptr<const std::vector<GitChange>> changes;
    if (memo != nullptr) {
      auto it = memo->find(since->commit);
      if (it != memo->end()) changes = it->second;
    }
    if (!changes) {
      changes = std::make_shared<const std::vector<GitChange>>(
          DiffCommits(store_, reader_, db_.schema(), since->commit, now.commit));
      if (memo != nullptr) (*memo)[since->commit] = changes;
    }
    for (const GitChange& c : *changes) {
      std::string cls = Lower(c.table->name);
      if (!c.table->gen_events || !subs.Matches(cls, c.ref)) continue;
      Item& item = items[{c.table->name, c.ref}];
      item.table = c.table;
      item.cls = std::move(cls);
      item.git = c.op;
    }
  }

  // Snapshots are read now, after the changes are known (6.4 step 4).
  const uint64_t s = since->stamp;
  for (auto& [key, item] : items) {
    // A row git saw created may have been reported by the stream before
    // `s` (created in memory, committed later): its stamps tell.
    if (item.git == GitOp::kAdd && !item.stamps) item.stamps = stream_.Lookup(key.second);
    StreamOp sop = item.stamps ? StreamOpSince(*item.stamps, s) : StreamOp::kNone;
    if (!item.git && sop == StreamOp::kNone) continue;
    // The stream already reported this row's creation to a client at `s`.
    bool add_seen = item.stamps && item.stamps->created != 0 && item.stamps->created <= s;
    nlohmann::json snapshot;
    bool exists = Snapshot(*item.table, key.second, &snapshot);
    const char* op = nullptr;
    if (exists) {
      if (sop == StreamOp::kAdd) {
        op = "add";
      } else if (item.git == GitOp::kAdd) {
        op = add_seen ? "mod" : "add";
      } else {
        op = "mod";
      }
    } else if (sop == StreamOp::kTransient) {
      if (item.git == GitOp::kDel) op = "del";  // created and deleted in the window
    } else if (sop == StreamOp::kDel || item.git == GitOp::kDel || item.git == GitOp::kMod ||
               (item.git == GitOp::kAdd && add_seen)) {
      op = "del";
    }
    if (op == nullptr) continue;
    nlohmann::json event = {{"id", std::to_string(now.generation)},
                            {"timestamp", "0.0"},
                            {"class", item.cls},
                            {"operation", op},
                            {"ref", key.second}};
    if (exists) event["snapshot"] = std::move(snapshot);
    ev.events.Add(event);
  }
  return ev;
}

nlohmann::json EventSource::ValidRefCounts() const {
  nlohmann::json counts = nlohmann::json::object();
  for (const Table& table : db_.schema().tables()) {
    counts[Lower(table.name)] = static_cast<int32_t>(db_.RowCount(table.name));
  }
  return counts;
}

std::string EventSource::Inject(const std::string& cls, const std::string& ref) {
  const Table* table = nullptr;
  for (const Table& t : db_.schema().tables()) {
    if (Lower(t.name) == Lower(cls)) table = &t;
  }
  std::optional<std::string> owner = db_.GetTableFromRef(ref);
  if (table == nullptr || !owner || *owner != table->name) {
    throw Error(ErrorKind::kNotFound, "HANDLE_INVALID: " + cls + " " + ref,
                {"HANDLE_INVALID", cls, ref});
  }
  Position p = Refresh();
  uint64_t stamp = stream_.Touch(*table, ref);
  p.stamp = stamp - 1;  // strictly below every token that includes the touch
  return FormatToken(p);
}

}  // namespace xgdb::event
