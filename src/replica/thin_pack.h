// Packs between peers (docs/replication.md, "Packs"; proto/peer.md).
//
// A sender packs the commits a peer lacks and, of their trees, only what
// differs from the same path in a parent commit: the pruned Merkle diff the
// merge engine also uses, so a pack costs O(changed fields x depth), never a
// walk of the repository. A tree that changed is sent as a delta against its
// previous version at that path (git's REF_DELTA), which the receiver holds:
// a "thin" pack, a few hundred bytes for a single-field change where the
// whole trees would be ~10 KB. The receiver reads it in memory (no scratch
// files: libgit2's indexer would create several per pack), resolves the
// deltas against its own objects, hashes every object, checks that trees
// name nothing git would refuse and that everything an object names exists,
// and only then writes the objects as one pack of its own.
#ifndef XGDB_REPLICA_THIN_PACK_H_
#define XGDB_REPLICA_THIN_PACK_H_

#include <git2.h>

#include <string>
#include <vector>

namespace xgdb {
class Store;
}

namespace xgdb::replica {

struct PackStats {
  size_t commits = 0, objects = 0, deltas = 0;
};

// A pack of the commits reachable from `wants` but not from `haves` (ids
// `repo` lacks are ignored) with their new trees and blobs; "" when there is
// nothing to send. Throws Error(kCorrupt) on unreadable objects.
std::string BuildThinPack(git_repository* repo, const std::vector<std::string>& wants,
                          const std::vector<std::string>& haves, PackStats* stats = nullptr);

// Checks `pack` as above (delta bases and named objects from `repo`, a
// handle on the store's repository), and that every commit of `required` is
// in it or in `repo`, then writes its objects (Store::AddObjects).
// Error(kCorrupt) naming what is wrong for a truncated, corrupt, lying or
// incomplete pack: nothing is written.
void ReceivePack(Store& store, git_repository* repo, const std::string& pack,
                 const std::vector<std::string>& required);

}  // namespace xgdb::replica

#endif  // XGDB_REPLICA_THIN_PACK_H_
