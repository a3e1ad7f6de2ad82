// v2 (JSON) bodies of xapi's remote database protocol (spec section 3):
// rpclib's [@@deriving rpc] encoding of Db_rpc_common_v2.Request.t and
// Response.t, printed by Jsonrpc.to_string. No JSON-RPC envelope.
//
//   request:  ["Read_refs","VM"]        success: ["Read_refs",["OpaqueRef:a"]]
//   failure:  ["Dbcache_notfound","missing table","Vm",""]   (error_codec.h)
#ifndef XGDB_RPC_V2_CODEC_H_
#define XGDB_RPC_V2_CODEC_H_

#include <string>
#include <string_view>
#include <vector>

#include "rpc/call.h"

namespace xgdb::rpc {

// Constructor names, record keys and op names are matched case-insensitively
// (rpclib lower-cases them), unknown record keys are ignored, arity and JSON
// types must match exactly. Throws Error(kBadRequest) where xapi gives 500.
Call DecodeV2Request(std::string_view body);

std::string EncodeV2Reply(const Reply& reply);
// ["Name", p1, p2, ...] with the name given as printed ("Dbcache_notfound").
std::string EncodeV2Failure(const std::string& name, const std::vector<std::string>& params);

// Builds a request body the way xapi's v2 client does (AddMapLegacy is sent
// as AddMap, like Request.rpc_of_t); for tests and tools.
std::string EncodeV2Request(const Call& call);

}  // namespace xgdb::rpc

#endif  // XGDB_RPC_V2_CODEC_H_
