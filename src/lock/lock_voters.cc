// The lock service's voters (docs/locks.md, "Voters"): who they are from
// the host table, and the leader's reconciliation of the consensus
// configuration with it. Part of LockService (lock_service.h).
#include <algorithm>

#include <spdlog/spdlog.h>

#include "lock/lock_service.h"

namespace xgdb::lock {

std::vector<std::string> ChooseVoters(std::vector<std::string> uuids,
                                      const std::string& master_uuid) {
  std::sort(uuids.begin(), uuids.end());
  uuids.erase(std::unique(uuids.begin(), uuids.end()), uuids.end());
  size_t n = uuids.size() >= 8 ? 5 : uuids.size() >= 3 ? 3 : 1;
  std::vector<std::string> voters;
  if (std::find(uuids.begin(), uuids.end(), master_uuid) != uuids.end()) {
    voters.push_back(master_uuid);
  }
  for (const std::string& u : uuids) {
    if (voters.size() == n) break;
    if (u != master_uuid) voters.push_back(u);
  }
  return voters;
}

ConsensusMember LockService::MemberOf(const LockHost& host) const {
  return ConsensusMember{MemberIdOf(host.uuid),
                         host.address + ":" +
                             std::to_string(host.port + options_.consensus_port_offset)};
}

std::vector<std::string> LockService::Voters() const {
  std::vector<std::string> uuids;
  for (uint64_t id : consensus_ ? consensus_->Voters() : std::vector<uint64_t>{}) {
    if (std::optional<LockHost> host = HostOfMember(id)) uuids.push_back(host->uuid);
  }
  // A member the leader has not added yet knows no configuration.
  return uuids.empty() ? options_.voters : uuids;
}

void LockService::Reconcile(const PoolHosts& pool) {
  if (!consensus_->IsLeader()) return;
  std::vector<std::string> candidates;
  for (const std::string& uuid : pool.uuids) {
    if (FindHost(uuid)) candidates.push_back(uuid);  // reachable: its address is known
  }
  if (candidates.empty()) return;  // no host table to go by (yet)
  std::vector<std::string> wanted = ChooseVoters(candidates, pool.master);
  std::vector<std::string> current = Voters();
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  // One step at a time: voters are added (and caught up) before others go,
  // so the service never has fewer voters than it needs.
  for (const std::string& uuid : wanted) {
    if (has(current, uuid)) continue;
    if (consensus_->Change(MemberOf(*FindHost(uuid)), true, kConsensusTimeoutMs)) {
      spdlog::info("lock service: host {} is being made a voter (the host table's voters: {})",
                   uuid, fmt::join(wanted, ", "));
    }
    return;
  }
  for (const std::string& uuid : current) {
    if (has(wanted, uuid)) continue;
    if (uuid == options_.self.uuid) {
      spdlog::info("lock service: this host is no longer to vote; handing leadership over");
      consensus_->TransferLeadership();
    } else if (std::optional<LockHost> host = FindHost(uuid);
               host && consensus_->Change(MemberOf(*host), false, kConsensusTimeoutMs)) {
      spdlog::info("lock service: host {} no longer votes (the host table's voters: {})", uuid,
                   fmt::join(wanted, ", "));
    }
    return;
  }
}

}  // namespace xgdb::lock
