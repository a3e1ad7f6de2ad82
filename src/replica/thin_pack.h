// Packs between peers (docs/replication.md, "Packs"; proto/peer.md).
//
// A sender packs the commits a peer lacks and, of their trees, only what
// differs from the same path in a parent commit: the pruned Merkle diff the
// merge engine also uses, so a pack costs O(changed fields x depth), never a
// walk of the repository. A tree that changed is sent as a delta against its
// previous version at that path (git's REF_DELTA), which the receiver holds:
// a "thin" pack, a few hundred bytes for a single-field change where the
// whole trees would be ~10 KB. The receiver's libgit2 indexer completes it
// from its own objects, checks every object's id and that everything an
// object names exists, before anything is installed.
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

// Indexes `pack` in a scratch directory under the repository with libgit2's
// indexer (thin bases from `repo`, every object verified and its references
// checked present), checks that every commit of `required` is in it or in
// `repo`, and installs it (Store::InstallPack). Error(kCorrupt) naming what
// is wrong for a truncated, corrupt or incomplete pack: nothing is
// installed, the scratch files are removed.
void ReceivePack(Store& store, git_repository* repo, const std::string& pack,
                 const std::vector<std::string>& required);

}  // namespace xgdb::replica

#endif  // XGDB_REPLICA_THIN_PACK_H_
