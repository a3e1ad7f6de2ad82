// The one place where an xgdb::Error becomes a wire answer.
//
// The in-band kinds become a 200 failure body with xapi's exception name and
// parameters (spec 2.6 / 3.5):
//
//   kind              v1 name                          v2 constructor
//   kNotFound         dbcache_notfound                 Dbcache_notfound
//   kDuplicateKey     duplicate_key_of                 Duplicate_key_of
//   kUniqueness       uniqueness_constraint_violation  Uniqueness_constraint_violation
//   kReadMissingUuid  read_missing_uuid                Read_missing_uuid
//   kTooManyValues    too_many_values                  Too_many_values
//
// Every other kind (and an in-band kind with the wrong number of arguments,
// which would be a bug) is something xapi's protocol cannot carry: HTTP 500
// with an empty body and the reason in RpcResult::error.
#ifndef XGDB_RPC_ERROR_CODEC_H_
#define XGDB_RPC_ERROR_CODEC_H_

#include <optional>
#include <string>
#include <vector>

#include "rpc/dispatcher.h"
#include "xgdb/error.h"

namespace xgdb::rpc {

struct WireFailure {
  std::string v1_name;  // "dbcache_notfound"
  std::vector<std::string> params;
  std::string v2_name() const;  // "Dbcache_notfound"
};

// The failure xapi would send for `error`, or nullopt when it sends 500.
std::optional<WireFailure> ToWireFailure(const Error& error);

// The complete answer for `error` in protocol `version`.
RpcResult ErrorResult(ProtocolVersion version, const Error& error);

}  // namespace xgdb::rpc

#endif  // XGDB_RPC_ERROR_CODEC_H_
