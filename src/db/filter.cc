// Evaluation of xapi's filter expressions (Db_filter_types.expr) over the
// rows of one table (spec 4.4 find_refs_with_filter).
#include <algorithm>

#include "db/database_impl.h"

namespace xgdb {

using db::TableData;
using db::Values;

bool Database::Impl::Eval(const FilterExpr& e, const TableData& t, const std::string& ref,
                          const Values& row) const {
  auto value = [&](const FilterValue& v) -> std::string {
    if (!v.is_field) return v.text;
    const Column* c = t.table->FindColumn(v.text);
    if (!c) throw Error::NotFound("missing field", v.text, "");
    return CanonicalCell(t, ref, row, c->index);
  };
  auto child = [&](size_t i) -> const FilterExpr& {
    if (e.children.size() <= i)
      throw Error(ErrorKind::kBadRequest, "filter expression lacks an operand");
    return e.children[i];
  };
  switch (e.op) {
    case FilterExpr::Op::kTrue: return true;
    case FilterExpr::Op::kFalse: return false;
    case FilterExpr::Op::kNot: return !Eval(child(0), t, ref, row);
    // Left to right with short-circuit: a bad field on the right of a
    // deciding left side does no harm.
    case FilterExpr::Op::kAnd: return Eval(child(0), t, ref, row) && Eval(child(1), t, ref, row);
    case FilterExpr::Op::kOr: return Eval(child(0), t, ref, row) || Eval(child(1), t, ref, row);
    case FilterExpr::Op::kEq: return value(e.lhs) == value(e.rhs);
  }
  return false;
}

std::vector<std::string> Database::Impl::FilterRefs(const TableData& t,
                                                    const FilterExpr& e) const {
  std::vector<std::string> out;
  // Ascending like xapi, so the first error met is the one xapi meets.
  for (auto it = t.rows.begin(); it != t.rows.end(); ++it) {
    const Values& row = *it.value();
    if (!Eval(e, t, it.key(), row)) continue;
    if (t.ref_col < 0) throw Error::NotFound("missing field", "_ref", "");
    out.push_back(row[t.ref_col]);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace xgdb
