// The tree peers push along (docs/replication.md, "Topology"): the live
// hosts sorted by uuid, laid out as a heap of fan-out F (host i's parent is
// (i-1)/F, its children i*F+1 .. i*F+F), so every host computes the same
// tree from the same view, and 64 hosts at F=4 are 3 levels deep. When a
// host is seen dead it drops out of the view and its children re-attach by
// the same rule.
#ifndef XGDB_REPLICA_TOPOLOGY_H_
#define XGDB_REPLICA_TOPOLOGY_H_

#include <string>
#include <vector>

namespace xgdb::replica {

struct TreeLinks {
  std::string parent;                 // "" for the root
  std::vector<std::string> children;
  // Whether `uuid` is the parent or a child.
  bool Has(const std::string& uuid) const;
};

// `self`'s links in the tree over `live` (any order; `self` is added when
// missing). fanout >= 1.
TreeLinks LinksOf(std::vector<std::string> live, const std::string& self, int fanout);

}  // namespace xgdb::replica

#endif  // XGDB_REPLICA_TOPOLOGY_H_
