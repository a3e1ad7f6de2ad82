// Bulk loading (xapi-data-model.md 1.6 steps 2-4), iteration, and the change
// tracking the store's committer reads.
#include <algorithm>
#include <mutex>

#include "db/database_impl.h"
#include "schema/sexpr.h"

namespace xgdb {

using db::TableData;
using db::Values;

namespace {
constexpr size_t kMaxSummaryLines = 1000;

[[noreturn]] void LoadFail(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, message);
}
}  // namespace

// ---------------------------------------------------------------------------
// Loading

void Database::LoadRow(const std::string& table, const std::string& ref, FieldList fields) {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  const Table* schema_table = d.schema.FindTable(table);
  if (!schema_table) LoadFail("unknown table " + table + " (row " + ref + ")");
  TableData& t = d.tables[schema_table->index];
  if (d.ref_table.Contains(ref)) LoadFail("duplicate row " + ref + " in table " + table);
  Values row(schema_table->columns.size());
  std::vector<bool> present(row.size(), false);
  for (auto& [name, value] : fields) {
    const Column* c = schema_table->FindColumn(name);
    if (!c) LoadFail("unknown column " + name + " in table " + table + " row " + ref);
    if (c->removed) continue;  // xapi drops it and re-adds it with its default
    if (c->type != ColumnType::kString) {
      // Kept as given, as create_row keeps it (a repository stores such
      // text in %verbatim); filters compare its canonical form.
      try {
        if (sexpr::Canonical(value, c->type == ColumnType::kMap) != value) {
          t.noncanonical.Set(db::CellKey(ref, c->index), 1);
        }
      } catch (const Error& e) {
        LoadFail("table " + table + " row " + ref + " column " + name + ": " + e.what());
      }
    }
    row[c->index] = std::move(value);
    present[c->index] = true;
  }
  t.rows.Set(ref, db::RowPtr::Make(std::move(row)));
  d.ref_table.Set(ref, t.index);
  if (std::find(present.begin(), present.end(), false) != present.end())
    d.load_present[ref] = std::move(present);
}

void Database::FinishLoad() {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  // Pass 1: check everything, build the uuid index aside.
  std::vector<std::pair<const std::string*, std::vector<std::pair<int, std::string>>>> fills;
  for (auto& [ref, present] : d.load_present) {
    TableData& t = d.tables[*d.ref_table.Find(ref)];
    std::vector<std::pair<int, std::string>> fill;
    for (const Column& c : t.table->columns) {
      if (present[c.index]) continue;
      if (c.index == t.ref_col)
        fill.emplace_back(c.index, ref);
      else if (c.default_value)
        fill.emplace_back(c.index, *c.default_value);
      else
        LoadFail("table " + t.table->name + " row " + ref + " lacks column " + c.name +
                 ", which has no default");
    }
    fills.emplace_back(&ref, std::move(fill));
  }
  for (auto& [ref, fill] : fills) {
    Values& row = *Impl::MutableRow(d.tables[*d.ref_table.Find(*ref)], *ref);
    for (auto& [col, value] : fill) row[col] = value;  // cannot throw past here but for uuids
  }
  db::PersistentMap<std::string, std::pair<int, std::string>> uuids;
  for (TableData& t : d.tables) {
    if (t.uuid_col < 0) continue;
    const Column& uc = t.table->columns[t.uuid_col];
    for (auto it = t.rows.begin(); it != t.rows.end(); ++it) {
      const std::string& ref = it.key();
      const std::string& uuid = uc.persistent ? (*it.value())[t.uuid_col] : uc.empty;
      if (!uuids.Set(uuid, std::make_pair(t.index, ref)))
        throw Error(ErrorKind::kUniqueness, "uuid " + uuid + " is used twice (" + ref + ")",
                    {t.table->name, "uuid", uuid});
    }
  }

  // Pass 2: nothing throws.
  d.load_present = {};  // frees the buckets, not just the entries
  d.uuid_index = std::move(uuids);
  for (TableData& t : d.tables) {
    // Non-persistent columns reset; one-to-many Set sides start empty.
    std::vector<std::pair<int, std::string>> resets;
    for (const Column& c : t.table->columns)
      if (!c.persistent || c.relation == RelationSide::kOneToManySet)
        resets.emplace_back(c.index, c.persistent ? std::string("()") : c.empty);
    std::vector<std::string> refs;
    refs.reserve(t.rows.size());
    for (auto it = t.rows.begin(); it != t.rows.end(); ++it) refs.push_back(it.key());
    t.by_name_label.clear();
    for (const std::string& ref : refs) {
      Values& row = *Impl::MutableRow(t, ref);
      for (const auto& [col, value] : resets) row[col] = value;
      if (t.name_col >= 0) Impl::AddLabel(t, row[t.name_col], ref);
    }
  }
  // Rebuild every one-to-many Set side: holders visited ascending, each
  // prepends its ref, so a target's set ends in descending visit order.
  for (TableData& holder : d.tables) {
    for (const Column& c : holder.table->columns) {
      if (c.relation != RelationSide::kOneToManyRef) continue;
      const Table* tt = d.schema.FindTable(c.other_table);
      const Column* set_col = tt ? tt->FindColumn(c.other_field) : nullptr;
      if (!set_col) continue;
      TableData& target = d.tables[tt->index];
      std::unordered_map<std::string, std::vector<std::string>> members;
      for (auto it = holder.rows.begin(); it != holder.rows.end(); ++it) {
        const std::string& to = (*it.value())[c.index];
        if (target.rows.Contains(to)) members[to].push_back(it.key());
      }
      for (auto& [target_ref, refs] : members) {
        std::reverse(refs.begin(), refs.end());
        Values& row = *Impl::MutableRow(target, target_ref);
        sexpr::StringSet set = sexpr::ParseSet(row[set_col->index]);
        set.insert(set.begin(), refs.begin(), refs.end());
        row[set_col->index] = sexpr::PrintSet(set);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Iteration

void Database::ForEachRow(const std::function<void(const Table&, const std::string& ref,
                                                   const std::vector<std::string>& values)>&
                              fn) const {
  std::shared_lock lock(impl_->mu);
  for (const TableData& t : impl_->tables)
    for (auto it = t.rows.begin(); it != t.rows.end(); ++it) fn(*t.table, it.key(), *it.value());
}

size_t Database::RowCount(const std::string& table) const {
  std::shared_lock lock(impl_->mu);
  return impl_->GetTable(table).rows.size();
}

size_t Database::TotalRows() const {
  std::shared_lock lock(impl_->mu);
  return impl_->ref_table.size();
}

std::optional<std::pair<std::string, std::string>> Database::FindUuid(
    const std::string& uuid) const {
  std::shared_lock lock(impl_->mu);
  const auto* owner = impl_->uuid_index.Find(uuid);
  if (!owner) return std::nullopt;
  return std::make_pair(impl_->tables[owner->first].table->name, owner->second);
}

// ---------------------------------------------------------------------------
// Change tracking

void Database::Impl::Touch(const TableData& t, const std::string& ref, const Column* c,
                           bool row_deleted) {
  op_changed = true;
  if (!t.table->persistent || (c && !t.table->Stored(*c))) return;
  bool& replaced = changed[{t.index, ref}];
  if (row_deleted) replaced = true;
}

void Database::Impl::EndOp(std::string summary_line) {
  if (!op_changed) return;
  op_changed = false;
  ++sequence;
  AddSummary(std::move(summary_line));
  if (listener) listener(sequence);
}

void Database::Impl::AddSummary(std::string line) {
  if (summary.size() < kMaxSummaryLines)
    summary.push_back(std::move(line));
  else
    ++summary_dropped;
}

uint64_t Database::Sequence() const {
  std::shared_lock lock(impl_->mu);
  return impl_->sequence;
}

ChangeBatch Database::TakeChanges() {
  std::unique_lock lock(impl_->mu);
  Impl& d = *impl_;
  ChangeBatch batch;
  batch.sequence = d.sequence;
  batch.rows.reserve(d.changed.size());
  for (const auto& [key, replaced] : d.changed) {
    const TableData& t = d.tables[key.first];
    RowChange rc;
    rc.table = t.table;
    rc.ref = key.second;
    rc.replaced = replaced;
    if (const Values* row = Impl::FindRow(t, key.second)) {
      rc.exists = true;
      for (const Column& c : t.table->columns)
        if (t.table->Stored(c)) rc.stored.emplace_back(c.name, (*row)[c.index]);
    }
    batch.rows.push_back(std::move(rc));
  }
  batch.summary = std::move(d.summary);
  batch.summary_dropped = d.summary_dropped;
  d.changed.clear();
  d.summary.clear();
  d.summary_dropped = 0;
  return batch;
}

void Database::SetChangeListener(std::function<void(uint64_t sequence)> listener) {
  std::unique_lock lock(impl_->mu);
  impl_->listener = std::move(listener);
}

}  // namespace xgdb
