// Who the peers are (docs/replication.md, "Topology and liveness"): those
// named by --peer, and with --pool-peers the pool's host rows, followed as
// rows come and go.
#include <map>

#include <spdlog/spdlog.h>

#include "replica/peer.h"
#include "store/layout.h"
#include "xgdb/database.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::replica {

std::vector<PeerAddress> PeersFromHostTable(const Database& db, const std::string& self,
                                            uint16_t port) {
  std::vector<PeerAddress> peers;
  for (const std::string& ref : db.ReadRefs("host")) {
    try {
      std::string uuid = db.ReadField("host", "uuid", ref);
      std::string address = db.ReadField("host", "address", ref);
      if (uuid != self && store::IsHostUuid(uuid) && !address.empty()) {
        peers.push_back({uuid, address, port});
      }
    } catch (const Error&) {
      // deleted meanwhile: gone from the next look
    }
  }
  return peers;
}

std::vector<Replicator::Peer*> Replicator::Peers() {
  std::lock_guard<std::mutex> lock(peers_mu_);
  std::vector<Peer*> live;
  for (auto& p : peers_) {
    if (!p->removed) live.push_back(p.get());
  }
  return live;
}

void Replicator::StartPeer(Peer* p) {
  p->thread = std::thread([this, p] { PeerLoop(*p); });
}

void Replicator::FollowHostTable() {
  if (!options_.peers_from_pool) return;
  std::map<std::string, std::string> wanted;  // uuid -> address
  for (const PeerAddress& a : PeersFromHostTable(store_.db(), options_.host_uuid, 0)) {
    wanted[a.uuid] = a.address;
  }
  bool changed = false;
  std::lock_guard<std::mutex> lock(peers_mu_);
  for (auto& p : peers_) {
    if (p->removed) continue;
    auto it = wanted.find(p->address.uuid);
    bool keep = it != wanted.end() && (!p->from_pool || it->second == p->address.address);
    if (it != wanted.end() && keep) wanted.erase(it);  // have it
    if (keep || !p->from_pool) continue;
    spdlog::info("peer {} ({}) left: its host row is gone or moved", p->address.uuid,
                 p->address.address);
    p->removed = true;
    p->cv.notify_all();
    changed = true;
  }
  for (const auto& [uuid, address] : wanted) {
    auto peer = std::make_unique<Peer>();
    peer->address = {uuid, address, options_.peer_port};
    peer->from_pool = true;
    spdlog::info("peer {} joined from the host table at {}:{}", uuid, address, options_.peer_port);
    if (started_) StartPeer(peer.get());
    peers_.push_back(std::move(peer));
    changed = true;
  }
  if (changed) tree_changed_ = true;
}

Replicator::~Replicator() { Stop(); }

Replicator::Peer* Replicator::FindPeer(const std::string& uuid) {
  for (Peer* p : Peers()) {
    if (p->address.uuid == uuid) return p;
  }
  return nullptr;
}

std::optional<PeerAddress> Replicator::AddressOf(const std::string& uuid) {
  Peer* p = FindPeer(uuid);
  return p ? std::optional<PeerAddress>(p->address) : std::nullopt;
}

}  // namespace xgdb::replica
