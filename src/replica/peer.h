// One peer as the replicator keeps it, and the clocks its figures use:
// shared by the replicator's files (src/replica/), nobody else's.
#ifndef XGDB_REPLICA_PEER_H_
#define XGDB_REPLICA_PEER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "replica/replicator.h"
#include "server/auth.h"  // the replicator's SecretChecker, complete where it is used
#include "server/client.h"

namespace xgdb::replica {

// Steady-clock milliseconds: the replicator's own intervals.
int64_t NowMs();
// Wall-clock milliseconds since the epoch: what peers compare (clock skew).
int64_t WallMs();

// What this host knows of one peer; `mu` guards everything but the thread
// and the connection (the peer's own thread's).
struct Replicator::Peer {
  PeerAddress address;
  std::mutex mu;
  std::condition_variable cv;
  bool wake = false;      // our heads changed: push
  bool exchange = false;  // anti-entropy picked this peer
  bool known = false;     // heads below are what it answered last
  Heads heads;
  std::string master;
  int misses = 0;
  bool down = false;
  // last_in_sync_ms: the last exchange at which it held every head we held.
  int64_t last_ok_ms = 0, last_call_ms = 0, last_in_sync_ms = 0;
  double rtt_ms = 0;
  // Its wall clock minus ours, from its last answer (within rtt / 2).
  std::optional<int64_t> clock_skew_ms;
  uint64_t bytes_in = 0, bytes_out = 0, packs_in = 0, packs_out = 0;
  std::string last_error;
  std::optional<server::Connection> connection;
  std::thread thread;
  bool from_pool = false;  // from the host table (else from --peer)
  std::atomic<bool> removed{false};  // its host row is gone: its thread ends
};

}  // namespace xgdb::replica

#endif  // XGDB_REPLICA_PEER_H_
