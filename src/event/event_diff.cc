#include "event/event_diff.h"

#include <map>

#include "store/git_ptr.h"
#include "store/layout.h"
#include "store/name_codec.h"
#include "xgdb/error.h"

namespace xgdb::event {

using store::BlobPtr;
using store::CommitPtr;
using store::RepoPtr;
using store::TreeEntryPtr;
using store::TreePtr;

struct CommitReader::Impl {
  std::mutex mu;  // libgit2 handles belong to one thread at a time
  RepoPtr repo;
  // The trees of the last few commits read: a diff reads from its two ends
  // alternately.
  std::map<std::string, TreePtr> trees;

  git_tree* TreeOf(const std::string& commit) {
    auto it = trees.find(commit);
    if (it != trees.end()) return it->second.get();
    git_oid id;
    if (git_oid_fromstr(&id, commit.c_str()) != 0) {
      throw Error(ErrorKind::kInvalidArgument, "not a commit id: " + commit);
    }
    git_commit* c = nullptr;
    if (git_commit_lookup(&c, repo.get(), &id) != 0) {
      throw Error(ErrorKind::kIo, "cannot read commit " + commit);
    }
    CommitPtr owned(c);
    git_tree* t = nullptr;
    if (git_commit_tree(&t, c) != 0) throw Error(ErrorKind::kIo, "cannot read tree of " + commit);
    if (trees.size() >= 4) trees.clear();
    return trees.emplace(commit, TreePtr(t)).first->second.get();
  }
};

CommitReader::CommitReader(const std::string& repo_path) : impl_(std::make_unique<Impl>()) {
  git_libgit2_init();
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, repo_path.c_str()) != 0) {
    git_libgit2_shutdown();
    throw Error(ErrorKind::kIo, "cannot open repository " + repo_path + " for events");
  }
  impl_->repo.reset(raw);
}

CommitReader::~CommitReader() {
  impl_.reset();
  git_libgit2_shutdown();
}

std::optional<std::string> CommitReader::ReadString(const std::string& commit,
                                                    const std::string& table,
                                                    const std::string& ref,
                                                    const std::string& column) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  git_repository* repo = impl_->repo.get();
  git_tree* tree = impl_->TreeOf(commit);
  std::string path = store::RowDir(table, ref) + "/" + store::EncodeName(column);
  git_tree_entry* e = nullptr;
  if (git_tree_entry_bypath(&e, tree, path.c_str()) != 0) return std::nullopt;
  TreeEntryPtr entry(e);
  if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) return std::nullopt;
  git_blob* b = nullptr;
  if (git_blob_lookup(&b, repo, git_tree_entry_id(e)) != 0) {
    throw Error(ErrorKind::kIo, "cannot read " + path + " at " + commit);
  }
  BlobPtr blob(b);
  return std::string(static_cast<const char*>(git_blob_rawcontent(b)),
                     static_cast<size_t>(git_blob_rawsize(b)));
}

namespace {

bool IsRef(const std::string& v) { return !v.empty() && v != "OpaqueRef:NULL"; }

}  // namespace

std::vector<GitChange> DiffCommits(const Store& store, CommitReader& reader,
                                   const Schema& schema, const std::string& from,
                                   const std::string& to) {
  std::map<std::pair<std::string, std::string>, GitChange> out;
  auto put = [&](const Table* table, const std::string& ref, GitOp op) {
    auto [it, fresh] = out.try_emplace({table->name, ref}, GitChange{table, ref, op});
    // A row's own add/mod/del wins over a mod induced by another row.
    if (!fresh && it->second.op == GitOp::kInduced) it->second.op = op;
  };
  auto induce = [&](const Column& col, const std::string& target) {
    if (!IsRef(target)) return;
    const Table* other = schema.FindTable(col.other_table);
    if (other != nullptr) out.try_emplace({other->name, target}, GitChange{other, target, GitOp::kInduced});
  };
  if (from == to) return {};
  for (const FieldChange& c : store.Diff(from, to)) {
    const Table* table = schema.FindTable(c.table);
    if (table == nullptr) throw Error(ErrorKind::kCorrupt, "diff names unknown table " + c.table);
    switch (c.kind) {
      case FieldChange::Kind::kRowAdded:
      case FieldChange::Kind::kRowRemoved: {
        bool added = c.kind == FieldChange::Kind::kRowAdded;
        put(table, c.ref, added ? GitOp::kAdd : GitOp::kDel);
        // The row's Ref fields are not in the diff: read them where the row
        // exists, to tell its targets their Set side changed.
        for (const Column& col : table->columns) {
          if (col.relation != RelationSide::kOneToManyRef) continue;
          auto v = reader.ReadString(added ? to : from, table->name, c.ref, col.name);
          if (v) induce(col, *v);
        }
        break;
      }
      default: {
        put(table, c.ref, GitOp::kMod);
        const Column* col = table->FindColumn(c.field);
        if (col != nullptr && col->relation == RelationSide::kOneToManyRef) {
          induce(*col, c.old_value);
          induce(*col, c.new_value);
        }
      }
    }
  }
  std::vector<GitChange> result;
  result.reserve(out.size());
  for (auto& [key, change] : out) result.push_back(std::move(change));
  return result;
}

}  // namespace xgdb::event
