// The replicator (docs/replication.md): keeps this host's repository a full
// replica of the pool's.
//
// Each host commits only to its own ref (refs/hosts/<uuid>, moved by the
// store with master); the replicator copies other hosts' refs from peers,
// fast-forward only, and derives master from all heads (derive.h). Peers
// talk over the daemon's TCP port (pool secret, proto/peer.md): a new head
// is pushed at once, as a thin pack, to this host's neighbours in the tree
// (topology.h); every neighbour is called at least once per keepalive
// interval (liveness; a peer that misses `misses_before_down` calls in a row
// is down and leaves the tree); and every `exchange_ms` one random peer is
// compared with and repaired (anti-entropy), so a missed push, a partition
// or a restart heals by itself.
//
// One thread per peer makes the calls; the daemon's server threads answer
// the peers' calls (HandlePeerCall). Received packs and ref moves are applied
// one at a time.
#ifndef XGDB_REPLICA_REPLICATOR_H_
#define XGDB_REPLICA_REPLICATOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "replica/derive.h"
#include "replica/quarantine.h"
#include "replica/topology.h"
#include "rpc/dispatcher.h"
#include "server/client.h"
#include "store/git_ptr.h"

namespace xgdb {
class Database;
class Store;
}

namespace xgdb::server {
class SecretChecker;
}

namespace xgdb::replica {

struct PeerMessage;

struct PeerAddress {
  std::string uuid;     // the peer's host uuid
  std::string address;  // host name or IP
  uint16_t port = 0;    // its daemon's TCP port
};

// SHA-1 over the sorted "uuid head" lines: two hosts compare their heads
// by this alone when nothing changed (keepalives stay small at 64 hosts).
std::string HeadsDigest(const Heads& heads);

// "UUID=ADDRESS:PORT" (IPv6: "UUID=[ADDR]:PORT"). Error(kInvalidArgument).
PeerAddress ParsePeerAddress(const std::string& spec);

struct ReplicatorOptions {
  std::string host_uuid;  // this host (the store's StoreOptions::host_uuid)
  // Peers named by --peer: always peers, whatever the host table says.
  std::vector<PeerAddress> peers;
  // Also take as peers the pool's hosts (the host table of master: each
  // row's uuid and `address`), at `peer_port`, following rows added,
  // removed and readdressed (checked every exchange_ms).
  bool peers_from_pool = false;
  uint16_t peer_port = 0;
  // The pool secret presented to peers (their --secret-file's content).
  std::string secret_file;
  // Peers are called over TLS and must present a certificate this trusts;
  // null: plain TCP (docs/replication.md, "TLS between hosts").
  std::shared_ptr<const server::TlsTrust> tls;
  int fanout = 4;
  int keepalive_ms = 1000;
  int exchange_ms = 3000;
  int call_timeout_ms = 2000;
  int misses_before_down = 3;
  // How long a forwarded write may take at its owner (it waits for a commit).
  int forward_timeout_ms = 10000;
  // Makes a write a peer forwarded to this host, as its owner, exactly as a
  // local one, and returns once it is committed (docs/replication.md,
  // "Writes to another host's objects"), under the grant `lock` names when
  // not empty (the x-xgdb-lock header). Unset: forwards are refused.
  std::function<rpc::RpcResult(rpc::ProtocolVersion, std::string_view body,
                               const std::string& lock)>
      make_write;
};

// The pool's other hosts as `db`'s host table says: each row's uuid and
// `address` (rows without one are skipped), at `port`.
std::vector<PeerAddress> PeersFromHostTable(const Database& db, const std::string& self,
                                            uint16_t port);

// How many of the peers of a Status() are in each state: {"up": n,
// "suspect": n, "down": n, "unknown": n} (`status` and the metrics).
nlohmann::json PeerStateCounts(const nlohmann::json& status);

class Replicator {
 public:
  // The store must have StoreOptions::host_uuid == options.host_uuid and
  // outlive the replicator.
  Replicator(Store& store, ReplicatorOptions options);
  ~Replicator();  // Stop()
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // Derives master from the heads on disk (a crash may have left it behind
  // this host's own head), then starts calling peers.
  void Start();
  void Stop();

  // Answers one peer call (a request body of proto/peer.md) with the answer
  // body. Never throws: a refused call is an answer with an error.
  std::string HandlePeerCall(std::string_view body);

  // A write of xapi's protocol (`version` v1 or v2) to a row another host
  // owns is sent to that host, which makes it and answers; the answer is its
  // reply, and its commit is merged here before this returns (a client
  // reads its own write). An unreachable owner gives a 500 saying so.
  // nullopt: make it here (not a write, a body the dispatcher will refuse,
  // no peers, the row owned here or by nobody).
  // `lock` (the x-xgdb-lock header) goes along: the owner checks it.
  std::optional<rpc::RpcResult> ForwardIfOwnedElsewhere(rpc::ProtocolVersion version,
                                                        std::string_view body,
                                                        const std::string& lock = "");

  // This host and every peer as `xapi-gitdb peers --json` shows them.
  nlohmann::json Status();

  // Re-derives master from the heads now (tests and the CLI use Start).
  void DeriveNow();

 private:
  struct Peer;

  // The peers not removed (a snapshot: Peer objects live until Stop).
  std::vector<Peer*> Peers();
  void StartPeer(Peer* peer);  // peers_mu_ held
  // Adds and removes the peers that come from the host table (no-op
  // without ReplicatorOptions::peers_from_pool).
  void FollowHostTable();
  void PeerLoop(Peer& peer);
  void Sync(Peer& peer);
  std::string Call(Peer& peer, const std::string& body);
  // Sends `request`, throws the peer's refusal as Error(kIo).
  PeerMessage Exchange(Peer& peer, const PeerMessage& request);
  // A request of `call` from this host carrying all its heads and master
  // (a fetch: the answer's pack is exactly what this host lacks).
  PeerMessage RequestWithAllHeads(const std::string& call);
  // Records what a peer answered (its heads: `sent` when the answer says
  // it holds the same) and that it lives. Returns its heads.
  Heads Learn(Peer& peer, const PeerMessage& answer, const Heads& sent, bool sent_pack);
  bool HaveCommit(const std::string& hex);  // git_mu_ held
  // Whether a peer's head for `host` is quarantined (git_mu_ held).
  bool RefusedLocked(const std::string& host, const std::string& head);
  // The commits whose history this host has checked: its heads and master.
  std::vector<std::string> HeldCommits();
  // refs/hosts/* as cached (moved only by this replicator and, for this
  // host, with master); ReadHeads reads them from the repository.
  Heads LocalHeads();
  Heads ReadHeads();
  void SetHead(const std::string& host, const std::string& head);
  // Installs `pack` and fast-forwards the refs of `heads` that it (or the
  // repository) completes. Returns whether a ref moved; `missing` gets the
  // heads it could not adopt for lack of objects.
  bool Apply(const std::string& from, const Heads& heads, const std::string& pack,
             std::vector<std::string>* missing);
  // The heads of `mine` that a peer holding `theirs` lacks and can take
  // (theirs absent, or an ancestor of mine); and whether it has heads that
  // this host lacks.
  std::vector<std::string> Ahead(const Heads& mine, const Heads& theirs, bool* behind);
  std::string Pack(const std::vector<std::string>& wants, const Heads& theirs,
                   const std::string& their_master);
  // Sends a write to its owner `peer` (a "forward" call) and returns the
  // answer. Error(kIo) when it cannot be reached.
  PeerMessage SendForward(const PeerAddress& peer, rpc::ProtocolVersion version,
                          std::string_view body, const std::string& lock);
  // Makes a forwarded write (HandlePeerCall), refusing one whose row this
  // host does not own (ownership moved on: the caller's view was old).
  void MakeForwardedWrite(const PeerMessage& request, PeerMessage* answer);
  bool IsNeighbour(const std::string& uuid);
  void WakeNeighbours();
  Peer* FindPeer(const std::string& uuid);
  std::optional<PeerAddress> AddressOf(const std::string& uuid);  // of a peer
  TreeLinks Links();  // this host's in the tree over the peers not down
  void ExchangeLoop();

  Store& store_;
  ReplicatorOptions options_;
  std::unique_ptr<server::SecretChecker> secret_;  // what we present; null: none
  std::mutex git_mu_;        // repo_
  store::RepoPtr repo_;      // the replicator's own handle (packs, ancestry)
  store::OdbPtr odb_;        // repo_'s
  std::mutex apply_mu_;      // one Apply at a time
  std::mutex heads_mu_;
  Heads heads_;
  // Conflicts settled by the merges this host derived since it started
  // (each is a "Conflict:" line of its merge commit).
  std::atomic<uint64_t> conflicts_{0};
  // Writes forwarded to their owner (sent; failed of those) and made here
  // for another host.
  std::atomic<uint64_t> forwards_sent_{0}, forwards_failed_{0}, forwards_made_{0};
  Quarantine quarantine_{store_};  // peers' heads refused (quarantine.h)
  std::mutex peers_mu_;  // peers_ (added to while running), started_
  // Every peer ever had: removed ones stay (flagged) until Stop.
  std::vector<std::unique_ptr<Peer>> peers_;
  std::atomic<bool> tree_changed_{false};  // peers came or went: wake neighbours
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread exchange_thread_;
  int head_listener_ = 0;
  bool started_ = false;
};

}  // namespace xgdb::replica

#endif  // XGDB_REPLICA_REPLICATOR_H_
