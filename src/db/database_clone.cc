// Clones of the image (a task's working copy), the rows that differ between
// a clone and its origin, and putting merged rows back (docs/image.md).
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "db/database_impl.h"
#include "schema/sexpr.h"

namespace xgdb {

using db::TableData;
using db::Values;

namespace {

bool IsRelationDriver(const Column& c) {
  return c.relation == RelationSide::kOneToManyRef ||
         c.relation == RelationSide::kManyToManyPrimary;
}

// Derived ends: kept from the image ApplyRows writes into, not taken from
// the rows it is given.
bool IsDerived(const Column& c) {
  return c.relation == RelationSide::kOneToManySet || c.relation == RelationSide::kManyToManyMirror;
}

bool IsCanonical(const Column& c, const std::string& text) {
  if (c.type == ColumnType::kString) return true;
  return sexpr::Canonical(text, c.type == ColumnType::kMap) == text;
}

}  // namespace

std::unique_ptr<Database> Database::Clone() const {
  std::shared_lock lock(impl_->mu);
  auto clone = std::make_unique<Database>(schema_);
  Impl& to = *clone->impl_;
  const Impl& from = *impl_;
  for (size_t i = 0; i < from.tables.size(); ++i) {
    to.tables[i].rows = from.tables[i].rows;
    to.tables[i].by_name_label = from.tables[i].by_name_label;
    to.tables[i].noncanonical = from.tables[i].noncanonical;
  }
  to.ref_table = from.ref_table;
  to.uuid_index = from.uuid_index;
  to.sequence = from.sequence;
  // Only between LoadRow and FinishLoad; skip copying an empty table's buckets.
  if (!from.load_present.empty()) to.load_present = from.load_present;
  return clone;
}

std::vector<RowDelta> Database::ChangedSince(const Database& base) const {
  if (&base == this) return {};
  if (base.schema_.get() != schema_.get())
    throw Error(ErrorKind::kInvalidArgument, "ChangedSince: the images have different schemas");
  // Both read locks, in address order so two opposite calls cannot wait on
  // each other behind queued writers.
  const Database* first = this < &base ? this : &base;
  const Database* second = this < &base ? &base : this;
  std::shared_lock lock1(first->impl_->mu);
  std::shared_lock lock2(second->impl_->mu);
  std::vector<RowDelta> out;
  auto same = [](const db::RowPtr& a, const db::RowPtr& b) { return a == b || *a == *b; };
  for (size_t i = 0; i < impl_->tables.size(); ++i) {
    const TableData& now = impl_->tables[i];
    db::PersistentMap<std::string, db::RowPtr>::Diff(
        base.impl_->tables[i].rows, now.rows,
        [&](const std::string& ref, const db::RowPtr* before, const db::RowPtr* after) {
          RowDelta d;
          d.table = now.table;
          d.ref = ref;
          d.in_base = before != nullptr;
          d.exists = after != nullptr;
          if (after) d.values = **after;
          out.push_back(std::move(d));
        },
        same);
  }
  return out;
}

Database::Impl::CheckedRows Database::Impl::CheckRows(const std::vector<RowDelta>& rows) const {
  CheckedRows out;
  std::vector<const TableData*>& tables = out.tables;
  std::unordered_map<std::string, const RowDelta*>& batch = out.batch;
  std::vector<std::vector<bool>>& canonical = out.canonical;
  for (const RowDelta& r : rows) {
    if (!r.table)
      throw Error(ErrorKind::kInvalidArgument, "ApplyRows: row " + r.ref + " has no table");
    const TableData& t = GetTable(r.table->name);
    tables.push_back(&t);
    if (!batch.emplace(r.ref, &r).second)
      throw Error(ErrorKind::kInvalidArgument, "ApplyRows: row " + r.ref + " given twice");
    const int* owner = ref_table.Find(r.ref);
    if (owner && *owner != t.index)
      throw Error(ErrorKind::kInvalidArgument, "ApplyRows: " + r.ref + " is a row of " +
                                                   this->tables[*owner].table->name + ", not " +
                                                   t.table->name);
    if (!r.exists) continue;
    if (r.values.size() != t.table->columns.size())
      throw Error(ErrorKind::kInvalidArgument,
                  "ApplyRows: row " + r.ref + " has " + std::to_string(r.values.size()) +
                      " values, table " + t.table->name + " has " +
                      std::to_string(t.table->columns.size()) + " columns");
  }
  // Canonical text, decided now because parsing throws.
  canonical.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].exists) continue;
    for (const Column& c : tables[i]->table->columns)
      canonical[i].push_back(IsCanonical(c, rows[i].values[c.index]));
  }
  // uuids unique after the whole batch: a uuid may move between rows of the
  // batch, but not onto a row outside it or onto two rows.
  std::unordered_set<std::string> new_uuids;
  for (size_t i = 0; i < rows.size(); ++i) {
    const TableData& t = *tables[i];
    if (!rows[i].exists || t.uuid_col < 0) continue;
    const std::string& uuid = rows[i].values[t.uuid_col];
    const auto* owner = uuid_index.Find(uuid);
    bool taken_outside = owner && !batch.count(owner->second);
    if (taken_outside || !new_uuids.insert(uuid).second)
      throw Error(ErrorKind::kUniqueness, "uuid " + uuid + " is already used",
                  {t.table->name, "uuid", uuid});
  }
  // Relation targets must be rows of the right table once the batch is in.
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].exists) continue;
    for (const Column& c : tables[i]->table->columns) {
      if (!IsRelationDriver(c)) continue;
      for (const std::string& target : Impl::Targets(c, rows[i].values[c.index])) {
        auto in_batch = batch.find(target);
        if (in_batch != batch.end()) {  // the batch decides what it will be
          const RowDelta& tr = *in_batch->second;
          if (tr.exists && tr.table->name != c.other_table)
            throw Error::NotFound("missing row", c.other_table, target);
          continue;
        }
        CheckTarget(c, target);
      }
    }
  }

  return out;
}

void Database::CheckRows(const std::vector<RowDelta>& rows) const {
  std::shared_lock lock(impl_->mu);
  impl_->CheckRows(rows);
}

void Database::ApplyRows(const std::vector<RowDelta>& rows) {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  const Impl::CheckedRows checked = d.CheckRows(rows);  // nothing changes unless all pass
  const std::vector<std::vector<bool>>& canonical = checked.canonical;

  // ---- Changes: nothing below throws. ----
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowDelta& r = rows[i];
    TableData& t = d.tables[size_t(checked.tables[i]->index)];
    const Values* cur = Impl::FindRow(t, r.ref);
    if (!r.exists) {
      if (!cur) continue;
      for (const Column& c : t.table->columns)
        if (IsRelationDriver(c))
          for (const std::string& target : Impl::Targets(c, (*Impl::FindRow(t, r.ref))[c.index]))
            d.Link(c, target, r.ref, false);
      d.EraseRow(t, r.ref);
      d.Touch(t, r.ref, nullptr, /*row_deleted=*/true);
      continue;
    }
    if (!cur) {
      d.InsertRow(t, r.ref, r.values);
      d.Touch(t, r.ref, nullptr);
      for (const Column& c : t.table->columns)
        if (IsRelationDriver(c))
          for (const std::string& target : Impl::Targets(c, r.values[c.index]))
            d.Link(c, target, r.ref, true);
      continue;
    }
    for (const Column& c : t.table->columns) {
      if (IsDerived(c)) continue;
      // Re-read: links and copy-on-write may have moved the row.
      const std::string old = (*Impl::FindRow(t, r.ref))[c.index];
      const std::string& text = r.values[c.index];
      if (old == text) continue;
      if (c.index == t.uuid_col) {
        const auto* owner = d.uuid_index.Find(old);
        if (owner && owner->first == t.index && owner->second == r.ref) d.uuid_index.Erase(old);
        d.uuid_index.Set(text, {t.index, r.ref});
      }
      if (IsRelationDriver(c))
        for (const std::string& target : Impl::Targets(c, old)) d.Link(c, target, r.ref, false);
      d.SetCell(t, r.ref, c.index, text, canonical[i][c.index]);
      if (IsRelationDriver(c))
        for (const std::string& target : Impl::Targets(c, text)) d.Link(c, target, r.ref, true);
    }
  }
  if (!d.op_changed) return;
  std::vector<std::string> lines;
  for (const RowDelta& r : rows) lines.push_back("merge " + r.table->name + " " + r.ref);
  for (size_t i = 0; i + 1 < lines.size(); ++i) d.AddSummary(std::move(lines[i]));
  d.EndOp(std::move(lines.back()));
}

}  // namespace xgdb
