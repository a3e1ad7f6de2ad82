#include "replica/derive.h"

#include <algorithm>
#include <map>
#include <optional>

#include "merge/merge.h"
#include "store/git_ptr.h"
#include "xgdb/error.h"

namespace xgdb::replica {

using namespace store;

namespace {

int64_t CommitTime(git_repository* repo, const std::string& hex) {
  return git_commit_time(LookupCommit(repo, ParseOidHex(hex), ErrorKind::kCorrupt).get());
}

// The newest token per lock named by "Lock-Token:" trailers of the commits
// in `head`'s history and not in `base`'s: the locks a side's changes since
// the merge base were made under.
std::map<std::string, uint64_t> TokensSince(git_repository* repo, const std::string& head,
                                            const std::string& base) {
  git_revwalk* raw = nullptr;
  Check(git_revwalk_new(&raw, repo), "starting a history walk");
  RevwalkPtr walk(raw);
  git_oid head_id = ParseOidHex(head);
  Check(git_revwalk_push(walk.get(), &head_id), "walking " + head, ErrorKind::kCorrupt);
  if (!base.empty()) {
    git_oid base_id = ParseOidHex(base);
    Check(git_revwalk_hide(walk.get(), &base_id), "walking " + base, ErrorKind::kCorrupt);
  }
  std::map<std::string, uint64_t> tokens;
  for (git_oid id; git_revwalk_next(&id, walk.get()) == 0;) {
    CommitPtr commit = LookupCommit(repo, id, ErrorKind::kCorrupt);
    for (const auto& [name, token] : merge::LockTokenTrailers(git_commit_message(commit.get()))) {
      tokens[name] = std::max(tokens[name], token);
    }
  }
  return tokens;
}

// Fencing between hosts: when both sides changed things under one lock,
// the side with its newer grant wins what cannot merge (the other side's
// holder had lost the lock, or got it earlier). nullopt when no lock is
// common to both sides (the first common lock, by name, that differs).
std::optional<merge::Winner> FencedWinner(git_repository* repo, const std::string& ours,
                                          const std::string& theirs, const std::string& base) {
  std::map<std::string, uint64_t> ours_tokens = TokensSince(repo, ours, base);
  if (ours_tokens.empty()) return std::nullopt;
  std::map<std::string, uint64_t> theirs_tokens = TokensSince(repo, theirs, base);
  for (const auto& [name, token] : ours_tokens) {
    auto it = theirs_tokens.find(name);
    if (it == theirs_tokens.end() || it->second == token) continue;
    return it->second > token ? merge::Winner::kTheirs : merge::Winner::kOurs;
  }
  return std::nullopt;
}

}  // namespace

bool Contains(git_repository* repo, const std::string& descendant, const std::string& ancestor) {
  if (descendant == ancestor) return true;
  git_oid d = ParseOidHex(descendant), a = ParseOidHex(ancestor);
  int rc = git_graph_descendant_of(repo, &d, &a);
  if (rc < 0) Check(rc, "comparing " + descendant + " with " + ancestor, ErrorKind::kCorrupt);
  return rc == 1;
}

std::string MergeHeads(git_repository* repo, const std::string& ours, const std::string& theirs,
                       std::vector<std::string>* conflicts) {
  int64_t ours_time = CommitTime(repo, ours), theirs_time = CommitTime(repo, theirs);
  bool theirs_later = theirs_time != ours_time ? theirs_time > ours_time : theirs > ours;
  merge::MergeOptions options;
  options.order = merge::ParentOrder::kSorted;
  options.winner = theirs_later ? merge::Winner::kTheirs : merge::Winner::kOurs;
  merge::MergeOutcome merged = merge::MergeCommits(repo, ours, theirs, options);
  // Only conflicts need the (history-walking) fencing rule: none, no walk.
  if (!merged.resolved.empty()) {
    std::optional<merge::Winner> fenced = FencedWinner(repo, ours, theirs, merged.base);
    if (fenced && *fenced != options.winner) {
      options.winner = *fenced;
      merged = merge::MergeCommits(repo, ours, theirs, options);
    }
  }
  if (conflicts != nullptr) {
    for (const merge::Conflict& c : merged.resolved) {
      conflicts->push_back(merge::ConflictLine(c, options.winner));
    }
  }
  return merged.commit;
}

DerivedMaster DeriveMaster(git_repository* repo, const Heads& heads) {
  DerivedMaster out;
  // Usually one head is ahead of all others (hosts commit on the master
  // they derived), so the frontier stays small and this is O(heads).
  for (const auto& [host, head] : heads) {
    bool covered = false;
    for (const std::string& f : out.frontier) {
      if (Contains(repo, f, head)) {
        covered = true;
        break;
      }
    }
    if (covered) continue;
    std::erase_if(out.frontier, [&](const std::string& f) { return Contains(repo, head, f); });
    out.frontier.push_back(head);
  }
  std::sort(out.frontier.begin(), out.frontier.end());
  if (out.frontier.empty()) return out;
  std::string master = out.frontier.front();
  for (size_t i = 1; i < out.frontier.size(); ++i) {
    master = MergeHeads(repo, master, out.frontier[i], &out.conflicts);
  }
  out.commit = master;
  return out;
}

}  // namespace xgdb::replica
