// The write operations (spec 4.4): create_row, delete_row, write_field and
// process_structured_field, with one-to-many and many-to-many upkeep (4.6).
// Each call checks everything that can fail before it changes anything, so
// a throwing call leaves the image as it was.
#include <algorithm>
#include <mutex>

#include "db/database_impl.h"
#include "db/xml_utf8.h"
#include "schema/sexpr.h"

namespace xgdb {

using db::TableData;
using db::Values;

namespace {

Error MissingRow(const std::string& table, const std::string& ref) {
  return Error::NotFound("missing row", table, ref);
}

// Parses `text` as column `c` wants it (Set/Map S-expression); throws kParse.
void CheckParses(const Column& c, const std::string& text) {
  if (c.type == ColumnType::kSet) sexpr::ParseSet(text);
  if (c.type == ColumnType::kMap) sexpr::ParseMap(text);
}

std::string Canonical(const Column& c, const std::string& text) {
  if (c.type == ColumnType::kString) return text;
  return sexpr::Canonical(text, c.type == ColumnType::kMap);
}

bool IsRelationDriver(const Column& c) {
  return c.relation == RelationSide::kOneToManyRef ||
         c.relation == RelationSide::kManyToManyPrimary;
}

}  // namespace

// ---------------------------------------------------------------------------
// Primitives

void Database::Impl::SetCell(TableData& t, const std::string& ref, int col, std::string text,
                             bool canonical) {
  Values& row = *MutableRow(t, ref);
  if (col == t.name_col && row[col] != text) {
    DropLabel(t, row[col], ref);
    AddLabel(t, text, ref);
  }
  if (t.table->columns[col].type != ColumnType::kString) {
    if (canonical)
      t.noncanonical.Erase(db::CellKey(ref, col));
    else
      t.noncanonical.Set(db::CellKey(ref, col), 1);
  }
  row[col] = std::move(text);
  Touch(t, ref, &t.table->columns[col]);
}

void Database::Impl::InsertRow(TableData& t, const std::string& ref, Values cells) {
  // Canonical() may throw on unparsable text: decide before changing anything.
  std::vector<int> noncanonical;
  for (const Column& c : t.table->columns)
    if (c.type != ColumnType::kString && Canonical(c, cells[c.index]) != cells[c.index])
      noncanonical.push_back(c.index);
  for (int col : noncanonical) t.noncanonical.Set(db::CellKey(ref, col), 1);
  if (t.uuid_col >= 0) uuid_index.Set(cells[t.uuid_col], {t.index, ref});
  if (t.name_col >= 0) AddLabel(t, cells[t.name_col], ref);
  ref_table.Set(ref, t.index);
  t.rows.Set(ref, db::RowPtr::Make(std::move(cells)));
}

void Database::Impl::EraseRow(TableData& t, const std::string& ref) {
  db::RowPtr keep = *t.rows.Find(ref);  // the row outlives its tree slot
  const Values& row = *keep;
  if (t.uuid_col >= 0) {
    const auto* owner = uuid_index.Find(row[t.uuid_col]);
    if (owner && owner->first == t.index && owner->second == ref)
      uuid_index.Erase(row[t.uuid_col]);
  }
  if (t.name_col >= 0) DropLabel(t, row[t.name_col], ref);
  if (!t.noncanonical.empty())
    for (const Column& c : t.table->columns) t.noncanonical.Erase(db::CellKey(ref, c.index));
  ref_table.Erase(ref);
  t.rows.Erase(ref);
}

std::vector<std::string> Database::Impl::Targets(const Column& c, const std::string& text) {
  if (c.relation == RelationSide::kOneToManyRef) return {text};
  if (c.relation == RelationSide::kManyToManyPrimary) return sexpr::ParseSet(text);
  return {};
}

void Database::Impl::CheckTarget(const Column& c, const std::string& target) const {
  const int* index = ref_table.Find(target);
  if (!index) return;  // unknown refs (OpaqueRef:NULL) are ignored
  if (tables[*index].table->name != c.other_table) throw MissingRow(c.other_table, target);
}

void Database::Impl::Link(const Column& c, const std::string& target, const std::string& ref,
                          bool add) {
  const int* index = ref_table.Find(target);
  if (!index) return;
  TableData& other = tables[*index];
  if (other.table->name != c.other_table) return;  // CheckTarget refused it before
  const Column* oc = other.table->FindColumn(c.other_field);
  const Values* row = FindRow(other, target);
  if (!oc || !row) return;
  sexpr::StringSet set = sexpr::ParseSet((*row)[oc->index]);
  bool present = std::find(set.begin(), set.end(), ref) != set.end();
  if (add) {
    if (present) return;
    set.insert(set.begin(), ref);  // a newly linked ref goes to the front
  } else {
    if (!present) return;
    set.erase(std::remove(set.begin(), set.end(), ref), set.end());
  }
  SetCell(other, target, oc->index, sexpr::PrintSet(set), true);
}

void Database::Impl::WriteChecked(TableData& t, const std::string& ref, const Values& row,
                                  const Column& c, std::string text) {
  if (c.name == "_ref")
    throw Error(ErrorKind::kBadRequest, "Cannot safely update field: _ref");
  bool is_uuid = c.index == t.uuid_col;
  if (is_uuid && uuid_index.Contains(text))
    throw Error(ErrorKind::kUniqueness, "uuid " + text + " is already used",
                {t.table->name, "uuid", text});
  std::vector<std::string> old_targets, new_targets;
  if (IsRelationDriver(c)) {
    old_targets = Targets(c, row[c.index]);
    new_targets = Targets(c, text);
    for (const auto& r : old_targets) CheckTarget(c, r);
    for (const auto& r : new_targets) CheckTarget(c, r);
  }
  // Nothing below throws.
  // `row` may be left behind by copy-on-write from here on: read it first.
  if (is_uuid) {
    const auto* owner = uuid_index.Find(row[c.index]);
    if (owner && owner->first == t.index && owner->second == ref)
      uuid_index.Erase(row[c.index]);
    uuid_index.Set(text, {t.index, ref});
  }
  for (const auto& r : old_targets) Link(c, r, ref, false);
  SetCell(t, ref, c.index, std::move(text), true);
  for (const auto& r : new_targets) Link(c, r, ref, true);
}

// ---------------------------------------------------------------------------
// Operations

void Database::Impl::CheckWritable() const {
  if (!writes_refused.empty()) throw Error(ErrorKind::kIo, writes_refused);
}

void Database::RefuseWrites(const std::string& reason) {
  std::unique_lock lock(impl_->mu);
  impl_->writes_refused = reason;
}

void Database::CreateRow(const std::string& table, const FieldList& fields,
                         const std::string& ref) {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  d.CheckWritable();
  TableData& t = d.GetTable(table);
  std::vector<const Column*> cols;
  for (const auto& [name, value] : fields) {
    const Column* c = t.table->FindColumn(name);
    if (!c) throw Error::NotFound("missing column", table, name);
    CheckParses(*c, value);
    cols.push_back(c);
  }

  // Idempotent create: the same ref with the same values is a no-op.
  if (d.ref_table.Contains(ref)) {
    const Values* row = Impl::FindRow(t, ref);
    for (size_t i = 0; i < fields.size(); ++i) {
      if (!row) throw MissingRow(table, ref);
      const std::string& stored = (*row)[cols[i]->index];
      if (stored != fields[i].second)
        throw Error(ErrorKind::kIntegrityViolation,
                    "create_row of existing " + table + " " + ref + " differs in " +
                        fields[i].first,
                    {table, fields[i].first, stored});
    }
    return;
  }

  std::vector<std::optional<std::string>> cells(t.table->columns.size());
  if (t.ref_col >= 0) cells[t.ref_col] = ref;
  for (size_t i = 0; i < fields.size(); ++i) cells[cols[i]->index] = fields[i].second;
  for (const Column& c : t.table->columns) {
    if (cells[c.index]) continue;
    if (!c.default_value)
      throw Error::NotFound("missing default value in datamodel for new field", c.name, "");
    cells[c.index] = *c.default_value;
  }
  if (t.uuid_col >= 0 && d.uuid_index.Contains(*cells[t.uuid_col]))
    throw Error(ErrorKind::kUniqueness, "uuid " + *cells[t.uuid_col] + " is already used",
                {table, "uuid", *cells[t.uuid_col]});
  std::vector<std::pair<const Column*, std::vector<std::string>>> links;
  for (const Column& c : t.table->columns) {
    if (!IsRelationDriver(c)) continue;
    links.emplace_back(&c, Impl::Targets(c, *cells[c.index]));
    for (const auto& r : links.back().second) d.CheckTarget(c, r);
  }

  // Nothing below throws but InsertRow's parse, which changes nothing first.
  Values row(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) row[i] = std::move(*cells[i]);
  d.InsertRow(t, ref, std::move(row));
  d.Touch(t, ref, nullptr);
  for (const auto& [c, targets] : links)
    for (const auto& r : targets) d.Link(*c, r, ref, true);
  d.EndOp("create " + table + " " + ref);
}

void Database::DeleteRow(const std::string& table, const std::string& ref) {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  d.CheckWritable();
  TableData& t = d.GetTable(table);
  const Values* found = Impl::FindRow(t, ref);
  if (!found) throw MissingRow(table, ref);
  const Values& row = *found;
  std::vector<std::pair<const Column*, std::vector<std::string>>> links;
  for (const Column& c : t.table->columns) {
    if (!IsRelationDriver(c)) continue;
    links.emplace_back(&c, Impl::Targets(c, row[c.index]));
    for (const auto& r : links.back().second) d.CheckTarget(c, r);
  }

  // Nothing below throws.
  for (const auto& [c, targets] : links)
    for (const auto& r : targets) d.Link(*c, r, ref, false);
  d.EraseRow(t, ref);
  d.Touch(t, ref, nullptr, /*row_deleted=*/true);
  d.EndOp("delete " + table + " " + ref);
}

void Database::WriteField(const std::string& table, const std::string& ref,
                          const std::string& field, const std::string& value) {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  d.CheckWritable();
  TableData& t = d.GetTable(table);
  const Column* c = t.table->FindColumn(field);
  if (!c) throw Error::NotFound("missing column", table, field);  // before the row
  bool valid = true;
  std::string canonical = value;
  if (c->type == ColumnType::kString) {
    valid = db::IsValidXmlUtf8(value);
  } else if (c->type == ColumnType::kSet) {
    sexpr::StringSet set = sexpr::ParseSet(value);
    for (const auto& e : set) valid = valid && db::IsValidXmlUtf8(e);
    canonical = sexpr::PrintSet(set);
  } else {
    sexpr::StringMap map = sexpr::ParseMap(value);
    for (const auto& [k, v] : map) valid = valid && db::IsValidXmlUtf8(k) && db::IsValidXmlUtf8(v);
    canonical = sexpr::PrintMap(map);
  }
  if (!valid)
    throw Error(ErrorKind::kInvalidValue,
                "value of " + table + "." + field + " is not valid UTF-8 or not XML-legal");
  const Values* row = Impl::FindRow(t, ref);
  if (!row) throw MissingRow(table, ref);
  // Equal parsed values: nothing happens, non-canonical text stays.
  if (d.CanonicalCell(t, ref, *row, c->index) == canonical) return;
  d.WriteChecked(t, ref, *row, *c, std::move(canonical));  // copies `row` on write
  d.EndOp("write " + table + " " + ref + " " + field);
}

void Database::ProcessStructuredField(const std::string& key_in, const std::string& value_in,
                                      const std::string& table, const std::string& field,
                                      const std::string& ref, StructuredOp op) {
  std::string key = key_in.substr(0, db::ValidXmlUtf8Prefix(key_in));
  std::string value = value_in.substr(0, db::ValidXmlUtf8Prefix(value_in));
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  d.CheckWritable();
  TableData& t = d.GetTable(table);
  const Values* row = Impl::FindRow(t, ref);
  if (!row) throw MissingRow(table, ref);
  const Column* c = t.table->FindColumn(field);
  if (!c) throw Error::NotFound("missing field", field, "");
  bool set_op = op == StructuredOp::kAddSet || op == StructuredOp::kRemoveSet;
  ColumnType want = set_op ? ColumnType::kSet : ColumnType::kMap;
  if (c->type != want)
    throw Error(ErrorKind::kParse, std::string("type error: ") + table + "." + field +
                                       (set_op ? " is not a Set" : " is not a Map"));
  const std::string& current = (*row)[c->index];
  std::string next;
  const char* verb = "";
  if (set_op) {
    sexpr::StringSet set = sexpr::ParseSet(current);
    bool present = std::find(set.begin(), set.end(), key) != set.end();
    if (op == StructuredOp::kAddSet) {
      verb = "add_to_set";
      if (!present) set.insert(set.begin(), key);
    } else {
      verb = "remove_from_set";
      set.erase(std::remove(set.begin(), set.end(), key), set.end());
    }
    next = sexpr::PrintSet(set);
  } else {
    sexpr::StringMap map = sexpr::ParseMap(current);
    auto same_key = [&](const auto& p) { return p.first == key; };
    if (op == StructuredOp::kRemoveMap) {
      verb = "remove_from_map";
      map.erase(std::remove_if(map.begin(), map.end(), same_key), map.end());
    } else {
      verb = "add_to_map";
      if (key.empty()) throw Error(ErrorKind::kEmptyKeyInMap, "empty key in map " + table + "." + field);
      auto it = std::find_if(map.begin(), map.end(), same_key);
      // The legacy op is idempotent only with xapi's db_idempotent_map
      // (default false): we behave as the default.
      if (it != map.end() && (it->second != value || op == StructuredOp::kAddMapLegacy))
        throw Error(ErrorKind::kDuplicateKey, "key " + key + " already in " + table + "." + field,
                    {table, field, ref, key});
      map.erase(std::remove_if(map.begin(), map.end(), same_key), map.end());
      map.insert(map.begin(), {key, value});
    }
    next = sexpr::PrintMap(map);
  }
  if (d.CanonicalCell(t, ref, *row, c->index) == next) return;
  d.WriteChecked(t, ref, *row, *c, std::move(next));
  d.EndOp(std::string(verb) + " " + table + " " + ref + " " + field + " " + key);
}

}  // namespace xgdb
