#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "replica/replicator.h"
#include "xgdb/store.h"
#include "xgdb/version.h"

namespace xgdb::server {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

const char* ProtocolLabel(rpc::ProtocolVersion version) {
  switch (version) {
    case rpc::ProtocolVersion::kV1: return "v1";
    case rpc::ProtocolVersion::kV2: return "v2";
    case rpc::ProtocolVersion::kExtension: return "xapi_gitdb";
    case rpc::ProtocolVersion::kPeer: return "peer";
  }
  return "unknown";
}

// Latency from a cached read (~20 µs) to a long poll (Event_from's 30 s).
const prometheus::Histogram::BucketBoundaries kRequestSeconds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
const prometheus::Histogram::BucketBoundaries kCommitSeconds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const prometheus::Histogram::BucketBoundaries kCommitRows = {1,   2,   5,    10,   20,  50,
                                                             100, 200, 500, 1000, 2000, 5000};

// The families read from the other modules at each scrape, built afresh.
class Snapshot {
 public:
  void Gauge(const std::string& name, const std::string& help, double value,
             ClientMetric::Label label = {}) {
    Add(name, help, MetricType::Gauge, label).gauge.value = value;
  }
  void Counter(const std::string& name, const std::string& help, double value,
               ClientMetric::Label label = {}) {
    Add(name, help, MetricType::Counter, label).counter.value = value;
  }
  std::vector<MetricFamily> Take() { return std::move(families_); }

 private:
  ClientMetric& Add(const std::string& name, const std::string& help, MetricType type,
                    const ClientMetric::Label& label) {
    if (families_.empty() || families_.back().name != name) {
      families_.push_back(MetricFamily{name, help, type, {}});
    }
    ClientMetric& m = families_.back().metric.emplace_back();
    if (!label.name.empty()) m.label.push_back(label);
    return m;
  }
  std::vector<MetricFamily> families_;
};

// A peer's figure that may be unknown yet (null or absent): left out then,
// never shown as 0.
std::optional<double> Known(const nlohmann::json& peer, const char* key) {
  auto it = peer.find(key);
  if (it == peer.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

void AddStore(Store& store, Snapshot& out) {
  Store::Stats stats = store.GetStats();
  out.Gauge("xapi_gitdb_packs", "Packs under objects/pack", static_cast<double>(stats.packs));
  out.Gauge("xapi_gitdb_pack_bytes", "Bytes of the packs", static_cast<double>(stats.pack_bytes));
  out.Gauge("xapi_gitdb_repository_bytes", "Bytes of every file of the repository",
            static_cast<double>(stats.repository_bytes));
  for (const auto& [table, rows] : stats.rows) {
    out.Gauge("xapi_gitdb_rows", "Rows of master per table", static_cast<double>(rows),
              {"table", table});
  }
  uint64_t pending = store.db().Sequence() - store.DurableSequence();
  out.Gauge("xapi_gitdb_uncommitted_changes",
            "Changes acknowledged and not yet committed (group commit's backlog)",
            static_cast<double>(pending));
  out.Gauge("xapi_gitdb_background_error",
            "1 while a commit, fsync or move of master keeps failing (writes are refused)",
            store.BackgroundError() ? 1 : 0);
}

// A per-peer figure of Replicator::Status(), as one metric family.
struct PeerFigure {
  const char* name;
  const char* help;
  const char* key;
  double scale;  // 0.001 for milliseconds shown as seconds
  bool counter;
};
constexpr PeerFigure kPeerFigures[] = {
    {"xapi_gitdb_peer_lag_seconds",
     "How long the peer has lacked some of this host's commits (0: in sync)", "lag_ms", 0.001,
     false},
    {"xapi_gitdb_peer_lag_commits", "This host's commits the peer lacks", "lag_commits", 1,
     false},
    {"xapi_gitdb_peer_clock_skew_seconds", "The peer's wall clock minus ours", "clock_skew_ms",
     0.001, false},
    {"xapi_gitdb_peer_received_bytes_total", "Bytes of the peer's answers and calls", "bytes_in",
     1, true},
    {"xapi_gitdb_peer_sent_bytes_total", "Bytes sent to the peer", "bytes_out", 1, true},
};

void AddPeers(const nlohmann::json& status, Snapshot& out) {
  const nlohmann::json counts = replica::PeerStateCounts(status);  // outlives the loop
  for (const auto& [state, count] : counts.items()) {
    out.Gauge("xapi_gitdb_peers", "Peers by state", count.get<double>(), {"state", state});
  }
  const nlohmann::json peers = status.value("peers", nlohmann::json::array());
  for (const nlohmann::json& p : peers) {
    out.Gauge("xapi_gitdb_peer_up", "1 when the peer answers", p.value("state", "") == "up",
              {"peer", p.value("uuid", "")});
  }
  for (const PeerFigure& f : kPeerFigures) {
    for (const nlohmann::json& p : peers) {
      std::optional<double> value = Known(p, f.key);
      if (!value) continue;
      ClientMetric::Label peer{"peer", p.value("uuid", "")};
      if (f.counter) {
        out.Counter(f.name, f.help, *value * f.scale, peer);
      } else {
        out.Gauge(f.name, f.help, *value * f.scale, peer);
      }
    }
  }
  out.Counter("xapi_gitdb_conflicts_total",
              "Conflicts settled by the replication merges this host derived",
              status.value("conflicts", 0.0));
  out.Gauge("xapi_gitdb_quarantined_heads",
            "Peers' heads refused for changing what their host does not own",
            static_cast<double>(status.value("quarantined", nlohmann::json::array()).size()));
  const nlohmann::json forwards = status.value("forwarded", nlohmann::json::object());
  for (const char* outcome : {"sent", "failed", "made"}) {
    out.Counter("xapi_gitdb_forwarded_writes_total",
                "Writes to rows another host owns: sent to their owner (failed: no answer "
                "or refused), and made here for another host",
                forwards.value(outcome, 0.0), {"outcome", outcome});
  }
}

void AddLocks(const nlohmann::json& status, Snapshot& out) {
  out.Gauge("xapi_gitdb_lock_leader", "1 while this host leads the lock service",
            status.value("role", "") == "leader");
  out.Gauge("xapi_gitdb_locks_held", "Grants this host's clients hold",
            status.value("held_here", 0.0));
  out.Counter("xapi_gitdb_lock_grants_total", "Acquires of this host's clients granted",
              status.value("grants", 0.0));
  out.Counter("xapi_gitdb_lock_waits_total",
              "Acquires of this host's clients not granted at the first try",
              status.value("waits", 0.0));
  out.Counter("xapi_gitdb_lock_refusals_total",
              "Acquires of this host's clients not granted within their wait",
              status.value("refusals", 0.0));
}

}  // namespace

struct Metrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter()
          .Name("xapi_gitdb_requests_total")
          .Help("Requests answered, by protocol, call and status (ok, failure: an error the "
                "protocol carries, error: HTTP 500)")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& latency =
      prometheus::BuildHistogram()
          .Name("xapi_gitdb_request_duration_seconds")
          .Help("From a request's arrival to its answer, by protocol and call")
          .Register(registry);
  prometheus::Histogram& commit_seconds =
      prometheus::BuildHistogram()
          .Name("xapi_gitdb_commit_duration_seconds")
          .Help("Group commits: from taking the changes to master moved")
          .Register(registry)
          .Add({}, kCommitSeconds);
  prometheus::Histogram& commit_rows = prometheus::BuildHistogram()
                                           .Name("xapi_gitdb_commit_rows")
                                           .Help("Group commits: rows written per commit")
                                           .Register(registry)
                                           .Add({}, kCommitRows);
  prometheus::Counter& commits = prometheus::BuildCounter()
                                     .Name("xapi_gitdb_commits_total")
                                     .Help("Group commits written")
                                     .Register(registry)
                                     .Add({});

  // One call's series, found once per (protocol, call) and kept: labels
  // come only from known call names, so the map stays small.
  struct CallSeries {
    prometheus::Counter *ok, *failure, *error;
    prometheus::Histogram* latency;
  };
  std::shared_mutex calls_mu;
  std::map<std::pair<rpc::ProtocolVersion, std::string>, CallSeries> calls;

  MetricSources sources;
  double start_time = std::chrono::duration<double>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();

  CallSeries& Series(rpc::ProtocolVersion version, const std::string& call) {
    auto key = std::make_pair(version, call);
    {
      std::shared_lock<std::shared_mutex> lock(calls_mu);
      auto it = calls.find(key);
      if (it != calls.end()) return it->second;
    }
    std::unique_lock<std::shared_mutex> lock(calls_mu);
    auto it = calls.find(key);
    if (it != calls.end()) return it->second;
    prometheus::Labels labels = {{"protocol", ProtocolLabel(version)},
                                 {"call", call.empty() ? "unknown" : call}};
    auto with_status = [&](const char* status) {
      prometheus::Labels l = labels;
      l["status"] = status;
      return &requests.Add(l);
    };
    CallSeries series{with_status("ok"), with_status("failure"), with_status("error"),
                      &latency.Add(labels, kRequestSeconds)};
    return calls.emplace(key, series).first->second;
  }

  std::vector<MetricFamily> Scraped() const {
    Snapshot out;
    out.Gauge("xapi_gitdb_build_info", "1, labelled with the daemon's version", 1,
              {"version", Version()});
    out.Gauge("xapi_gitdb_start_time_seconds", "When the daemon started (Unix time)",
              start_time);
    if (sources.store) AddStore(*sources.store, out);
    if (sources.open_tasks) {
      out.Gauge("xapi_gitdb_open_tasks", "Tasks begun and not yet committed or aborted",
                static_cast<double>(sources.open_tasks()));
    }
    if (sources.event_waiters) {
      out.Gauge("xapi_gitdb_event_waiters", "Event_from calls waiting for a change",
                static_cast<double>(sources.event_waiters()));
    }
    if (sources.open_connections) {
      out.Gauge("xapi_gitdb_open_connections", "Client connections open",
                static_cast<double>(sources.open_connections()));
    }
    if (sources.replication) AddPeers(sources.replication(), out);
    if (sources.locks) AddLocks(sources.locks(), out);
    return out.Take();
  }
};

Metrics::Metrics() : impl_(new Impl) {}
Metrics::~Metrics() = default;

void Metrics::SetSources(MetricSources sources) { impl_->sources = std::move(sources); }

void Metrics::ObserveRequest(rpc::ProtocolVersion version, const rpc::RpcResult& result,
                             double seconds) {
  Impl::CallSeries& series = impl_->Series(version, result.call);
  (result.status != 200 ? series.error : result.failed ? series.failure : series.ok)->Increment();
  series.latency->Observe(seconds);
}

void Metrics::ObserveCommit(size_t rows, double seconds) {
  impl_->commits.Increment();
  impl_->commit_seconds.Observe(seconds);
  impl_->commit_rows.Observe(static_cast<double>(rows));
}

std::string Metrics::Render() const {
  std::vector<MetricFamily> families = impl_->registry.Collect();
  try {
    std::vector<MetricFamily> scraped = impl_->Scraped();
    families.insert(families.end(), std::make_move_iterator(scraped.begin()),
                    std::make_move_iterator(scraped.end()));
  } catch (const std::exception& e) {
    // A module that cannot answer now (the repository unreadable, say)
    // must not take the request metrics away with it.
    spdlog::warn("metrics: reading the daemon's state failed: {}", e.what());
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace xgdb::server
