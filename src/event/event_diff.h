// Changes between two commits, per object, as events need them: each
// created, deleted or modified row once, plus the rows whose derived
// one-to-many Set side changed (a VBD created, deleted or moved makes its
// old and new VM "mod"), which git does not store (docs/format.md, "What is
// stored"). Built on Store::Diff, a Merkle walk that skips equal subtree
// ids, so the cost follows the number of changed objects, not the size of
// the database.
#ifndef XGDB_EVENT_EVENT_DIFF_H_
#define XGDB_EVENT_EVENT_DIFF_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "xgdb/schema.h"
#include "xgdb/store.h"

namespace xgdb::event {

enum class GitOp {
  kAdd,      // absent in `from`, present in `to`
  kMod,      // present in both, a stored field differs
  kDel,      // present in `from`, absent in `to`
  kInduced,  // only its derived Set side changed (a one-to-many Ref points
             // or pointed at it): a "mod" if it still exists
};

struct GitChange {
  const Table* table = nullptr;  // a table of the schema given to DiffCommits
  std::string ref;
  GitOp op = GitOp::kMod;
};

// Reads single fields of any commit through its own libgit2 handle, so it
// neither waits for nor disturbs the store's. Thread-safe.
class CommitReader {
 public:
  explicit CommitReader(const std::string& repo_path);
  ~CommitReader();
  CommitReader(const CommitReader&) = delete;
  CommitReader& operator=(const CommitReader&) = delete;

  // The stored text of a String column of a row at `commit`; nullopt when
  // the row or the field is absent there.
  std::optional<std::string> ReadString(const std::string& commit, const std::string& table,
                                        const std::string& ref, const std::string& column);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The per-object changes from `from` to `to` (commit ids), ordered by
// (table, ref). Rows of tables unknown to `schema` throw Error(kCorrupt).
std::vector<GitChange> DiffCommits(const Store& store, CommitReader& reader,
                                   const Schema& schema, const std::string& from,
                                   const std::string& to);

}  // namespace xgdb::event

#endif  // XGDB_EVENT_EVENT_DIFF_H_
