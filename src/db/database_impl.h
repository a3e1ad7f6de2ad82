// Private state of xgdb::Database: rows, indexes and pending changes. Split
// across database.cc (reads), database_write.cc (writes and relations),
// database_load.cc (loading, iteration, change tracking) and filter.cc.
#ifndef XGDB_DB_DATABASE_IMPL_H_
#define XGDB_DB_DATABASE_IMPL_H_

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "db/persistent_map.h"
#include "xgdb/database.h"
#include "xgdb/error.h"

namespace xgdb {
namespace db {

// A row's stored text, indexed by Column::index.
using Values = std::vector<std::string>;
// Rows are shared between cloned images and copied on write (a row is
// changed in place only when one image holds it: see MutableRow).
using RowPtr = CowPtr<Values>;

// Every container is a PersistentMap, so copying a TableData (cloning an
// image) is O(1) and the copies share all nodes and rows until written.
struct TableData {
  const Table* table = nullptr;
  int index = 0;
  PersistentMap<std::string, RowPtr> rows;  // by ref, ascending
  // (name__label, ref) for each row, when the table has the column: the
  // refs with one label are a contiguous ascending range.
  PersistentMap<std::pair<std::string, std::string>, char> by_name_label;
  // Set/Map cells whose text is not canonical (create_row keeps what it was
  // sent); key: ref + '\0' + column index. Filters must canonicalise these.
  PersistentMap<std::string, char> noncanonical;
  int uuid_col = -1, name_col = -1, ref_col = -1;
  std::vector<int> desc_order;  // column indices by descending name
};

inline std::string CellKey(const std::string& ref, int col) {
  std::string k = ref;
  k.push_back('\0');
  k += std::to_string(col);
  return k;
}

}  // namespace db

struct Database::Impl {
  explicit Impl(const Schema& schema);

  const Schema& schema;
  mutable std::shared_mutex mu;
  std::string writes_refused;  // RefuseWrites(); not copied by Clone()
  void CheckWritable() const;  // Error(kIo, writes_refused) when set
  std::vector<db::TableData> tables;               // schema order
  db::PersistentMap<std::string, int> ref_table;   // ref -> table index
  db::PersistentMap<std::string, std::pair<int, std::string>> uuid_index;

  // Change tracking.
  uint64_t sequence = 0;
  std::map<std::pair<int, std::string>, bool> changed;  // (table, ref) -> replaced
  std::vector<std::string> summary;
  size_t summary_dropped = 0;
  std::function<void(uint64_t)> listener;
  bool op_changed = false;  // the current write call changed something

  // Rows given by LoadRow whose columns were not all present.
  std::unordered_map<std::string, std::vector<bool>> load_present;

  // ---- lookups (database.cc) ----
  db::TableData& GetTable(const std::string& name);  // throws missing table
  const db::TableData& GetTable(const std::string& name) const;
  static const db::Values* FindRow(const db::TableData& t, const std::string& ref);
  // The row for writing: path-copied and copied on write so this image owns
  // it. nullptr when absent. Valid until the table's next insert or erase.
  static db::Values* MutableRow(db::TableData& t, const std::string& ref);
  // Name-label index upkeep.
  static void AddLabel(db::TableData& t, const std::string& label, const std::string& ref);
  static void DropLabel(db::TableData& t, const std::string& label, const std::string& ref);
  // The value of a cell as filters see it: canonical text for Set/Map.
  std::string CanonicalCell(const db::TableData& t, const std::string& ref,
                            const db::Values& row, int col) const;
  Record MakeRecord(const db::TableData& t, const db::Values& row) const;
  std::vector<std::string> FieldWhere(const db::TableData& t, const std::string& ret,
                                      const std::string& where_field,
                                      const std::string& where_value) const;

  // ---- filters (filter.cc) ----
  bool Eval(const FilterExpr& e, const db::TableData& t, const std::string& ref,
            const db::Values& row) const;
  std::vector<std::string> FilterRefs(const db::TableData& t, const FilterExpr& e) const;

  // ---- mutation primitives (database_write.cc); none of these throw ----
  // Sets one cell of the row `ref` (present) with index upkeep.
  void SetCell(db::TableData& t, const std::string& ref, int col, std::string text,
               bool canonical);
  // Adds or removes `ref` in the Set column at the other end of relation
  // column `c`, on the row `target` (ignored when unknown).
  void Link(const Column& c, const std::string& target, const std::string& ref, bool add);
  // Throws ("missing row", other_table, target) when `target` is a row of
  // another table than the relation's other end.
  void CheckTarget(const Column& c, const std::string& target) const;
  // Refs a relation-driving cell points at (one-to-many Ref, many-to-many
  // primary); empty for other columns.
  static std::vector<std::string> Targets(const Column& c, const std::string& text);
  // write_field from step 7 on: `text` is canonical and differs from the cell.
  void WriteChecked(db::TableData& t, const std::string& ref, const db::Values& row,
                    const Column& c, std::string text);
  // Inserts a new row (all cells given) with its ref, uuid, name and
  // canonical-text upkeep; no relation upkeep, no change recorded.
  void InsertRow(db::TableData& t, const std::string& ref, db::Values cells);
  // Erases row `ref` (present) from the table and every index; no relation
  // upkeep, no change recorded.
  void EraseRow(db::TableData& t, const std::string& ref);

  // ---- row batches (database_clone.cc) ----
  // ApplyRows' checks; throws what it throws, changes nothing.
  struct CheckedRows {
    std::vector<const db::TableData*> tables;                // each row's table
    std::unordered_map<std::string, const RowDelta*> batch;  // ref -> its row
    std::vector<std::vector<bool>> canonical;  // per row and column: text is canonical
  };
  CheckedRows CheckRows(const std::vector<RowDelta>& rows) const;

  // ---- change tracking (database_load.cc) ----
  void Touch(const db::TableData& t, const std::string& ref, const Column* c,
             bool row_deleted = false);
  void EndOp(std::string summary_line);
  void AddSummary(std::string line);  // one more line, within the cap
};

}  // namespace xgdb

#endif  // XGDB_DB_DATABASE_IMPL_H_
