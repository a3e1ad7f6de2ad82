// The one module that knows the consensus engine (docs/locks.md): Raft
// from Debian's libraft-dev (canonical/raft 0.15) behind an interface of
// our own, so that its maintained fork (cowsql/raft) or another engine can
// replace it without touching the lock service.
//
// libraft runs on its own libuv loop on its own thread. Other threads reach
// it only through a queue that the loop drains when woken by uv_async_send
// (libuv's one thread-safe call, which coalesces wake-ups: hence the
// queue). Traffic between members goes through AuthTransport (pool secret);
// the log, its metadata and snapshots live in `dir`, outside git history.
#ifndef XGDB_LOCK_CONSENSUS_H_
#define XGDB_LOCK_CONSENSUS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lock/auth_transport.h"
#include "lock/tls_bridge.h"

namespace xgdb::lock {

// The replicated state: applied on every member in log order.
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  virtual nlohmann::json Apply(uint64_t index, std::string_view command) = 0;
  virtual std::string Snapshot() = 0;
  virtual void Restore(std::string_view snapshot) = 0;  // Error on bad input
};

struct ConsensusMember {
  uint64_t id = 0;       // > 0, unique in the pool
  std::string address;   // "IPv4:PORT" where it listens
};

struct ConsensusOptions {
  ConsensusMember self;
  std::string bind_address;  // "IP:PORT" to listen on; empty: self.address
  std::string dir;           // created when missing
  // The first configuration, used only when `dir` holds no log yet and
  // `bootstrap` is set: every voter of a new service must be given the same
  // list. A member started without `bootstrap` and with an empty log holds
  // no configuration: it waits until a leader adds it (Change), and must,
  // or two services could be born with one name.
  std::vector<ConsensusMember> voters;
  bool bootstrap = true;
  SecretsFn secrets;
  // TLS on every consensus connection (tls_bridge.h); null: plain TCP.
  std::shared_ptr<const ConsensusTls> tls;
  unsigned election_timeout_ms = 1000;
  unsigned heartbeat_ms = 100;
};

// A member id from a host uuid (its first 16 hex digits): stable across
// restarts and the same on every host.
uint64_t MemberIdOf(const std::string& host_uuid);

class Consensus {
 public:
  Consensus(ConsensusOptions options, StateMachine& machine);
  ~Consensus();  // Stop()
  Consensus(const Consensus&) = delete;
  Consensus& operator=(const Consensus&) = delete;

  // Opens the log in `dir` (bootstrapping it when new) and starts taking
  // part. Error(kIo) when libraft cannot start.
  void Start();
  void Stop();

  struct Applied {
    uint64_t index = 0;      // the command's log index
    nlohmann::json answer;   // StateMachine::Apply's
  };
  // Appends `command` and waits until it is applied here. nullopt when this
  // member does not lead (ask LeaderId()). Error(kIo) when it led but the
  // outcome is unknown: leadership lost or no answer within `timeout_ms`
  // (the command may still be applied later).
  std::optional<Applied> Propose(const std::string& command, int timeout_ms);
  // Waits until everything committed before the call is applied here, so
  // that a read of the state machine afterwards is linearizable. False when
  // this member does not lead; Error(kIo) as for Propose.
  bool Barrier(int timeout_ms);

  // Membership, on the leader, one step per call (libraft takes one
  // change at a time, each committed like a command): makes `member` a
  // voter (adding it first when it is not in the configuration: a second
  // call then promotes it, once libraft has caught its log up) or, with
  // `voter` false, removes it. True when a step was taken and committed;
  // false when nothing was left to do, this member does not lead, or
  // another change is still under way. Error(kIo) on failure or timeout.
  bool Change(const ConsensusMember& member, bool voter, int timeout_ms);
  // Hands leadership to another voter (when this one is to be removed).
  void TransferLeadership();

  // As of the last tick (every 10 ms) of the consensus thread.
  bool IsLeader() const;
  uint64_t LeaderId() const;  // 0: none known
  std::vector<uint64_t> Voters() const;  // the configuration's; empty: none known

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xgdb::lock

#endif  // XGDB_LOCK_CONSENSUS_H_
