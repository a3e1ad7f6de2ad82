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

void Database::Impl::SetCell(TableData& t, const std::string& ref, Values& row, int col,
                             std::string text, bool canonical) {
  if (col == t.name_col && row[col] != text) {
    auto it = t.by_name_label.find(row[col]);
    if (it != t.by_name_label.end()) {
      it->second.erase(ref);
      if (it->second.empty()) t.by_name_label.erase(it);
    }
    t.by_name_label[text].insert(ref);
  }
  if (t.table->columns[col].type != ColumnType::kString) {
    if (canonical)
      t.noncanonical.erase(db::CellKey(ref, col));
    else
      t.noncanonical.insert(db::CellKey(ref, col));
  }
  row[col] = std::move(text);
  Touch(t, ref, &t.table->columns[col]);
}

std::vector<std::string> Database::Impl::Targets(const Column& c, const std::string& text) {
  if (c.relation == RelationSide::kOneToManyRef) return {text};
  if (c.relation == RelationSide::kManyToManyPrimary) return sexpr::ParseSet(text);
  return {};
}

void Database::Impl::CheckTarget(const Column& c, const std::string& target) const {
  auto it = ref_table.find(target);
  if (it == ref_table.end()) return;  // unknown refs (OpaqueRef:NULL) are ignored
  if (tables[it->second].table->name != c.other_table) throw MissingRow(c.other_table, target);
}

void Database::Impl::Link(const Column& c, const std::string& target, const std::string& ref,
                          bool add) {
  auto it = ref_table.find(target);
  if (it == ref_table.end()) return;
  TableData& other = tables[it->second];
  if (other.table->name != c.other_table) return;  // CheckTarget refused it before
  const Column* oc = other.table->FindColumn(c.other_field);
  Values* row = FindRow(other, target);
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
  SetCell(other, target, *row, oc->index, sexpr::PrintSet(set), true);
}

void Database::Impl::WriteChecked(TableData& t, const std::string& ref, Values& row,
                                  const Column& c, std::string text) {
  if (c.name == "_ref")
    throw Error(ErrorKind::kBadRequest, "Cannot safely update field: _ref");
  bool is_uuid = c.index == t.uuid_col;
  if (is_uuid && uuid_index.count(text))
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
  if (is_uuid) {
    auto it = uuid_index.find(row[c.index]);
    if (it != uuid_index.end() && it->second.first == t.index && it->second.second == ref)
      uuid_index.erase(it);
    uuid_index[text] = {t.index, ref};
  }
  for (const auto& r : old_targets) Link(c, r, ref, false);
  SetCell(t, ref, row, c.index, std::move(text), true);
  for (const auto& r : new_targets) Link(c, r, ref, true);
}

// ---------------------------------------------------------------------------
// Operations

void Database::CreateRow(const std::string& table, const FieldList& fields,
                         const std::string& ref) {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  TableData& t = d.GetTable(table);
  std::vector<const Column*> cols;
  for (const auto& [name, value] : fields) {
    const Column* c = t.table->FindColumn(name);
    if (!c) throw Error::NotFound("missing column", table, name);
    CheckParses(*c, value);
    cols.push_back(c);
  }

  // Idempotent create: the same ref with the same values is a no-op.
  if (d.ref_table.count(ref)) {
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
  if (t.uuid_col >= 0 && d.uuid_index.count(*cells[t.uuid_col]))
    throw Error(ErrorKind::kUniqueness, "uuid " + *cells[t.uuid_col] + " is already used",
                {table, "uuid", *cells[t.uuid_col]});
  std::vector<std::pair<const Column*, std::vector<std::string>>> links;
  std::vector<bool> canonical(cells.size(), true);
  for (const Column& c : t.table->columns) {
    if (c.type != ColumnType::kString) canonical[c.index] = Canonical(c, *cells[c.index]) == *cells[c.index];
    if (!IsRelationDriver(c)) continue;
    links.emplace_back(&c, Impl::Targets(c, *cells[c.index]));
    for (const auto& r : links.back().second) d.CheckTarget(c, r);
  }

  // Nothing below throws.
  Values& row = t.rows[ref];
  row.resize(cells.size());
  t.by_ref[ref] = &row;
  d.ref_table[ref] = t.index;
  for (size_t i = 0; i < cells.size(); ++i) {
    row[i] = std::move(*cells[i]);
    if (!canonical[i]) t.noncanonical.insert(db::CellKey(ref, static_cast<int>(i)));
  }
  if (t.uuid_col >= 0) d.uuid_index[row[t.uuid_col]] = {t.index, ref};
  if (t.name_col >= 0) t.by_name_label[row[t.name_col]].insert(ref);
  d.Touch(t, ref, nullptr);
  for (const auto& [c, targets] : links)
    for (const auto& r : targets) d.Link(*c, r, ref, true);
  d.EndOp("create " + table + " " + ref);
}

void Database::DeleteRow(const std::string& table, const std::string& ref) {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  TableData& t = d.GetTable(table);
  auto it = t.rows.find(ref);
  if (it == t.rows.end()) throw MissingRow(table, ref);
  Values& row = it->second;
  std::vector<std::pair<const Column*, std::vector<std::string>>> links;
  for (const Column& c : t.table->columns) {
    if (!IsRelationDriver(c)) continue;
    links.emplace_back(&c, Impl::Targets(c, row[c.index]));
    for (const auto& r : links.back().second) d.CheckTarget(c, r);
  }

  // Nothing below throws.
  for (const auto& [c, targets] : links)
    for (const auto& r : targets) d.Link(*c, r, ref, false);
  if (t.uuid_col >= 0) {
    auto u = d.uuid_index.find(row[t.uuid_col]);
    if (u != d.uuid_index.end() && u->second.first == t.index && u->second.second == ref)
      d.uuid_index.erase(u);
  }
  if (t.name_col >= 0) {
    auto n = t.by_name_label.find(row[t.name_col]);
    if (n != t.by_name_label.end()) {
      n->second.erase(ref);
      if (n->second.empty()) t.by_name_label.erase(n);
    }
  }
  if (!t.noncanonical.empty())
    for (const Column& c : t.table->columns) t.noncanonical.erase(db::CellKey(ref, c.index));
  d.ref_table.erase(ref);
  t.by_ref.erase(ref);
  t.rows.erase(it);
  d.Touch(t, ref, nullptr, /*row_deleted=*/true);
  d.EndOp("delete " + table + " " + ref);
}

void Database::WriteField(const std::string& table, const std::string& ref,
                          const std::string& field, const std::string& value) {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
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
  Values* row = Impl::FindRow(t, ref);
  if (!row) throw MissingRow(table, ref);
  // Equal parsed values: nothing happens, non-canonical text stays.
  if (d.CanonicalCell(t, ref, *row, c->index) == canonical) return;
  d.WriteChecked(t, ref, *row, *c, std::move(canonical));
  d.EndOp("write " + table + " " + ref + " " + field);
}

void Database::ProcessStructuredField(const std::string& key_in, const std::string& value_in,
                                      const std::string& table, const std::string& field,
                                      const std::string& ref, StructuredOp op) {
  std::string key = key_in.substr(0, db::ValidXmlUtf8Prefix(key_in));
  std::string value = value_in.substr(0, db::ValidXmlUtf8Prefix(value_in));
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  TableData& t = d.GetTable(table);
  Values* row = Impl::FindRow(t, ref);
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
