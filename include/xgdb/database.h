// The in-memory image of one database: every row of every table, with the
// indexes xapi keeps (ref -> table, uuid -> row, name_label, one-to-many
// set-ref sides), and xapi's remote-database operations with exactly the
// semantics of ../shared/spec/remote-db-protocol.md section 4.
//
// Values are "stored text": a String column's string, a Set or Map column's
// S-expression text ("('a' 'b')", "(('k' 'v'))"). The image knows nothing of
// git; the store (store.h) builds it from a commit and commits what changed.
//
// Thread safety: every public method may be called from any thread. Reads
// share a lock and see one consistent state; writes are serialised. Each call
// is atomic: if it throws, nothing changed. Clones have their own lock and
// share only nodes that neither image writes.
//
// Cost: rows and indexes are persistent B+-trees of fan-out 32 (docs/image.md),
// so reading a field, a ref's table or a uuid is a handful of node hops
// (at most 1 + log_8(rows): 4 for 100,000 rows in practice, 7 at worst for a
// million), and Clone() is O(number of tables).
#ifndef XGDB_DATABASE_H_
#define XGDB_DATABASE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "xgdb/schema.h"

namespace xgdb {

using FieldList = std::vector<std::pair<std::string, std::string>>;

// xapi's Db_filter_types.expr.
struct FilterValue {
  bool is_field = false;  // true: Field name; false: Literal text
  std::string text;
};
struct FilterExpr {
  enum class Op { kTrue, kFalse, kNot, kAnd, kOr, kEq } op = Op::kTrue;
  std::vector<FilterExpr> children;  // Not: 1, And/Or: 2
  FilterValue lhs, rhs;              // Eq only
};

// read_record's answer: every field as stored text in descending field-name
// order, and every Set(Ref) column again as a list of refs (same order).
struct Record {
  FieldList fields;
  std::vector<std::pair<std::string, std::vector<std::string>>> set_refs;
};

enum class StructuredOp { kAddSet, kRemoveSet, kAddMap, kRemoveMap, kAddMapLegacy };

// One row that changed since the last TakeChanges(), as it is now. Only rows
// of persistent tables are reported, and only when a stored column changed.
struct RowChange {
  const Table* table = nullptr;
  std::string ref;
  bool exists = false;    // false: the row is gone now
  bool replaced = false;  // the row was deleted (and maybe re-created) since:
                          // drop what the previous commit had before writing
  FieldList stored;       // when exists: every stored column (Table::Stored),
                          // in column order, as stored text
};

struct ChangeBatch {
  uint64_t sequence = 0;           // Sequence() at the time of the batch
  std::vector<RowChange> rows;     // ordered by (table name, ref)
  std::vector<std::string> summary;  // one line per operation, oldest first
                                     // ("write VM OpaqueRef:x name__label")
  size_t summary_dropped = 0;        // lines not kept (a cap bounds memory)
};

// One row that differs between two images (ChangedSince), or one row to
// put into an image (ApplyRows).
struct RowDelta {
  const Table* table = nullptr;
  std::string ref;
  bool in_base = false;  // ChangedSince: the base image has this row
  bool exists = false;   // the row is present now (ApplyRows: keep/put it;
                         // false: delete it)
  std::vector<std::string> values;  // when exists: every column, stored or
                                    // not, in column order, as stored text
};

class Database {
 public:
  explicit Database(std::shared_ptr<const Schema> schema);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const Schema& schema() const { return *schema_; }
  std::shared_ptr<const Schema> schema_ptr() const { return schema_; }

  // ---- xapi's operations (spec 4.4). Errors are xgdb::Error. ----
  std::optional<std::string> GetTableFromRef(const std::string& ref) const;
  bool IsValidRef(const std::string& ref) const;
  std::vector<std::string> ReadRefs(const std::string& table) const;
  std::vector<std::string> FindRefsWithFilter(const std::string& table,
                                              const FilterExpr& expr) const;
  std::vector<std::string> ReadFieldWhere(const std::string& table,
                                          const std::string& return_field,
                                          const std::string& where_field,
                                          const std::string& where_value) const;
  std::string DbGetByUuid(const std::string& table, const std::string& uuid) const;
  std::optional<std::string> DbGetByUuidOpt(const std::string& table,
                                            const std::string& uuid) const;
  std::vector<std::string> DbGetByNameLabel(const std::string& table,
                                            const std::string& label) const;
  void CreateRow(const std::string& table, const FieldList& fields,
                 const std::string& ref);
  void DeleteRow(const std::string& table, const std::string& ref);
  void WriteField(const std::string& table, const std::string& ref,
                  const std::string& field, const std::string& value);
  std::string ReadField(const std::string& table, const std::string& field,
                        const std::string& ref) const;
  Record ReadRecord(const std::string& table, const std::string& ref) const;
  std::vector<std::pair<std::string, Record>> ReadRecordsWhere(
      const std::string& table, const FilterExpr& expr) const;
  void ProcessStructuredField(const std::string& key, const std::string& value,
                              const std::string& table, const std::string& field,
                              const std::string& ref, StructuredOp op);

  // While `reason` is not empty, the four operations above that write
  // (CreateRow, DeleteRow, WriteField, ProcessStructuredField) throw
  // Error(kIo, reason) and change nothing; reads go on. The store sets it
  // while it cannot make writes durable (store.h, "Background errors").
  void RefuseWrites(const std::string& reason);

  // ---- Bulk loading (state.db import, opening a repository). ----
  // Adds a row as loaded from a file: `fields` may be partial; columns left
  // out are filled by FinishLoad(). Checks table/column names (unknown ->
  // Error kInvalidArgument naming them) and duplicate refs. Records no change.
  // Set and Map text is kept as given (it must parse), as create_row keeps it.
  void LoadRow(const std::string& table, const std::string& ref, FieldList fields);
  // Completes a load the way xapi does (xapi-data-model.md 1.6 steps 2-4):
  // missing columns get their default (none -> Error kInvalidArgument),
  // non-persistent columns their `empty` value, the uuid index is built
  // (duplicate -> Error kUniqueness) and one-to-many set sides are rebuilt.
  void FinishLoad();

  // ---- Iteration (export, CLI). ----
  // Calls fn(table, ref, fields in column order) for every row, tables in
  // schema order and refs ascending. Holds the read lock throughout.
  void ForEachRow(const std::function<void(const Table&, const std::string& ref,
                                           const std::vector<std::string>& values)>&
                      fn) const;
  size_t RowCount(const std::string& table) const;
  size_t TotalRows() const;
  // The table and ref owning `uuid`, if any (any table).
  std::optional<std::pair<std::string, std::string>> FindUuid(const std::string& uuid) const;

  // ---- Clones (task branches; docs/image.md). ----
  // An independent image with the same rows, indexes and schema, sharing
  // all of its memory with this one until either is written (copy on write
  // of B+-tree paths and rows). O(number of tables), whatever the number of
  // rows. The clone has no pending changes (TakeChanges() is empty), no
  // change listener, and its Sequence() continues from this image's value.
  // Later writes to either image are invisible to the other. Not to be
  // called between LoadRow() and FinishLoad().
  std::unique_ptr<Database> Clone() const;

  // The rows whose values differ between `base` and this image, ordered by
  // (table in schema order, ref ascending): created (in_base false), deleted
  // (exists false) and modified rows, judged on every column including
  // non-persistent ones. When this image was cloned from `base` (directly or
  // through clones of clones) and `base` has not been written since, the
  // cost is O(changed rows x tree height): untouched tables and subtrees
  // are shared and skipped by pointer. For unrelated images the answer is
  // the same but costs O(rows). `base` must use this image's schema object
  // (else Error kInvalidArgument). Takes both images' read locks.
  std::vector<RowDelta> ChangedSince(const Database& base) const;

  // Puts whole rows into this image as one atomic write (one Sequence()
  // step, one summary line per row "merge <table> <ref>"): each row with
  // `exists` replaces or creates the row with `values` (all columns), each
  // without deletes it if present. `in_base` is ignored; `table` is matched
  // by name. Every index is kept as the xapi operations keep it: ref,
  // uuid (unique across the image after the whole batch, else Error
  // kUniqueness and nothing changes), name__label and relations: a change
  // of a one-to-many Ref or many-to-many primary field updates the other
  // end like write_field does; the derived ends (one-to-many Set sides and
  // many-to-many mirrors) of rows that already exist here are NOT taken
  // from `values` but kept and updated by those links, so links made in
  // this image meanwhile survive. A new row takes its derived ends from
  // `values`. A ref that is a row of another table, a wrong number of
  // values, a target of another table than the relation's, or an unknown
  // table: Error, nothing changes. Changes are recorded for TakeChanges()
  // like ordinary writes.
  void ApplyRows(const std::vector<RowDelta>& rows);
  // Throws exactly what ApplyRows(rows) would throw now, changing nothing:
  // a caller that must act in between (move a branch) checks first, then
  // applies while it keeps the image from other writers.
  void CheckRows(const std::vector<RowDelta>& rows) const;

  // ---- Change tracking for the store's committer. ----
  // Increases by one with every operation that changed something.
  uint64_t Sequence() const;
  // Returns and forgets the changed rows since the last call.
  ChangeBatch TakeChanges();
  // Called (under the write lock, keep it short) after each change.
  void SetChangeListener(std::function<void(uint64_t sequence)> listener);

 private:
  struct Impl;
  std::shared_ptr<const Schema> schema_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xgdb

#endif  // XGDB_DATABASE_H_
