// One decoded call of xapi's remote database protocol and its result, the
// same for v1 and v2 (the two differ only in encoding, spec 4): the codecs
// turn bodies into a Call and a Reply into a body; the Dispatcher runs a
// Call on the Database.
#ifndef XGDB_RPC_CALL_H_
#define XGDB_RPC_CALL_H_

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
