#include "rpc/call.h"

#include <cctype>

namespace xgdb::rpc {
namespace {

struct NameEntry {
  CallName name;
  const char* wire;
};

constexpr NameEntry kNames[] = {
    {CallName::kGetTableFromRef, "get_table_from_ref"},
    {CallName::kIsValidRef, "is_valid_ref"},
    {CallName::kReadRefs, "read_refs"},
    {CallName::kFindRefsWithFilter, "find_refs_with_filter"},
    {CallName::kReadFieldWhere, "read_field_where"},
    {CallName::kDbGetByUuid, "db_get_by_uuid"},
    {CallName::kDbGetByUuidOpt, "db_get_by_uuid_opt"},
    {CallName::kDbGetByNameLabel, "db_get_by_name_label"},
    {CallName::kCreateRow, "create_row"},
    {CallName::kDeleteRow, "delete_row"},
    {CallName::kWriteField, "write_field"},
    {CallName::kReadField, "read_field"},
    {CallName::kReadRecord, "read_record"},
    {CallName::kReadRecordsWhere, "read_records_where"},
    {CallName::kProcessStructuredField, "process_structured_field"},
};

struct OpEntry {
  StructuredOp op;
  const char* lower;
  const char* capitalized;
};

constexpr OpEntry kOps[] = {
    {StructuredOp::kAddSet, "addset", "AddSet"},
    {StructuredOp::kRemoveSet, "removeset", "RemoveSet"},
    {StructuredOp::kAddMap, "addmap", "AddMap"},
    {StructuredOp::kRemoveMap, "removemap", "RemoveMap"},
    {StructuredOp::kAddMapLegacy, "addmaplegacy", "AddMapLegacy"},
};

}  // namespace

ArgShape ArgShapeOf(CallName name) {
  switch (name) {
    case CallName::kFindRefsWithFilter:
    case CallName::kReadRecordsWhere: return ArgShape::kTableAndFilter;
    case CallName::kReadFieldWhere: return ArgShape::kWhere;
    case CallName::kCreateRow: return ArgShape::kCreateRow;
    case CallName::kProcessStructuredField: return ArgShape::kStructured;
    default: return ArgShape::kStrings;
  }
}

size_t StringArgCount(CallName name) {
  switch (name) {
    case CallName::kGetTableFromRef:
    case CallName::kIsValidRef:
    case CallName::kReadRefs: return 1;
    case CallName::kDbGetByUuid:
    case CallName::kDbGetByUuidOpt:
    case CallName::kDbGetByNameLabel:
    case CallName::kDeleteRow:
    case CallName::kReadRecord: return 2;
    case CallName::kReadField: return 3;
    case CallName::kWriteField: return 4;
    default: return 0;
  }
}

ReplyShape ReplyShapeOf(CallName name) {
  switch (name) {
    case CallName::kGetTableFromRef:
    case CallName::kDbGetByUuidOpt: return ReplyShape::kOption;
    case CallName::kIsValidRef: return ReplyShape::kFlag;
    case CallName::kReadRefs:
    case CallName::kFindRefsWithFilter:
    case CallName::kReadFieldWhere:
    case CallName::kDbGetByNameLabel: return ReplyShape::kList;
    case CallName::kDbGetByUuid:
    case CallName::kReadField: return ReplyShape::kText;
    case CallName::kReadRecord: return ReplyShape::kRecord;
    case CallName::kReadRecordsWhere: return ReplyShape::kRecords;
    case CallName::kCreateRow:
    case CallName::kDeleteRow:
    case CallName::kWriteField:
    case CallName::kProcessStructuredField: return ReplyShape::kUnit;
  }
  return ReplyShape::kUnit;
}

std::optional<StructuredOp> StructuredOpFromWire(std::string_view lower_case_name) {
  for (const OpEntry& e : kOps)
    if (lower_case_name == e.lower) return e.op;
  return std::nullopt;
}

const char* StructuredOpWireName(StructuredOp op, bool capitalized) {
  if (op == StructuredOp::kAddMapLegacy) op = StructuredOp::kAddMap;
  for (const OpEntry& e : kOps)
    if (e.op == op) return capitalized ? e.capitalized : e.lower;
  return capitalized ? "AddMap" : "addmap";
}

bool FilterValueTag(std::string_view lower_case_tag, bool* is_field) {
  if (lower_case_tag != "field" && lower_case_tag != "literal") return false;
  *is_field = lower_case_tag == "field";
  return true;
}

const char* WireName(CallName name) {
  for (const NameEntry& e : kNames)
    if (e.name == name) return e.wire;
  return "?";
}

std::optional<CallName> CallNameFromWire(std::string_view lower_case_name) {
  for (const NameEntry& e : kNames)
    if (lower_case_name == e.wire) return e.name;
  return std::nullopt;
}

std::string Capitalized(std::string_view name) {
  std::string out(name);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

}  // namespace xgdb::rpc
