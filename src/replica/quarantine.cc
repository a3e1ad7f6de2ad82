#include "replica/quarantine.h"

#include <cstring>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "merge/merge.h"
#include "replica/derive.h"
#include "store/git_ptr.h"
#include "store/image_loader.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::replica {

using namespace store;

namespace {

constexpr char kOpaqueRefPrefix[] = "OpaqueRef:";  // a host ref, not a uuid

// Stands for a commit whose author cannot be told: it may change only rows
// nobody owns.
constexpr char kNobody[] = "(unknown host)";

// The host ref a commit's trailer names: a task merge records the host ref
// itself, a store commit the host's uuid, found in the host table as of
// the commit's parent, or of the commit (a host adding its own row).
std::string ActorRef(git_repository* repo, const std::string& trailer,
                     const std::vector<const git_commit*>& versions, HostRefCache* cache) {
  if (trailer.rfind(kOpaqueRefPrefix, 0) == 0) return trailer;
  auto it = cache->find(trailer);
  if (it != cache->end()) return it->second;
  merge::GitReader reader(repo);
  for (const git_commit* version : versions) {
    git_tree* raw = nullptr;
    Check(git_commit_tree(&raw, version), "reading a commit's tree", ErrorKind::kCorrupt);
    TreePtr root(raw);
    merge::TreeRowView view(&reader, *git_tree_id(root.get()), ReadMetaCached(repo, root.get()));
    std::vector<std::string> refs = view.RefsWhere("host", "uuid", trailer);
    if (!refs.empty()) return (*cache)[trailer] = refs.front();
  }
  return kNobody;  // not (yet) a host of this pool: not cached
}

}  // namespace

std::optional<Violation> FindViolation(git_repository* repo, const std::string& host,
                                       const std::string& head,
                                       const std::vector<std::string>& held, HostRefCache* cache) {
  git_revwalk* raw_walk = nullptr;
  Check(git_revwalk_new(&raw_walk, repo), "starting a history walk");
  RevwalkPtr walk(raw_walk);
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
  git_oid head_id = ParseOidHex(head);
  Check(git_revwalk_push(walk.get(), &head_id), "walking " + head, ErrorKind::kCorrupt);
  for (const std::string& h : held) {
    git_oid id = ParseOidHex(h);
    Check(git_revwalk_hide(walk.get(), &id), "walking " + h, ErrorKind::kCorrupt);
  }
  for (git_oid id; git_revwalk_next(&id, walk.get()) == 0;) {
    CommitPtr commit = LookupCommit(repo, id, ErrorKind::kCorrupt);
    unsigned parents = git_commit_parentcount(commit.get());
    if (parents == 0) continue;  // a root: the pool's first commit, nothing to compare with
    Violation v;
    v.host = host;
    v.head = head;
    v.commit = OidHex(id);
    v.actor = merge::HostTrailer(git_commit_message(commit.get()));
    std::string first = OidHex(*git_commit_parent_id(commit.get(), 0));
    v.parent = first;
    const git_signature* author = git_commit_author(commit.get());
    bool replication_merge = v.actor.empty() && parents == 2 &&
                             std::string(author->name) == merge::kMergeAuthorName;
    if (replication_merge) {
      std::string second = OidHex(*git_commit_parent_id(commit.get(), 1));
      std::string expected = MergeHeads(repo, first, second, nullptr);
      if (expected == v.commit) continue;
      v.reason = "merge " + v.commit + " is not the merge of its parents " + first + " and " +
                 second + " (that is " + expected + ")";
      return v;
    }
    git_commit* raw_parent = nullptr;
    Check(git_commit_parent(&raw_parent, commit.get(), 0), "reading a parent of " + v.commit,
          ErrorKind::kCorrupt);
    CommitPtr parent(raw_parent);
    std::string actor = v.actor.empty()
                            ? kNobody
                            : ActorRef(repo, v.actor, {parent.get(), commit.get()}, cache);
    // Merging the commit into its own parent checks exactly what it
    // changed, owners read as of the parent (then the commit, for rows it
    // created), and writes nothing: it is a fast-forward.
    merge::MergeOptions check;
    check.actor = actor;
    try {
      merge::MergeCommits(repo, first, v.commit, check);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kOwnership) throw;
      v.table = e.args()[0];
      v.ref = e.args()[1];
      v.owner = e.args()[2];
      v.reason = "commit " + v.commit + " by " + (v.actor.empty() ? "an unnamed host" : v.actor) +
                 ": " + e.what();
      return v;
    }
  }
  return std::nullopt;
}

std::optional<Violation> Quarantine::Find(const std::string& host, const std::string& head,
                                          const std::vector<std::string>& held) {
  std::optional<Violation> found;
  store_.WithRepository([&](git_repository* repo) {
    HostRefCache cache;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cache = host_refs_;
    }
    found = FindViolation(repo, host, head, held, &cache);
    std::lock_guard<std::mutex> lock(mu_);
    host_refs_.insert(cache.begin(), cache.end());
  });
  if (found && !found->ref.empty()) {  // for the log and the list: which fields
    for (const FieldChange& c : store_.Diff(found->parent, found->commit)) {
      if (c.ref == found->ref) found->fields.push_back(c.field.empty() ? "(the row)" : c.field);
    }
  }
  return found;
}

void Quarantine::Load(const std::vector<std::string>& held) {
  for (const std::string& ref : store_.ListRefs(kQuarantineRefPrefix)) {
    std::string host = ref.substr(std::strlen(kQuarantineRefPrefix));
    std::string head = store_.RefTarget(ref);
    std::optional<Violation> v = Find(host, head, held);
    if (!v) {
      spdlog::info("{} ({}) breaks no rule against what this host holds now; not listed", ref,
                   head);
      continue;
    }
    spdlog::warn("quarantined: host {}'s head {}: {}", host, head, v->reason);
    std::lock_guard<std::mutex> lock(mu_);
    refused_[host] = *v;
  }
}

bool Quarantine::Refused(git_repository* repo, const std::string& host,
                         const std::string& head) const {
  std::string bad;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = refused_.find(host);
    if (it == refused_.end()) return false;
    bad = it->second.head;
  }
  return Contains(repo, head, bad);
}

bool Quarantine::Check(const std::string& host, const std::string& head,
                       const std::vector<std::string>& held) {
  std::optional<Violation> v = Find(host, head, held);
  if (!v) return false;
  std::string ref = kQuarantineRefPrefix + host;
  // Kept, so that git keeps its objects and people can read it.
  store_.MoveRef(ref, head, store_.RefTarget(ref), "quarantine: " + v->reason);
  std::string fields;
  for (const std::string& f : v->fields) fields += (fields.empty() ? "" : ", ") + f;
  spdlog::error("quarantined host {}'s head {}, not merged: {}{}", host, head, v->reason,
                fields.empty() ? "" : " (fields: " + fields + ")");
  std::lock_guard<std::mutex> lock(mu_);
  refused_[host] = *v;
  return true;
}

nlohmann::json Quarantine::ToJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [host, v] : refused_) {
    out.push_back({{"host", v.host},
                   {"head", v.head},
                   {"commit", v.commit},
                   {"actor", v.actor},
                   {"table", v.table},
                   {"ref", v.ref},
                   {"owner", v.owner},
                   {"fields", v.fields},
                   {"reason", v.reason}});
  }
  return out;
}

}  // namespace xgdb::replica
