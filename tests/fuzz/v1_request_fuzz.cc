// The v1 (XML) request reader and the calls it leads to.
#include "rpc_request_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  xgdb::fuzz::RunRequest(xgdb::rpc::ProtocolVersion::kV1, data, size);
  return 0;
}
