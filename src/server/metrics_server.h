// The metrics endpoint: `GET /metrics` on its own TCP address, for
// Prometheus to scrape (docs/operations.md, "Metrics"). It asks for no
// secret, as scrapers do not send one: the text holds counts, latencies and
// peers' uuids, never the database's rows. Bind it to loopback or a
// management network.
//
// One thread, at most kMaxMetricsConnections connections (more are closed
// at once), 10 s for a request to arrive: a scraper that misbehaves cannot
// take the daemon's descriptors or threads. Beast stays in the .cc.
#ifndef XGDB_SERVER_METRICS_SERVER_H_
#define XGDB_SERVER_METRICS_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace xgdb::server {

constexpr int kMaxMetricsConnections = 16;

class MetricsServer {
 public:
  // `render` makes the answer's body; it runs on the server's thread.
  MetricsServer(std::string address, uint16_t port, std::function<std::string()> render);
  ~MetricsServer();  // Stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and starts the thread. Error(kInvalidArgument) for a bad address,
  // Error(kIo) when it cannot listen.
  void Start();
  void Stop();  // idempotent
  // The bound port (useful with port 0).
  uint16_t port() const;

  struct Impl;  // named here for the connection code in the .cc

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace xgdb::server

#endif  // XGDB_SERVER_METRICS_SERVER_H_
