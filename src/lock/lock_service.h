// The lock service (docs/locks.md, proto/xapi-gitdb.md "Locks"): named
// exclusive/shared locks with leases and fencing tokens, and compare-and-set
// on small keys, kept by a Raft group of 1, 3 or 5 voters among the pool's
// hosts, so that locks need neither the pool master nor any single host.
//
// Every daemon runs a LockService and a Consensus member. Voters (1, 3 or
// 5, ChooseVoters over the host table) keep the replicated LockTable; the
// other hosts (stand-bys) hold no configuration until the leader makes them
// voters, and route. The leader keeps the voters in step with the host
// table's rows, one membership change at a time. A call is executed by the
// leader: the daemon that got it from a
// client forwards it (one hop, over the daemon's TCP port with the pool
// secret) to the leader it knows of, or to each voter in turn, until one
// leads or the call's deadline passes.
//
// Leases: a grant lives for its TTL unless renewed. The daemon that obtained
// a grant for its client renews it every TTL/3 until it is released, so a
// lock outlives its client's calls but not its host's daemon. Expiry timers
// run on the leader only and start again, at the full TTL, on a new leader:
// a TTL is a lower bound, and a dead holder's locks free within TTL plus an
// election.
#ifndef XGDB_LOCK_LOCK_SERVICE_H_
#define XGDB_LOCK_LOCK_SERVICE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lock/auth_transport.h"
#include "lock/consensus.h"
#include "lock/lock_table.h"
#include "server/client.h"

namespace xgdb {
class Error;
}

namespace xgdb::lock {

struct LockHost {
  std::string uuid;
  std::string address;  // where its daemon's TCP port is
  uint16_t port = 0;    // its daemon's TCP port
};

// The pool's hosts as the database's host table has them.
struct PoolHosts {
  std::vector<std::string> uuids;  // of every host row
  std::string master;              // the pool master's uuid ("" unknown)
  // Where to reach them, when the table is where addresses come from
  // (serve --pool-peers): these replace what the service knew of each.
  std::vector<LockHost> addresses;
};

struct LockServiceOptions {
  LockHost self;
  std::string host_ref;            // what grants name as their holder
  std::vector<LockHost> hosts;     // every host of the pool, this one included
  std::vector<std::string> voters; // uuids (ChooseVoters): the first voters
  // The host table, read every second: voters follow its rows (those
  // whose address is known), added and removed, and its addresses replace
  // those of `hosts`. Null: voters and addresses stay.
  std::function<PoolHosts()> pool_hosts;
  // Never bootstrap a new log, even as one of `voters`: this host joins a
  // service that runs already (a host added to a pool), whose leader adds it.
  bool join = false;
  // The consensus port of a host is its daemon port plus this.
  int consensus_port_offset = 1;
  std::string dir;                 // the consensus log (on voters)
  SecretsFn secrets;               // the pool secrets; the first is presented
  // Calls forwarded to the leader go over TLS, trusting this; null: plain.
  std::shared_ptr<const server::TlsTrust> tls;
  // TLS on consensus connections (this host's certificate, the same
  // trust); null: plain TCP, the pool secret still proven.
  std::shared_ptr<const ConsensusTls> consensus_tls;
  int64_t default_ttl_ms = 15000;
  // How long a call looks for a leader before it fails (an election takes
  // one to three seconds).
  int leader_wait_ms = 5000;
  unsigned election_timeout_ms = 1000;
};

// The voters of a pool: 1 for one or two hosts, 3 from three, 5 from eight;
// the pool master first, then the others by uuid. Every host computes the
// same list from the same host table.
std::vector<std::string> ChooseVoters(std::vector<std::string> uuids,
                                      const std::string& master_uuid);

class LockService {
 public:
  explicit LockService(LockServiceOptions options);
  ~LockService();  // Stop()
  LockService(const LockService&) = delete;
  LockService& operator=(const LockService&) = delete;

  void Start();  // Error(kIo) when this voter's consensus cannot start
  void Stop();

  // Lock_acquire, Lock_renew, Lock_release, Lock_list, Lock_cas, Lock_get,
  // Lock_check with their arguments as proto/xapi-gitdb.md gives them; returns the
  // result object or throws Error (kBusy: not granted within `wait`; kIo:
  // no leader within leader_wait_ms; kInvalidArgument: bad arguments).
  // Blocks for up to the call's wait.
  nlohmann::json Call(const std::string& call, const nlohmann::json& args);

  // Fencing (TaskOptions::check_guard): returns when `token` is a live
  // grant of lock `name` (a linearizable read on the leader), else throws
  // Error(kFenced) naming the newest grant; Error(kIo) without a leader.
  void CheckHeld(const std::string& name, uint64_t token);

  // Call on a thread of its own (a waiting acquire must not hold one of the
  // server's), then done(result, nullptr) or done(nullptr, &error). More
  // than 256 calls at once are refused with Error(kBusy).
  using Done = std::function<void(const nlohmann::json* result, const Error* error)>;
  void CallAsync(std::string call, nlohmann::json args, Done done);

  // Executes a call forwarded by another daemon (args carry "holder"), on
  // this member: {"no_leader": true, "leader": uuid|""} when it does not
  // lead.
  nlohmann::json Execute(const std::string& call, const nlohmann::json& args);

  // For `status` and the metrics: this host's role, what it knows of the
  // leader, and how its clients' acquires went since it started (granted;
  // waited: not granted at the first try; refused: not granted within the
  // call's wait).
  nlohmann::json Status();

 private:
  // How long a command, a barrier or a membership step may take to commit.
  static constexpr int kConsensusTimeoutMs = 3000;
  // Route until a member answers other than "no leader", or the deadline.
  nlohmann::json RouteToLeader(const std::string& call, const nlohmann::json& args,
                               std::chrono::steady_clock::time_point deadline);
  nlohmann::json Route(const std::string& call, const nlohmann::json& args);
  nlohmann::json Forward(const LockHost& host, const std::string& call,
                         const nlohmann::json& args);
  // POST /xapi_gitdb to another daemon, on a kept connection when one is idle.
  server::Answer Post(const LockHost& host, const std::string& body, const std::string& secret);
  nlohmann::json NoLeader();
  nlohmann::json ExecuteAcquire(const nlohmann::json& args);
  nlohmann::json ExecuteRenew(const nlohmann::json& args);
  nlohmann::json ExecuteList();
  std::optional<nlohmann::json> Propose(const nlohmann::json& command);
  std::optional<LockHost> FindHost(const std::string& uuid) const;
  ConsensusMember MemberOf(const LockHost& host) const;
  // The voters as the consensus configuration has them (uuids), or the
  // first voters while this member knows no configuration.
  std::vector<std::string> Voters() const;
  // Leader: one step towards the voters the host table asks for.
  void Reconcile(const PoolHosts& pool);
  std::optional<LockHost> HostOfMember(uint64_t member_id) const;
  // Takes the addresses the host table gives (PoolHosts::addresses).
  void FollowAddresses(const PoolHosts& pool);
  void Pause(std::chrono::milliseconds ms);  // returns early when stopping
  void TimerLoop();
  void ExpireLeases();
  void RenewHeld();

  LockServiceOptions options_;
  mutable std::mutex hosts_mu_;
  std::vector<LockHost> hosts_;  // options_.hosts, then as the table says
  LockTable table_;
  std::unique_ptr<Consensus> consensus_;  // on every host, voter or not
  std::string leader_hint_;               // uuid of the last known leader
  size_t next_voter_ = 0;
  std::mutex route_mu_;
  std::mutex idle_mu_;
  std::map<std::string, std::vector<server::Connection>> idle_;  // by host uuid

  // Leader only: when each grant (by token) expires unless renewed.
  std::mutex lease_mu_;
  std::map<uint64_t, std::chrono::steady_clock::time_point> deadlines_;
  bool was_leader_ = false;

  // Grants this daemon obtained for its clients, renewed until released.
  struct Held {
    std::string name;
    int64_t ttl_ms = 0;
    std::chrono::steady_clock::time_point renewed;
  };
  std::mutex held_mu_;
  std::map<uint64_t, Held> held_;
  std::atomic<uint64_t> acquires_granted_{0}, acquires_waited_{0}, acquires_refused_{0};

  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread timer_;
  bool started_ = false;
  int in_flight_ = 0;  // CallAsync threads; stop_mu_

};

}  // namespace xgdb::lock

#endif  // XGDB_LOCK_LOCK_SERVICE_H_
