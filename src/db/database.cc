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

const Values* Database::Impl::FindRow(const TableData& t, const std::string& ref) {
  const db::RowPtr* row = t.rows.Find(ref);
  return row ? row->get() : nullptr;
}

Values* Database::Impl::MutableRow(TableData& t, const std::string& ref) {
  db::RowPtr* row = t.rows.FindMutable(ref);
  if (!row) return nullptr;
  if (!row->Unique()) *row = db::RowPtr::Make(**row);
  return row->get();
}

void Database::Impl::AddLabel(TableData& t, const std::string& label, const std::string& ref) {
  t.by_name_label.Set({label, ref}, 1);
}

void Database::Impl::DropLabel(TableData& t, const std::string& label, const std::string& ref) {
  t.by_name_label.Erase({label, ref});
}

std::string Database::Impl::CanonicalCell(const TableData& t, const std::string& ref,
                                          const Values& row, int col) const {
  const Column& c = t.table->columns[col];
  if (c.type == ColumnType::kString || t.noncanonical.empty() ||
      !t.noncanonical.Contains(db::CellKey(ref, col)))
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
    const auto* owner = uuid_index.Find(where_value);
    if (owner && owner->first == t.index) take(*FindRow(t, owner->second));
    return out;
  }
  // Rows are visited ascending; the answer is descending.
  if (wc->index == t.name_col) {
    for (auto it = t.by_name_label.LowerBound({where_value, std::string()});
         it != t.by_name_label.end() && it.key().first == where_value; ++it)
      take(*FindRow(t, it.key().second));
  } else {
    for (auto it = t.rows.begin(); it != t.rows.end(); ++it)
      if ((*it.value())[wc->index] == where_value) take(*it.value());
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Database::Database(std::shared_ptr<const Schema> schema)
    : schema_(std::move(schema)), impl_(std::make_unique<Impl>(*schema_)) {}
Database::~Database() = default;

std::optional<std::string> Database::GetTableFromRef(const std::string& ref) const {
  std::shared_lock lock(impl_->mu);
  const int* index = impl_->ref_table.Find(ref);
  if (!index) return std::nullopt;
  return impl_->tables[*index].table->name;
}

bool Database::IsValidRef(const std::string& ref) const {
  std::shared_lock lock(impl_->mu);
  return impl_->ref_table.Contains(ref);
}

std::vector<std::string> Database::ReadRefs(const std::string& table) const {
  std::shared_lock lock(impl_->mu);
  const TableData& t = impl_->GetTable(table);
  std::vector<std::string> out;
  out.reserve(t.rows.size());
  for (auto it = t.rows.begin(); it != t.rows.end(); ++it) out.push_back(it.key());
  std::reverse(out.begin(), out.end());
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
  const auto* owner = impl_->uuid_index.Find(uuid);
  if (!owner || impl_->tables[owner->first].table->name != table)
    throw Error(ErrorKind::kReadMissingUuid, "no " + table + " with uuid " + uuid,
                {table, "", uuid});
  return owner->second;
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
