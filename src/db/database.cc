// xgdb::Database: construction and the read operations (spec 4.4). Every
// list of rows is in descending ref order (rows visited ascending, result
// built by prepending in xapi).
#include "xgdb/database.h"

#include <algorithm>
#include <mutex>

#include "db/database_impl.h"
#include "schema/sexpr.h"

namespace xgdb {

using db::TableData;
using db::Values;

namespace {
Error MissingTable(const std::string& table) {
  return Error::NotFound("missing table", table, "");
}
Error MissingRow(const std::string& table, const std::string& ref) {
  return Error::NotFound("missing row", table, ref);
}
Error MissingField(const std::string& field) {
  return Error::NotFound("missing field", field, "");
}
}  // namespace

Database::Impl::Impl(const Schema& s) : schema(s) {
  tables.resize(schema.tables().size());
  for (size_t i = 0; i < tables.size(); ++i) {
    TableData& t = tables[i];
    t.table = &schema.tables()[i];
    t.index = static_cast<int>(i);
    if (const Column* c = t.table->FindColumn("uuid")) t.uuid_col = c->index;
    if (const Column* c = t.table->FindColumn("name__label")) t.name_col = c->index;
    if (const Column* c = t.table->FindColumn("_ref")) t.ref_col = c->index;
    for (const Column& c : t.table->columns) t.desc_order.push_back(c.index);
    std::sort(t.desc_order.begin(), t.desc_order.end(), [&](int a, int b) {
      return t.table->columns[a].name > t.table->columns[b].name;
    });
  }
}

TableData& Database::Impl::GetTable(const std::string& name) {
  const Table* t = schema.FindTable(name);
  if (!t) throw MissingTable(name);
  return tables[t->index];
}

const TableData& Database::Impl::GetTable(const std::string& name) const {
  const Table* t = schema.FindTable(name);
  if (!t) throw MissingTable(name);
  return tables[t->index];
}

Values* Database::Impl::FindRow(TableData& t, const std::string& ref) {
  auto it = t.by_ref.find(ref);
  return it == t.by_ref.end() ? nullptr : it->second;
}

const Values* Database::Impl::FindRow(const TableData& t, const std::string& ref) {
  auto it = t.by_ref.find(ref);
  return it == t.by_ref.end() ? nullptr : it->second;
}

std::string Database::Impl::CanonicalCell(const TableData& t, const std::string& ref,
                                          const Values& row, int col) const {
  const Column& c = t.table->columns[col];
  if (c.type == ColumnType::kString || t.noncanonical.empty() ||
      !t.noncanonical.count(db::CellKey(ref, col)))
    return row[col];
  return sexpr::Canonical(row[col], c.type == ColumnType::kMap);
}

Record Database::Impl::MakeRecord(const TableData& t, const Values& row) const {
  Record r;
  r.fields.reserve(t.desc_order.size());
  for (int col : t.desc_order) {
    const Column& c = t.table->columns[col];
    r.fields.emplace_back(c.name, row[col]);
    if (c.issetref) r.set_refs.emplace_back(c.name, sexpr::ParseSet(row[col]));
  }
  return r;
}

std::vector<std::string> Database::Impl::FieldWhere(const TableData& t,
                                                    const std::string& ret,
                                                    const std::string& where_field,
                                                    const std::string& where_value) const {
  std::vector<std::string> out;
  if (t.rows.empty()) return out;
  const Column* wc = t.table->FindColumn(where_field);
  if (!wc) throw MissingField(where_field);
  const Column* rc = t.table->FindColumn(ret);
  auto take = [&](const Values& row) {
    if (!rc) throw MissingField(ret);
    out.push_back(row[rc->index]);
  };
  // Indexed columns: uuid (global index) and name__label (per table).
  if (wc->index == t.uuid_col) {
    auto it = uuid_index.find(where_value);
    if (it != uuid_index.end() && it->second.first == t.index)
      take(*FindRow(t, it->second.second));
    return out;
  }
  if (wc->index == t.name_col) {
    auto it = t.by_name_label.find(where_value);
    if (it == t.by_name_label.end()) return out;
    for (auto r = it->second.rbegin(); r != it->second.rend(); ++r) take(*FindRow(t, *r));
    return out;
  }
  for (auto it = t.rows.rbegin(); it != t.rows.rend(); ++it)
    if (it->second[wc->index] == where_value) take(it->second);
  return out;
}

Database::Database(std::shared_ptr<const Schema> schema)
    : schema_(std::move(schema)), impl_(std::make_unique<Impl>(*schema_)) {}
Database::~Database() = default;

std::optional<std::string> Database::GetTableFromRef(const std::string& ref) const {
  std::shared_lock lock(impl_->mu);
  auto it = impl_->ref_table.find(ref);
  if (it == impl_->ref_table.end()) return std::nullopt;
  return impl_->tables[it->second].table->name;
}

bool Database::IsValidRef(const std::string& ref) const {
  std::shared_lock lock(impl_->mu);
  return impl_->ref_table.count(ref) > 0;
}

std::vector<std::string> Database::ReadRefs(const std::string& table) const {
  std::shared_lock lock(impl_->mu);
  const TableData& t = impl_->GetTable(table);
  std::vector<std::string> out;
  out.reserve(t.rows.size());
  for (auto it = t.rows.rbegin(); it != t.rows.rend(); ++it) out.push_back(it->first);
  return out;
}

std::vector<std::string> Database::FindRefsWithFilter(const std::string& table,
                                                      const FilterExpr& expr) const {
  std::shared_lock lock(impl_->mu);
  return impl_->FilterRefs(impl_->GetTable(table), expr);
}

std::vector<std::string> Database::ReadFieldWhere(const std::string& table,
                                                  const std::string& return_field,
                                                  const std::string& where_field,
                                                  const std::string& where_value) const {
  std::shared_lock lock(impl_->mu);
  return impl_->FieldWhere(impl_->GetTable(table), return_field, where_field, where_value);
}

std::string Database::DbGetByUuid(const std::string& table, const std::string& uuid) const {
  std::shared_lock lock(impl_->mu);
  // No table check: an unknown table also gives Read_missing_uuid.
  auto it = impl_->uuid_index.find(uuid);
  if (it == impl_->uuid_index.end() ||
      impl_->tables[it->second.first].table->name != table)
    throw Error(ErrorKind::kReadMissingUuid, "no " + table + " with uuid " + uuid,
                {table, "", uuid});
  return it->second.second;
}

std::optional<std::string> Database::DbGetByUuidOpt(const std::string& table,
                                                    const std::string& uuid) const {
  std::shared_lock lock(impl_->mu);
  auto refs = impl_->FieldWhere(impl_->GetTable(table), "_ref", "uuid", uuid);
  if (refs.size() != 1) return std::nullopt;
  return refs[0];
}

std::vector<std::string> Database::DbGetByNameLabel(const std::string& table,
                                                    const std::string& label) const {
  std::shared_lock lock(impl_->mu);
  return impl_->FieldWhere(impl_->GetTable(table), "_ref", "name__label", label);
}

std::string Database::ReadField(const std::string& table, const std::string& field,
                                const std::string& ref) const {
  std::shared_lock lock(impl_->mu);
  const TableData& t = impl_->GetTable(table);
  const Values* row = Impl::FindRow(t, ref);
  if (!row) throw MissingRow(table, ref);
  const Column* c = t.table->FindColumn(field);
  if (!c) throw MissingField(field);
  return (*row)[c->index];
}

Record Database::ReadRecord(const std::string& table, const std::string& ref) const {
  std::shared_lock lock(impl_->mu);
  const TableData& t = impl_->GetTable(table);
  const Values* row = Impl::FindRow(t, ref);
  if (!row) throw MissingRow(table, ref);
  return impl_->MakeRecord(t, *row);
}

std::vector<std::pair<std::string, Record>> Database::ReadRecordsWhere(
    const std::string& table, const FilterExpr& expr) const {
  std::shared_lock lock(impl_->mu);
  const TableData& t = impl_->GetTable(table);
  std::vector<std::pair<std::string, Record>> out;
  for (std::string& ref : impl_->FilterRefs(t, expr)) {
    // xapi reads each record by the row's _ref text, which is the key unless
    // create_row was given an explicit _ref (spec 4.10 item 5).
    const Values* row = Impl::FindRow(t, ref);
    if (!row) throw MissingRow(table, ref);
    Record r = impl_->MakeRecord(t, *row);
    out.emplace_back(std::move(ref), std::move(r));
  }
  return out;
}

}  // namespace xgdb
