// Branches beside master (task branches, reverts; docs/tasks.md): running
// code on the repository under the store's git lock, moving and listing
// refs, and writing a commit of whole rows on any parent. Nothing here
// touches the image or master's pending changes: the caller (src/task/)
// decides what a branch means.
#include <algorithm>

#include "store/layout.h"
#include "store/store_impl.h"
#include "store/tree_update.h"
#include "store/tree_writer.h"

namespace xgdb {

using namespace store;

namespace {

git_oid ParseCommitId(const std::string& hex, const std::string& what) {
  git_oid id;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&id, hex.c_str()) != 0) {
    throw Error(ErrorKind::kInvalidArgument, what + ": not a commit id: '" + hex + "'");
  }
  return id;
}

// A commit of `tree` on the single parent `parent`, authored by this host.
// Its bytes go to the sink like every other object (git_commit_create
// would go through git_odb_write and re-scan objects/pack: object_sink.h).
std::string CommitOnto(git_repository* repo, ObjectSink& sink, const git_commit* parent,
                       const git_tree* tree, const git_signature* sig,
                       const std::string& message) {
  const git_commit* parents[1] = {parent};
  git_buf buf = GIT_BUF_INIT;
  Check(git_commit_create_buffer(&buf, repo, sig, sig, nullptr, message.c_str(), tree, 1,
                                 parents),
        "writing a commit");
  git_oid id;
  try {
    id = sink.Put(GIT_OBJECT_COMMIT, std::string_view(buf.ptr, buf.size));
  } catch (...) {
    git_buf_dispose(&buf);
    throw;
  }
  git_buf_dispose(&buf);
  return OidHex(id);
}

}  // namespace

void Store::RequireWritable() const {
  if (impl_->options.read_only) {
    throw Error(ErrorKind::kInvalidArgument,
                "repository " + impl_->options.path + " was opened read-only");
  }
}

void Store::WithRepository(const std::function<void(git_repository* repo)>& fn) {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  try {
    fn(impl_->repo.get());
    impl_->sink->WritePack(impl_->options.fsync);
  } catch (...) {
    impl_->sink->Discard();
    throw;
  }
}

std::string Store::RefTarget(const std::string& ref) const {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_oid id;
  int rc = git_reference_name_to_id(&id, impl_->repo.get(), ref.c_str());
  if (rc == GIT_ENOTFOUND) return "";
  Check(rc, "reading " + ref);
  return OidHex(id);
}

void Store::MoveRef(const std::string& ref, const std::string& id, const std::string& expected,
                    const std::string& log_message) {
  if (ref == kMasterRef || ref == impl_->host_ref) {
    throw Error(ErrorKind::kInvalidArgument, ref + " moves only through Store::UpdateMaster");
  }
  RequireWritable();
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_repository* repo = impl_->repo.get();
  git_oid target = ParseCommitId(id, "moving " + ref);
  git_oid current;
  int rc = git_reference_name_to_id(&current, repo, ref.c_str());
  if (rc != 0 && rc != GIT_ENOTFOUND) Check(rc, "reading " + ref);
  std::string now = rc == GIT_ENOTFOUND ? "" : OidHex(current);
  if (now != expected) {
    throw Error(ErrorKind::kConflict,
                ref + " moved meanwhile (it is at " + (now.empty() ? "nothing" : now) +
                    ", expected " + (expected.empty() ? "nothing" : expected) + ")",
                {ref});
  }
  WriteRef(*impl_->env, impl_->options.path, ref, expected.empty() ? nullptr : &current, target,
           impl_->Author(), log_message, impl_->options.fsync);
}

void Store::DeleteRef(const std::string& ref) {
  if (ref == kMasterRef || ref == impl_->host_ref) {
    throw Error(ErrorKind::kInvalidArgument, ref + " is never deleted");
  }
  RequireWritable();
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  store::DeleteRef(*impl_->env, impl_->options.path, ref, impl_->options.fsync);
}

std::vector<std::string> Store::AddObjects(const std::vector<RawObject>& objects) {
  RequireWritable();
  std::vector<std::string> ids;
  WithRepository([&](git_repository*) {
    for (const RawObject& o : objects) {
      ids.push_back(OidHex(impl_->sink->Put(static_cast<git_object_t>(o.type), o.data)));
    }
  });
  if (impl_->repacker) impl_->repacker->Poke();
  impl_->WaitForRepacker();
  return ids;
}

std::vector<std::string> Store::ListRefs(const std::string& prefix) const {
  std::lock_guard<std::mutex> lock(impl_->git_mu);
  git_reference_iterator* raw = nullptr;
  std::string glob = prefix + "*";
  Check(git_reference_iterator_glob_new(&raw, impl_->repo.get(), glob.c_str()),
        "listing " + prefix);
  std::vector<std::string> out;
  const char* name = nullptr;
  while (git_reference_next_name(&name, raw) == 0) out.push_back(name);
  git_reference_iterator_free(raw);
  std::sort(out.begin(), out.end());
  return out;
}

std::string Store::WriteRowsCommit(const std::string& parent, const std::vector<RowDelta>& rows,
                                   const std::string& message) {
  std::string out;
  WithRepository([&](git_repository* repo) {
    git_oid parent_id = ParseCommitId(parent, "writing a branch commit");
    git_commit* raw_commit = nullptr;
    Check(git_commit_lookup(&raw_commit, repo, &parent_id), "reading commit " + parent);
    CommitPtr commit(raw_commit);
    git_tree* raw_tree = nullptr;
    Check(git_commit_tree(&raw_tree, commit.get()), "reading the tree of " + parent);
    TreePtr root(raw_tree);

    // Each changed row's directory is rebuilt and spliced in by UpdateTree
    // (through the sink: untouched subtrees are reused by id, each touched
    // tree is read once and written once, whatever the number of rows in it).
    std::vector<PathUpdate> updates;
    updates.reserve(rows.size());
    for (const RowDelta& row : rows) {
      if (row.table == nullptr || !row.table->persistent) continue;
      PathUpdate u;
      u.path = RowDir(row.table->name, row.ref);
      if (row.exists) {
        FieldList stored;  // WriteRowTree skips the columns that are not stored
        for (const Column& c : row.table->columns) {
          if (row.table->Stored(c) && static_cast<size_t>(c.index) < row.values.size()) {
            stored.emplace_back(c.name, row.values[c.index]);
          }
        }
        u.id = WriteRowTree(*impl_->sink, *row.table, stored);
        u.mode = GIT_FILEMODE_TREE;
      } else {
        u.remove = true;  // nothing happens if it was never committed on this branch
      }
      updates.push_back(std::move(u));
    }
    git_oid new_root = UpdateTree(repo, *impl_->sink, *git_tree_id(root.get()), updates);
    if (git_oid_equal(&new_root, git_tree_id(root.get()))) {
      out = parent;  // nothing stored changed: no empty commit
      return;
    }
    git_tree* raw_new = nullptr;
    Check(git_tree_lookup(&raw_new, repo, &new_root), "reading the new tree");
    TreePtr tree(raw_new);
    out = CommitOnto(repo, *impl_->sink, commit.get(), tree.get(), impl_->Signature().get(),
                     message);
  });
  return out;
}

std::string Store::WriteTreeCommit(const std::string& parent, const std::string& tree,
                                   const std::string& message) {
  std::string out;
  WithRepository([&](git_repository* repo) {
    git_oid parent_id = ParseCommitId(parent, "writing a commit");
    git_oid tree_id;
    if (tree.size() != GIT_OID_HEXSZ || git_oid_fromstr(&tree_id, tree.c_str()) != 0) {
      throw Error(ErrorKind::kInvalidArgument, "not a tree id: '" + tree + "'");
    }
    git_commit* raw_commit = nullptr;
    Check(git_commit_lookup(&raw_commit, repo, &parent_id), "reading commit " + parent);
    CommitPtr commit(raw_commit);
    git_tree* raw_tree = nullptr;
    Check(git_tree_lookup(&raw_tree, repo, &tree_id), "reading tree " + tree);
    TreePtr t(raw_tree);
    out = CommitOnto(repo, *impl_->sink, commit.get(), t.get(), impl_->Signature().get(),
                     message);
  });
  return out;
}

std::string Store::HostTag() const { return impl_->host_tag; }

const std::string& Store::HostRef() const { return impl_->host_ref; }

}  // namespace xgdb
