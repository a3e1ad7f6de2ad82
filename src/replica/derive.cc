#include "replica/derive.h"

#include <algorithm>

#include "merge/merge.h"
#include "store/git_ptr.h"
#include "xgdb/error.h"

namespace xgdb::replica {

using namespace store;

namespace {

int64_t CommitTime(git_repository* repo, const std::string& hex) {
  git_oid id = ParseOidHex(hex);
  git_commit* raw = nullptr;
  Check(git_commit_lookup(&raw, repo, &id), "reading commit " + hex, ErrorKind::kCorrupt);
  CommitPtr commit(raw);
  return git_commit_time(commit.get());
}

}  // namespace

bool Contains(git_repository* repo, const std::string& descendant, const std::string& ancestor) {
  if (descendant == ancestor) return true;
  git_oid d = ParseOidHex(descendant), a = ParseOidHex(ancestor);
  int rc = git_graph_descendant_of(repo, &d, &a);
  if (rc < 0) Check(rc, "comparing " + descendant + " with " + ancestor, ErrorKind::kCorrupt);
  return rc == 1;
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
    const std::string& theirs = out.frontier[i];
    int64_t ours_time = CommitTime(repo, master), theirs_time = CommitTime(repo, theirs);
    bool theirs_later = theirs_time != ours_time ? theirs_time > ours_time : theirs > master;
    merge::MergeOptions options;
    options.order = merge::ParentOrder::kSorted;
    options.winner = theirs_later ? merge::Winner::kTheirs : merge::Winner::kOurs;
    merge::MergeOutcome merged = merge::MergeCommits(repo, master, theirs, options);
    for (const merge::Conflict& c : merged.resolved) {
      out.conflicts.push_back(merge::ConflictLine(c, options.winner));
    }
    master = merged.commit;
  }
  out.commit = master;
  return out;
}

}  // namespace xgdb::replica
