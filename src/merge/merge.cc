#include "merge/merge.h"

#include "store/git_ptr.h"

namespace xgdb::merge {

using namespace store;

namespace {

git_oid CommitId(git_repository* repo, const std::string& hex) {
  git_oid id;
  git_commit* raw = nullptr;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&id, hex.c_str()) != 0 ||
      git_commit_lookup(&raw, repo, &id) != 0) {
    throw Error(ErrorKind::kInvalidArgument, "unknown commit '" + hex + "'");
  }
  git_commit_free(raw);
  return id;
}

git_oid TreeOf(git_repository* repo, const git_oid& commit) {
  git_commit* raw = nullptr;
  Check(git_commit_lookup(&raw, repo, &commit), "reading commit " + OidHex(commit),
        ErrorKind::kCorrupt);
  CommitPtr c(raw);
  return *git_commit_tree_id(c.get());
}

void Add(ReadStats& total, const ReadStats& part) {
  total.trees_read += part.trees_read;
  total.blobs_read += part.blobs_read;
  total.trees_written += part.trees_written;
}

}  // namespace

std::string ConflictLine(const Conflict& c, Winner winner) {
  bool theirs = winner == Winner::kTheirs;
  std::string where = c.table.empty() ? c.field : c.table + " " + c.ref + " " + c.field;
  if (!c.key.empty()) where += " '" + c.key + "'";
  std::string line = "Conflict: " + where + " kept " + (theirs ? c.theirs : c.ours) + " over " +
                     (theirs ? c.ours : c.theirs);
  for (char& ch : line) {
    if (ch == '\n') ch = ' ';  // one line per decision, whatever the values hold
  }
  return line;
}

MergeOutcome MergeCommits(git_repository* repo, const std::string& ours, const std::string& theirs,
                          const MergeOptions& options) {
  git_oid o = CommitId(repo, ours), t = CommitId(repo, theirs), b;
  int rc = git_merge_base(&b, repo, &o, &t);
  if (rc == GIT_ENOTFOUND) {
    throw Error(ErrorKind::kInvalidArgument,
                "commits " + ours + " and " + theirs + " have no common history");
  }
  Check(rc, "finding the merge base of " + ours + " and " + theirs);

  MergeOutcome out;
  out.base = OidHex(b);
  if (git_oid_equal(&b, &t)) {  // theirs is already part of ours
    out.kind = MergeOutcome::Kind::kUpToDate;
    out.commit = ours;
    return out;
  }
  bool ff = git_oid_equal(&b, &o) && options.fast_forward;
  git_oid bt = TreeOf(repo, b), ot = TreeOf(repo, o), tt = TreeOf(repo, t);
  TreeMergeOptions tm;
  tm.collect_theirs_changes = !options.actor.empty();
  tm.winner = options.winner;
  TreeMergeResult merged = MergeTrees(repo, bt, ot, tt, tm);
  out.stats = merged.stats;
  if (!merged.conflicts.empty()) throw ConflictError(merged.conflicts);
  out.both_changed = std::move(merged.both_changed);
  out.resolved = std::move(merged.resolved);

  if (!options.actor.empty()) {
    GitReader reader(repo);
    TreeRowView ours_tree(&reader, ot, merged.schema);
    TreeRowView theirs_tree(&reader, tt, merged.schema);
    TreeRowView base_tree(&reader, bt, merged.schema);
    RowView* ours_view = options.ours_view ? options.ours_view : &ours_tree;
    const OwnershipRules& rules = options.rules ? *options.rules : OwnershipRules::Builtin();
    try {
      CheckOwnership(rules, options.actor, merged.theirs_changed,
                     {ours_view, &theirs_tree, &base_tree});
    } catch (...) {
      Add(out.stats, reader.stats());
      throw;
    }
    Add(out.stats, reader.stats());
    out.theirs_changed = std::move(merged.theirs_changed);
  }

  if (ff) {
    out.kind = MergeOutcome::Kind::kFastForward;
    out.commit = theirs;
    return out;
  }
  out.kind = MergeOutcome::Kind::kMerged;
  std::string notes;
  for (const Conflict& c : out.resolved) notes += ConflictLine(c, options.winner) + "\n";
  out.commit =
      CreateMergeCommit(repo, merged.tree, ours, theirs, options.order, options.actor, notes);
  return out;
}

}  // namespace xgdb::merge
