// The daemon's metrics in Prometheus text format (docs/operations.md,
// "Metrics"): what the server observes as it answers (requests by call and
// status, their latency, group commits) is counted here as it happens; what
// the other modules keep (packs, tasks, event waiters, peers, locks) is read
// from them at each scrape through MetricSources.
//
// prometheus-cpp (core) keeps the counters and histograms and writes the
// text format; it stays inside metrics.cc.
#ifndef XGDB_SERVER_METRICS_H_
#define XGDB_SERVER_METRICS_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "rpc/dispatcher.h"

namespace xgdb {
class Store;
}

namespace xgdb::server {

// Read at each scrape; any may be unset (that module does not run). Each is
// called on the scraping thread and must be safe beside the daemon's work.
struct MetricSources {
  Store* store = nullptr;
  std::function<size_t()> open_tasks;
  std::function<size_t()> event_waiters;
  std::function<size_t()> open_connections;
  std::function<nlohmann::json()> replication;  // Replicator::Status()
  std::function<nlohmann::json()> locks;        // LockService::Status()
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Set once, before the first scrape.
  void SetSources(MetricSources sources);

  // One answered request, `seconds` after it arrived. Thread-safe.
  void ObserveRequest(rpc::ProtocolVersion version, const rpc::RpcResult& result,
                      double seconds);
  // One commit of `rows` rows that took `seconds` (StoreOptions::on_commit).
  void ObserveCommit(size_t rows, double seconds);

  // Every metric, in the Prometheus text exposition format (version 0.0.4).
  std::string Render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xgdb::server

#endif  // XGDB_SERVER_METRICS_H_
