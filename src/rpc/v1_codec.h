// v1 (XML) bodies of xapi's remote database protocol (spec section 2).
//
//   request:  A[ S(function_name), <ignored>, ARGS ]
//   success:  A[ S("success"), RESULT ]
//   failure:  A[ S("failure"), A[ S(name), PARAMS ] ]   (error_codec.h)
#ifndef XGDB_RPC_V1_CODEC_H_
#define XGDB_RPC_V1_CODEC_H_

#include <string>
#include <string_view>
#include <vector>

#include "rpc/call.h"

namespace xgdb::rpc {

// Throws Error(kBadRequest) for anything xapi's v1 server answers with 500:
// bad XML, not a 3-element array, unknown function, wrong argument shapes,
// unknown structured op or filter tag.
Call DecodeV1Request(std::string_view body);

std::string EncodeV1Reply(const Reply& reply);
// A[ S("failure"), A[ S(name), S(p1), ... ] ].
std::string EncodeV1Failure(const std::string& name, const std::vector<std::string>& params);

// Builds a request body the way xapi's v1 client does (for tests and tools).
std::string EncodeV1Request(const Call& call);

}  // namespace xgdb::rpc

#endif  // XGDB_RPC_V1_CODEC_H_
