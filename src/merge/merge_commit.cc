#include "merge/merge_commit.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "store/git_ptr.h"

namespace xgdb::merge {

using namespace store;

namespace {

git_oid ParseId(const std::string& hex) {
  git_oid id;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&id, hex.c_str()) != 0) {
    throw Error(ErrorKind::kInvalidArgument, "not a commit id: '" + hex + "'");
  }
  return id;
}

CommitPtr Lookup(git_repository* repo, const std::string& hex) {
  git_oid id = ParseId(hex);
  git_commit* raw = nullptr;
  Check(git_commit_lookup(&raw, repo, &id), "reading commit " + hex, ErrorKind::kCorrupt);
  return CommitPtr(raw);
}

}  // namespace

std::string CreateMergeCommit(git_repository* repo, const git_oid& tree, const std::string& ours,
                              const std::string& theirs, ParentOrder order,
                              const std::string& host, const std::string& notes) {
  std::string first = ours, second = theirs;
  if (order == ParentOrder::kSorted && second < first) std::swap(first, second);
  CommitPtr a = Lookup(repo, first), b = Lookup(repo, second);
  git_time_t when = std::max(git_commit_time(a.get()), git_commit_time(b.get()));

  git_tree* raw_tree = nullptr;
  Check(git_tree_lookup(&raw_tree, repo, &tree), "reading merged tree " + OidHex(tree),
        ErrorKind::kCorrupt);
  TreePtr t(raw_tree);
  git_signature* raw_sig = nullptr;
  Check(git_signature_new(&raw_sig, kMergeAuthorName, kMergeAuthorEmail, when, 0),
        "making the merge signature");
  SignaturePtr sig(raw_sig);

  std::string message = order == ParentOrder::kOursFirst
                            ? "Merge " + theirs + " into " + ours + "\n"
                            : "Merge " + first + " and " + second + "\n";
  if (!notes.empty()) message += "\n" + notes;
  message += "\nTree: " + OidHex(tree) + "\n";
  if (!host.empty()) message += "Host: " + host + "\n";

  const git_commit* parents[2] = {a.get(), b.get()};
  git_oid id;
  Check(git_commit_create(&id, repo, nullptr, sig.get(), sig.get(), nullptr, message.c_str(),
                          t.get(), 2, parents),
        "writing a merge commit");
  return OidHex(id);
}

std::string HostTrailer(const std::string& message) {
  std::istringstream in(message);
  std::string found;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Host: ", 0) == 0) found = line.substr(6);
  }
  return found;
}

std::string LockTokenTrailer(const std::string& name, uint64_t token) {
  return "Lock-Token: " + std::to_string(token) + " " + name + "\n";
}

std::map<std::string, uint64_t> LockTokenTrailers(const std::string& message) {
  std::map<std::string, uint64_t> tokens;
  std::istringstream in(message);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Lock-Token: ", 0) != 0) continue;
    size_t space = line.find(' ', 12);
    if (space == std::string::npos || space == 12 || space + 1 == line.size()) continue;
    uint64_t token = 0;
    const char* first = line.data() + 12;
    auto [end, ec] = std::from_chars(first, line.data() + space, token);
    if (ec != std::errc() || end != line.data() + space) continue;  // not one of ours
    uint64_t& newest = tokens[line.substr(space + 1)];
    newest = std::max(newest, token);
  }
  return tokens;
}

}  // namespace xgdb::merge
