// What the replicator shows of itself and its peers (`xapi-gitdb peers`,
// Peer_list, the metrics).
#include <git2.h>

#include <nlohmann/json.hpp>

#include "replica/peer.h"
#include "replica/topology.h"
#include "xgdb/store.h"

namespace xgdb::replica {

nlohmann::json PeerStateCounts(const nlohmann::json& status) {
  nlohmann::json counts = {{"up", 0}, {"suspect", 0}, {"down", 0}, {"unknown", 0}};
  for (const auto& peer : status.value("peers", nlohmann::json::array())) {
    std::string state = peer.value("state", "unknown");
    if (!counts.contains(state)) state = "unknown";
    counts[state] = counts[state].get<int>() + 1;
  }
  return counts;
}

nlohmann::json Replicator::Status() {
  Heads mine = LocalHeads();
  TreeLinks links = Links();
  int64_t now = NowMs();
  nlohmann::json peers = nlohmann::json::array();
  for (Peer* p : Peers()) {
    const std::string& uuid = p->address.uuid;
    std::string role = uuid == links.parent ? "parent" : links.Has(uuid) ? "child" : "lazy";
    Heads theirs;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      theirs = p->heads;
    }
    // Lag: our commits it lacks, counted on the hosts of which it holds an
    // older head (not those it lacks entirely, nor those where it is ahead
    // of us), and for how long it has not held everything we hold.
    size_t lag_hosts = 0, lag_commits = 0;
    for (const auto& [host, head] : mine) {
      auto it = theirs.find(host);
      if (it != theirs.end() && it->second == head) continue;
      ++lag_hosts;
      std::lock_guard<std::mutex> lock(git_mu_);
      size_t ahead = 0, behind = 0;
      git_oid ours_id, theirs_id;
      if (it != theirs.end() && HaveCommit(it->second) &&
          git_oid_fromstr(&ours_id, head.c_str()) == 0 &&
          git_oid_fromstr(&theirs_id, it->second.c_str()) == 0 &&
          git_graph_ahead_behind(&ahead, &behind, repo_.get(), &ours_id, &theirs_id) == 0) {
        lag_commits += ahead;
      }
    }
    std::lock_guard<std::mutex> lock(p->mu);
    bool in_sync = p->known && lag_hosts == 0;
    nlohmann::json lag_ms = in_sync           ? nlohmann::json(0)
                            : p->last_in_sync_ms ? nlohmann::json(now - p->last_in_sync_ms)
                                                 : nlohmann::json(nullptr);
    auto it = mine.find(uuid);
    nlohmann::json j = {
        {"uuid", uuid},
        {"address", p->address.address + ":" + std::to_string(p->address.port)},
        {"state", p->down ? "down" : p->misses > 0 ? "suspect" : p->known ? "up" : "unknown"},
        {"role", role},
        {"head", it == mine.end() ? "" : it->second},
        {"in_sync", in_sync},
        {"hosts_behind", p->known ? nlohmann::json(lag_hosts) : nlohmann::json(nullptr)},
        {"lag_commits", p->known ? nlohmann::json(lag_commits) : nullptr},
        {"lag_ms", lag_ms},
        {"last_exchange_ms_ago", p->last_ok_ms ? nlohmann::json(now - p->last_ok_ms) : nullptr},
        {"rtt_ms", p->rtt_ms},
        {"clock_skew_ms", p->clock_skew_ms ? nlohmann::json(*p->clock_skew_ms) : nullptr},
        {"bytes_in", p->bytes_in},
        {"bytes_out", p->bytes_out},
        {"packs_in", p->packs_in},
        {"packs_out", p->packs_out},
    };
    if (!p->last_error.empty()) j["last_error"] = p->last_error;
    peers.push_back(std::move(j));
  }
  return {{"host", options_.host_uuid}, {"master", store_.Head()}, {"heads", mine},
          {"fanout", options_.fanout}, {"conflicts", conflicts_.load()},
          {"quarantined", quarantine_.ToJson()},
          {"forwarded",
           {{"sent", forwards_sent_.load()},
            {"failed", forwards_failed_.load()},
            {"made", forwards_made_.load()}}},
          {"peers", std::move(peers)}};
}

}  // namespace xgdb::replica
