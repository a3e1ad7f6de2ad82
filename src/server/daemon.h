// `xapi-gitdb serve`: the daemon. Opens the store, starts its group
// committer, and serves xapi's remote-database protocol over HTTP on a unix
// socket and, when asked, a TCP port (optionally TLS) until SIGTERM/SIGINT.
//
// The CLI (src/cli/) fills DaemonOptions from flags and/or a config file
// (config.h) and calls RunDaemon. Beast is not visible from here.
#ifndef XGDB_SERVER_DAEMON_H_
#define XGDB_SERVER_DAEMON_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xgdb::server {

struct DaemonOptions {
  // The git repository holding the database (must exist: `xapi-gitdb init`
  // or `import` creates it).
  std::string repo_path = "/var/lib/xapi-db";

  // Unix socket; created with mode 0600, a stale file is replaced. Empty: no
  // unix listener. Connections here need no credentials (spec 1.5 rule 1).
  std::string unix_socket = "/var/run/xapi-gitdb.sock";

  // Optional TCP listener, e.g. tcp_address "0.0.0.0", tcp_port 80. Port 0
  // (the default) means no TCP listener. Every request on TCP must carry a
  // `pool_secret` cookie equal to the content of one of `secret_files`.
  std::string tcp_address = "127.0.0.1";
  uint16_t tcp_port = 0;
  // Files holding a pool secret each (trailing whitespace ignored). More than
  // one during rotation. Re-read when their modification time changes.
  std::vector<std::string> secret_files;

  // Prometheus metrics on GET http://metrics_address:metrics_port/metrics
  // when `metrics` is set (port 0: any free port, which Status shows). No
  // secret is asked there (docs/operations.md, "Metrics").
  bool metrics = false;
  std::string metrics_address = "127.0.0.1";
  uint16_t metrics_port = 0;

  // TLS on the TCP port when both are set (PEM files).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Peers (replication, forwarded writes, lock calls to the leader) are
  // called over TLS and must present a certificate this PEM bundle trusts
  // (server::TlsTrust). Empty: plain TCP with the pool secret.
  std::string peer_ca_file;

  // Group commit: what changed is committed (and fsynced) every this many
  // milliseconds. With sync_commit, each write call waits for its commit
  // before it is answered.
  int commit_interval_ms = 50;
  bool sync_commit = false;
  // fsync packs/refs on each commit (StoreOptions::fsync). Tests may turn it
  // off; a real daemon never should.
  bool fsync = true;

  // Threads running the I/O loop and the dispatcher. 0: 2.
  int worker_threads = 0;
  // Largest accepted request body (xapi: 300 KiB).
  size_t max_body_bytes = 307200;

  // Tasks idle (no call) for longer are aborted, with a log line each; 0:
  // never (docs/tasks.md).
  int64_t task_timeout_ms = 30 * 60 * 1000;
  // This host's ref: the acting host of top-level tasks for the ownership
  // check (docs/ownership.md). Empty: local tasks are not checked.
  std::string host_ref;

  // Replication (docs/replication.md). This host's uuid: its commits go to
  // refs/hosts/<uuid> too and master is derived from every host's head.
  // Empty: a pool of one, as before.
  std::string host_uuid;
  // Peers as "UUID=ADDRESS:PORT" (their TCP ports); this host's own entry
  // is skipped, so every host may be given the same list. Peers are called
  // with the first of secret_files.
  std::vector<std::string> peers;
  // Also replicate with the pool's hosts as the host table says (uuid,
  // `address`), at peer_port (0: this daemon's own TCP port), following rows
  // added and removed.
  bool peers_from_pool = false;
  uint16_t peer_port = 0;
  int fanout = 4;  // of the tree that pushes go along
  // The lock service (docs/locks.md) runs when replicating with a secret.
  // Its consensus port is each daemon's TCP port plus this offset.
  bool locks = true;
  int lock_port_offset = 1;
  int64_t lock_ttl_ms = 15000;  // default TTL of a grant
  // This host joins a running lock service: it never starts a new one, even
  // when the peer list makes it one of the first voters (docs/locks.md).
  bool lock_join = false;

  // spdlog level name: trace, debug, info, warn, error, critical, off.
  std::string log_level = "info";
  // Optional file the daemon writes its pid to (removed on exit).
  std::string pid_file;
};

// Runs the daemon until SIGTERM or SIGINT; then stops accepting, commits what
// is pending and returns 0. Returns non-zero (after logging why) when the
// repository cannot be opened or a listener cannot be set up.
int RunDaemon(const DaemonOptions& options);

}  // namespace xgdb::server

#endif  // XGDB_SERVER_DAEMON_H_
