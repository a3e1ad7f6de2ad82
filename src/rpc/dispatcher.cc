#include "rpc/dispatcher.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <new>

#include "rpc/call.h"
#include "rpc/error_codec.h"
#include "rpc/v1_codec.h"
#include "rpc/v2_codec.h"
#include "xgdb/error.h"

namespace xgdb::rpc {
namespace {

// Runs `call` on `db`. Database errors (xgdb::Error) propagate.
Reply Execute(Database& db, const Call& call) {
  Reply r;
  r.name = call.name;
  const std::vector<std::string>& a = call.args;
  switch (call.name) {
    case CallName::kGetTableFromRef: r.option = db.GetTableFromRef(a[0]); break;
    case CallName::kIsValidRef: r.flag = db.IsValidRef(a[0]); break;
    case CallName::kReadRefs: r.list = db.ReadRefs(a[0]); break;
    case CallName::kFindRefsWithFilter: r.list = db.FindRefsWithFilter(a[0], call.expr); break;
    case CallName::kReadFieldWhere: r.list = db.ReadFieldWhere(a[0], a[1], a[2], a[3]); break;
    case CallName::kDbGetByUuid: r.text = db.DbGetByUuid(a[0], a[1]); break;
    case CallName::kDbGetByUuidOpt: r.option = db.DbGetByUuidOpt(a[0], a[1]); break;
    case CallName::kDbGetByNameLabel: r.list = db.DbGetByNameLabel(a[0], a[1]); break;
    case CallName::kCreateRow: db.CreateRow(a[0], call.fields, a[1]); break;
    case CallName::kDeleteRow: db.DeleteRow(a[0], a[1]); break;
    case CallName::kWriteField: db.WriteField(a[0], a[1], a[2], a[3]); break;
    case CallName::kReadField: r.text = db.ReadField(a[0], a[1], a[2]); break;
    case CallName::kReadRecord: r.record = db.ReadRecord(a[0], a[1]); break;
    case CallName::kReadRecordsWhere: r.records = db.ReadRecordsWhere(a[0], call.expr); break;
    case CallName::kProcessStructuredField:
      db.ProcessStructuredField(a[0], a[1], a[2], a[3], a[4], call.op);
      break;
  }
  return r;
}

}  // namespace

RpcResult Dispatcher::HandleOn(Database& db, ProtocolVersion version, std::string_view body) {
  const char* name = "";
  RpcResult result;
  try {
    Call call = version == ProtocolVersion::kV1 ? DecodeV1Request(body) : DecodeV2Request(body);
    name = WireName(call.name);
    Reply reply = Execute(db, call);
    result.body = version == ProtocolVersion::kV1 ? EncodeV1Reply(reply) : EncodeV2Reply(reply);
  } catch (const Error& e) {
    result = ErrorResult(version, e);
  } catch (const std::bad_alloc&) {
    result = RpcResult{500, "", "out of memory"};
  } catch (const std::exception& e) {
    // Not ours (a library or a bug): xapi would also answer an unexpected
    // exception with 500, and the slave retries.
    result = RpcResult{500, "", std::string("internal error: ") + e.what()};
  }
  result.call = name;
  return result;
}

namespace {

// Whether a body names a write call anywhere (any case): reads, most of
// the traffic, are told apart without a second decode.
bool MayBeWrite(std::string_view body) {
  auto same = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == static_cast<unsigned char>(b);
  };
  for (std::string_view name : {"write_field", "create_row", "delete_row",
                                "process_structured_field"}) {
    if (std::search(body.begin(), body.end(), name.begin(), name.end(), same) != body.end()) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<Call> DecodeWrite(ProtocolVersion version, std::string_view body) {
  if (!MayBeWrite(body)) return std::nullopt;
  std::optional<Call> call;
  try {
    call = version == ProtocolVersion::kV1 ? DecodeV1Request(body) : DecodeV2Request(body);
  } catch (const Error&) {
    return std::nullopt;
  }
  switch (call->name) {
    case CallName::kCreateRow:
    case CallName::kDeleteRow:
    case CallName::kWriteField:
    case CallName::kProcessStructuredField: return call;
    default: return std::nullopt;
  }
}

std::pair<std::string, std::string> RowWritten(const Call& write) {
  const std::vector<std::string>& a = write.args;
  if (write.name == CallName::kProcessStructuredField) return {a[2], a[4]};
  return {a[0], a[1]};
}

}  // namespace xgdb::rpc
