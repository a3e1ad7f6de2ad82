// One body of xapi's protocol, as a member would send it, run against a
// fresh copy of the fixture database: whatever the bytes, the dispatcher
// answers (200 with a body, or 500 with a reason) and never crashes.
#ifndef XGDB_TESTS_FUZZ_RPC_REQUEST_FUZZ_H_
#define XGDB_TESTS_FUZZ_RPC_REQUEST_FUZZ_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "rpc/dispatcher.h"

namespace xgdb::fuzz {

inline void RunRequest(rpc::ProtocolVersion version, const uint8_t* data, size_t size) {
  std::unique_ptr<Database> db = Fixture().Clone();
  std::string_view body(reinterpret_cast<const char*>(data), size);
  rpc::RpcResult result = rpc::Dispatcher::HandleOn(*db, version, body);
  Require(result.status == 200 ? !result.body.empty() : !result.error.empty(),
          "an answer is a body or a reason");
}

}  // namespace xgdb::fuzz

#endif  // XGDB_TESTS_FUZZ_RPC_REQUEST_FUZZ_H_
