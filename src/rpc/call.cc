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

}  // namespace

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
