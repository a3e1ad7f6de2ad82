#include "rpc/error_codec.h"

#include "rpc/call.h"
#include "rpc/v1_codec.h"
#include "rpc/v2_codec.h"

namespace xgdb::rpc {

std::string WireFailure::v2_name() const { return Capitalized(v1_name); }

std::optional<WireFailure> ToWireFailure(const Error& error) {
  const char* name = nullptr;
  size_t arity = 0;
  switch (error.kind()) {
    case ErrorKind::kNotFound: name = "dbcache_notfound"; arity = 3; break;
    case ErrorKind::kDuplicateKey: name = "duplicate_key_of"; arity = 4; break;
    case ErrorKind::kUniqueness: name = "uniqueness_constraint_violation"; arity = 3; break;
    case ErrorKind::kReadMissingUuid: name = "read_missing_uuid"; arity = 3; break;
    case ErrorKind::kTooManyValues: name = "too_many_values"; arity = 3; break;
    default: return std::nullopt;  // xapi raises an exception nothing encodes
  }
  if (error.args().size() != arity) return std::nullopt;
  return WireFailure{name, error.args()};
}

RpcResult ErrorResult(ProtocolVersion version, const Error& error) {
  std::optional<WireFailure> failure = ToWireFailure(error);
  if (!failure) return RpcResult{500, "", error.what()};
  RpcResult result;
  result.body = version == ProtocolVersion::kV1
                    ? EncodeV1Failure(failure->v1_name, failure->params)
                    : EncodeV2Failure(failure->v2_name(), failure->params);
  result.failed = true;
  return result;
}

}  // namespace xgdb::rpc
