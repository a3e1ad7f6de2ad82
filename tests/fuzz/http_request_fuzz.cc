// The HTTP request head reader (FRAME prefix, PROXY line, xapi's limits):
// whatever the bytes, it says more, head, too large or malformed, and a
// head it accepts lies within the bytes it was given.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "server/request_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using xgdb::fuzz::Require;
  using Status = xgdb::server::RequestReader::Status;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (size_t limit : {size_t{1024}, size_t{16384}}) {
    for (bool connection_start : {true, false}) {
      xgdb::server::RequestReader reader(limit);
      Status status = reader.Parse(bytes, connection_start);
      if (status == Status::kHead) {
        Require(reader.head_bytes() <= size, "the head lies within the buffer");
        Require(connection_start || reader.proxy().empty(), "PROXY only at the start");
        Require(reader.head().path.size() <= reader.head().target.size(),
                "the path is part of the target");
      }
    }
  }
  return 0;
}
