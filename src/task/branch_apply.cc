#include "task/branch_apply.h"

#include <git2.h>

#include <algorithm>
#include <mutex>

#include "merge/tree_merge.h"
#include "store/git_ptr.h"
#include "store/image_loader.h"
#include "store/layout.h"

namespace xgdb::task {

using namespace store;

namespace {

// What a column holds when nothing else says: the value a fresh load gives.
std::string EmptyValue(const Table& table, const Column& c) {
  if (!table.persistent || !c.persistent) return c.empty;
  if (c.type != ColumnType::kString) return "()";
  return c.default_value.value_or("");
}

// Every column of a row of `image`, in column order; empty when absent.
std::vector<std::string> ImageRow(const Database& image, const Table& table,
                                  const std::string& ref) {
  auto owner = image.GetTableFromRef(ref);
  if (!owner || *owner != table.name) return {};
  Record record = image.ReadRecord(table.name, ref);
  std::map<std::string, std::string> by_name(record.fields.begin(), record.fields.end());
  std::vector<std::string> values;
  values.reserve(table.columns.size());
  for (const Column& c : table.columns) {
    auto it = by_name.find(c.name);
    values.push_back(it != by_name.end() ? it->second : EmptyValue(table, c));
  }
  return values;
}

const RowDelta* Find(const RowMap& map, const RowKey& key) {
  auto it = map.find(key);
  return it == map.end() ? nullptr : it->second;
}

// The task changed column i: it differs between the task's begin and now.
bool TaskChanged(const RowDelta* now, const RowDelta* before, size_t i) {
  if (now == nullptr) return false;
  bool had = before != nullptr && before->exists && i < before->values.size();
  bool has = now->exists && i < now->values.size();
  if (had != has) return has;
  return has && now->values[i] != before->values[i];
}

CommitPtr LookupCommit(git_repository* repo, const std::string& hex) {
  git_oid id;
  if (git_oid_fromstr(&id, hex.c_str()) != 0) {
    throw Error(ErrorKind::kInvalidArgument, "not a commit id: '" + hex + "'");
  }
  git_commit* raw = nullptr;
  Check(git_commit_lookup(&raw, repo, &id), "reading commit " + hex);
  return CommitPtr(raw);
}

TreePtr CommitTree(git_repository* repo, const std::string& hex) {
  CommitPtr c = LookupCommit(repo, hex);
  git_tree* raw = nullptr;
  Check(git_commit_tree(&raw, c.get()), "reading the tree of " + hex);
  return TreePtr(raw);
}

}  // namespace

std::vector<RowDelta> RowsAt(Store& store, const std::string& commit, const Database& image,
                             const std::vector<RowKey>& keys, const TaskRows* task) {
  std::vector<RowDelta> out;
  store.WithRepository([&](git_repository* repo) {
    TreePtr root = CommitTree(repo, commit);
    for (const RowKey& key : keys) {
      const Table* table = image.schema().FindTable(key.first);
      if (table == nullptr) {
        throw Error(ErrorKind::kInvalidArgument, "unknown table " + key.first);
      }
      const RowDelta* now = task ? Find(task->now, key) : nullptr;
      const RowDelta* before = task ? Find(task->before, key) : nullptr;
      RowDelta d;
      d.table = table;
      d.ref = key.second;

      // Stored columns: from git, or from the task when the merge took its
      // row whole (no tree to read back). A row of a non-persistent table
      // lives only in images: the task's word on it is final.
      std::vector<std::pair<const Column*, std::string>> stored;
      bool exists;
      std::string path = RowDir(table->name, key.second);
      if (table->persistent && now != nullptr && task->merged.count(key) == 0) {
        exists = now->exists;
        if (exists) {
          for (const Column& c : table->columns) {
            if (table->Stored(c)) stored.emplace_back(&c, now->values[size_t(c.index)]);
          }
        }
      } else if (table->persistent) {
        git_tree_entry* raw = nullptr;
        int rc = git_tree_entry_bypath(&raw, root.get(), path.c_str());
        if (rc != GIT_ENOTFOUND) Check(rc, "looking up " + path);
        TreeEntryPtr entry(raw);
        exists = entry != nullptr;
        if (exists) {
          RowContents row = ReadRow(repo, *table, *git_tree_entry_id(entry.get()),
                                    git_tree_entry_name(entry.get()), path);
          stored = std::move(row.columns);
        }
      } else {
        exists = now != nullptr ? now->exists : image.GetTableFromRef(key.second).has_value();
      }
      d.exists = exists;
      if (exists) {
        std::vector<std::string> current = ImageRow(image, *table, key.second);
        d.in_base = !current.empty();
        if (current.empty() && now != nullptr && now->exists) current = now->values;
        d.values.resize(table->columns.size());
        for (const Column& c : table->columns) {
          size_t i = static_cast<size_t>(c.index);
          if (TaskChanged(now, before, i)) {
            d.values[i] = now->values[i];
          } else if (i < current.size()) {
            d.values[i] = current[i];
          } else {
            d.values[i] = EmptyValue(*table, c);
          }
        }
        if (table->persistent) {
          std::vector<bool> present(table->columns.size(), false);
          for (auto& [col, value] : stored) {
            d.values[col->index] = std::move(value);
            present[col->index] = true;
          }
          for (const Column& c : table->columns) {
            if (table->Stored(c) && !present[c.index]) {
              d.values[c.index] = MissingColumnValue(*table, c, path);
            }
          }
        }
      }
      out.push_back(std::move(d));
    }
  });
  return out;
}

void MoveBranchAndApply(Store& store, const std::string& ref, const std::string& from,
                        const std::string& to, Database& image,
                        const std::vector<RowDelta>& rows, const std::string& log_message,
                        const std::function<void()>& after_move) {
  if (!rows.empty()) image.CheckRows(rows);  // refuses before anything moves
  if (to != from) store.MoveRef(ref, to, from, log_message);
  if (after_move) after_move();
  if (!rows.empty()) image.ApplyRows(rows);
}

std::unique_ptr<Database> ImageAt(Store& store, const std::string& commit) {
  // Named members, not a structured binding: clang 14 (the fuzz build) can
  // neither capture nor implicitly move a binding.
  std::pair<std::string, std::unique_ptr<Database>> master = store.CloneMaster();
  const std::string& head = master.first;
  std::unique_ptr<Database>& image = master.second;
  if (commit == head) return std::move(image);
  bool same_schema = false;
  store.WithRepository([&](git_repository* repo) {
    TreePtr a = CommitTree(repo, head), b = CommitTree(repo, commit);
    const git_tree_entry* ma = git_tree_entry_byname(a.get(), "meta");
    const git_tree_entry* mb = git_tree_entry_byname(b.get(), "meta");
    same_schema = ma && mb && git_oid_equal(git_tree_entry_id(ma), git_tree_entry_id(mb));
  });
  if (!same_schema) return store.LoadAt(commit);  // another schema or format
  std::vector<RowKey> keys;
  for (const FieldChange& c : store.Diff(head, commit)) keys.push_back({c.table, c.ref});
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  if (keys.size() > image->TotalRows() / 4) return store.LoadAt(commit);
  image->ApplyRows(RowsAt(store, commit, *image, keys, nullptr));
  return std::move(image);
}

std::string RevertCommit(Store& store, const std::string& rev) {
  std::string target = store.Resolve(rev);
  CommitInfo info = store.GetCommit(target);
  if (info.parents.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "cannot revert " + target + ": it has no parent");
  }
  // master's pending writes are "later work" too: UpdateMaster commits them
  // before the plan runs.
  std::string reverted;
  store.UpdateMaster([&](const std::string& ours) {
    std::string merged_tree;
    bool unchanged = false;
    store.WithRepository([&](git_repository* repo) {
      TreePtr base = CommitTree(repo, target);
      TreePtr theirs = CommitTree(repo, info.parents[0]);
      TreePtr mine = CommitTree(repo, ours);
      merge::TreeMergeResult r = merge::MergeTrees(repo, *git_tree_id(base.get()),
                                                   *git_tree_id(mine.get()),
                                                   *git_tree_id(theirs.get()));
      if (!r.conflicts.empty()) {
        Error e = merge::ConflictError(r.conflicts);
        throw Error(e.kind(),
                    "revert of " + target + " conflicts with later changes: " + e.what(),
                    e.args());
      }
      unchanged = git_oid_equal(&r.tree, git_tree_id(mine.get()));
      merged_tree = OidHex(r.tree);
    });
    Store::MasterMove move;
    if (unchanged) return move;
    std::string first = info.message.substr(0, info.message.find('\n'));
    std::string message = "Revert \"" + first + "\"\n\nThis reverts commit " + target +
                          ".\n\nHost: " + store.HostTag() + "\n";
    move.commit = store.WriteTreeCommit(ours, merged_tree, message);
    std::vector<RowKey> keys;
    for (const FieldChange& c : store.Diff(ours, move.commit)) {
      if (c.table.empty() || c.ref.empty()) continue;
      keys.push_back({c.table, c.ref});
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    move.rows = RowsAt(store, move.commit, store.db(), keys, nullptr);
    move.log_message = "revert: " + target;
    reverted = move.commit;
    return move;
  });
  return reverted;
}

}  // namespace xgdb::task
