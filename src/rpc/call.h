// One decoded call of xapi's remote database protocol and its result, the
// same for v1 and v2 (the two differ only in encoding, spec 4): the codecs
// turn bodies into a Call and a Reply into a body; the Dispatcher runs a
// Call on the Database.
#ifndef XGDB_RPC_CALL_H_
#define XGDB_RPC_CALL_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xgdb/database.h"

namespace xgdb::rpc {

enum class CallName {
  kGetTableFromRef,
  kIsValidRef,
  kReadRefs,
  kFindRefsWithFilter,
  kReadFieldWhere,
  kDbGetByUuid,
  kDbGetByUuidOpt,
  kDbGetByNameLabel,
  kCreateRow,
  kDeleteRow,
  kWriteField,
  kReadField,
  kReadRecord,
  kReadRecordsWhere,
  kProcessStructuredField,
};

// The v1 function name, e.g. "read_refs". The v2 constructor is the same
// with its first letter upper-cased ("Read_refs"), and v2 input is matched
// after lower-casing, so this one table serves both.
const char* WireName(CallName name);
std::optional<CallName> CallNameFromWire(std::string_view lower_case_name);
// "read_refs" -> "Read_refs".
std::string Capitalized(std::string_view name);

// How a call's arguments are laid out. The shapes are the same in v1 and v2
// (spec 4); a codec only decides how each shape is encoded.
enum class ArgShape {
  kStrings,         // StringArgCount() plain strings
  kTableAndFilter,  // table, filter expression
  kWhere,           // table, return, where_field, where_value (v2: one where record)
  kCreateRow,       // table, field list, ref
  kStructured,      // (key, value) pair, table, field, ref, op
};
ArgShape ArgShapeOf(CallName name);
// The number of strings of a kStrings call (0 for the other shapes).
size_t StringArgCount(CallName name);

// Which member of Reply a call's answer is in.
enum class ReplyShape { kOption, kFlag, kList, kText, kRecord, kRecords, kUnit };
ReplyShape ReplyShapeOf(CallName name);

// Structured ops by lower-case wire name ("addset"...); nullopt if unknown.
// Only v2 has a name for AddMapLegacy ("addmaplegacy"): the caller decides
// whether to accept it.
std::optional<StructuredOp> StructuredOpFromWire(std::string_view lower_case_name);
// The name to send: "addset" or, capitalized, "AddSet". AddMapLegacy goes out
// as AddMap, as xapi's client does.
const char* StructuredOpWireName(StructuredOp op, bool capitalized);

// A filter value's tag, lower-cased: "field" or "literal"; false if neither.
bool FilterValueTag(std::string_view lower_case_tag, bool* is_field);

// Builds a filter expression from its lower-case constructor name and
// argument count; `child(i)` and `value(i)` decode argument i in the
// codec's encoding. nullopt if no constructor has that name and arity.
template <typename DecodeChild, typename DecodeValue>
std::optional<FilterExpr> MakeFilter(std::string_view name, size_t arity, DecodeChild child,
                                     DecodeValue value) {
  FilterExpr e;
  if (arity == 0 && name == "true") {
    e.op = FilterExpr::Op::kTrue;
  } else if (arity == 0 && name == "false") {
    e.op = FilterExpr::Op::kFalse;
  } else if (arity == 1 && name == "not") {
    e.op = FilterExpr::Op::kNot;
    e.children.push_back(child(0));
  } else if (arity == 2 && (name == "and" || name == "or")) {
    e.op = name == "and" ? FilterExpr::Op::kAnd : FilterExpr::Op::kOr;
    e.children.push_back(child(0));
    e.children.push_back(child(1));
  } else if (arity == 2 && name == "eq") {
    e.op = FilterExpr::Op::kEq;
    e.lhs = value(0);
    e.rhs = value(1);
  } else {
    return std::nullopt;
  }
  return e;
}

struct Call {
  CallName name = CallName::kGetTableFromRef;
  // The string arguments, in the order of the Database method:
  //   GetTableFromRef, IsValidRef: ref
  //   ReadRefs: table                 FindRefsWithFilter, ReadRecordsWhere: table (+expr)
  //   ReadFieldWhere: table, return, where_field, where_value
  //   DbGetByUuid(Opt): table, uuid   DbGetByNameLabel: table, label
  //   CreateRow: table, ref (+fields) DeleteRow, ReadRecord: table, ref
  //   WriteField: table, ref, field, value
  //   ReadField: table, field, ref
  //   ProcessStructuredField: key, value, table, field, ref (+op)
  std::vector<std::string> args;
  FieldList fields;
  FilterExpr expr;
  StructuredOp op = StructuredOp::kAddSet;
};

struct Reply {
  CallName name = CallName::kGetTableFromRef;
  std::optional<std::string> option;  // GetTableFromRef, DbGetByUuidOpt
  bool flag = false;                  // IsValidRef
  std::vector<std::string> list;      // ReadRefs, FindRefs..., ReadFieldWhere, DbGetByNameLabel
  std::string text;                   // DbGetByUuid, ReadField
  Record record;                      // ReadRecord
  std::vector<std::pair<std::string, Record>> records;  // ReadRecordsWhere
  // The write calls (CreateRow, DeleteRow, WriteField, ProcessStructuredField)
  // return unit: nothing above is used.
};

}  // namespace xgdb::rpc

#endif  // XGDB_RPC_CALL_H_
