// The xapi database schema, loaded from data.
//
// Nothing about xapi's classes is hard-coded: tables, columns, types,
// persistence, defaults and relations all come from a JSON file in the shape
// of ../shared/spec/schema/xapi-schema.json (also the small shape of the
// protocol vectors' fixture-schema.json). Two schemas ship inside the binary
// (xapi 5.909, the newest, and 5.82 for the 2014 fixture); a repository
// carries the schema it was created with (meta/schema.json, docs/format.md).
#ifndef XGDB_SCHEMA_H_
#define XGDB_SCHEMA_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace xgdb {

enum class ColumnType { kString, kSet, kMap };

// How a column takes part in a relation (xapi-data-model.md 4.4).
enum class RelationSide {
  kNone,
  kOneToManyRef,  // A.a: a single Ref, stored, authoritative (e.g. VBD.VM)
  kOneToManySet,  // B.b: Set(Ref), derived from the Ref side (e.g. VM.VBDs)
  kManyToManyPrimary,  // both ends stored; this end drives the mirror
  kManyToManyMirror,
};

struct Column {
  std::string name;       // escaped DB name, e.g. "name__label"
  ColumnType type = ColumnType::kString;
  bool persistent = true;
  std::string empty;      // value a non-persistent column is reset to
  std::optional<std::string> default_value;  // none: create_row must supply it
  bool issetref = false;  // Set(Ref _): reported again in read_record's set-refs
  RelationSide relation = RelationSide::kNone;
  std::string other_table;  // for relations: the table at the other end
  std::string other_field;  // ... and its column
  int index = 0;            // position in Table::columns
  // lifecycle "Removed": still a column (re-added with its default), but its
  // values are skipped when a state.db is read (xapi-data-model.md 4.7).
  bool removed = false;
};

struct Table {
  std::string name;
  bool persistent = true;  // false: rows live in memory only (task, session...)
  bool gen_events = true;
  std::vector<Column> columns;
  int index = 0;           // position in Schema::tables()

  // nullptr when the table has no such column.
  const Column* FindColumn(std::string_view name) const;
  // True when the column is written to git: persistent table, persistent
  // column, and not the derived side of a one-to-many relation.
  bool Stored(const Column& c) const;

 private:
  friend class Schema;
  std::unordered_map<std::string, int> by_name_;
};

class Schema {
 public:
  // Parses schema JSON text. Throws Error(kInvalidArgument) naming the problem.
  static std::shared_ptr<const Schema> FromJson(const std::string& json_text);
  // Reads and parses a file.
  static std::shared_ptr<const Schema> LoadFile(const std::string& path);
  // A schema shipped inside the binary, by version ("5.909", "5.82"), or
  // nullptr when none matches.
  static std::shared_ptr<const Schema> Builtin(int major, int minor);
  // The newest shipped schema.
  static std::shared_ptr<const Schema> Newest();
  // Versions of the shipped schemas, e.g. {"5.82", "5.909"}.
  static std::vector<std::string> BuiltinVersions();

  int major_version() const { return major_; }
  int minor_version() const { return minor_; }
  // Tables in byte order of their names (the order state.db uses).
  const std::vector<Table>& tables() const { return tables_; }
  const Table* FindTable(std::string_view name) const;
  // The JSON text this schema was parsed from (stored in the repository).
  const std::string& json_text() const { return json_text_; }

 private:
  int major_ = 0, minor_ = 0;
  std::vector<Table> tables_;
  std::unordered_map<std::string, int> by_name_;
  std::string json_text_;
};

}  // namespace xgdb

#endif  // XGDB_SCHEMA_H_
