// Replication messages from peers (proto/peer.md): refused with an error, or
// decoded into heads and ids of the right shape that encode back to a
// message decoding to the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "replica/peer_message.h"
#include "xgdb/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xgdb;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  replica::PeerMessage m;
  try {
    m = replica::DecodePeerMessage(bytes);
  } catch (const Error&) {
    return 0;
  }
  for (const auto& [host, head] : m.heads) {
    fuzz::Require(head.size() == 40, "a head is 40 hex digits");
    fuzz::Require(host.find('/') == std::string::npos && host != ".." && !host.empty(),
                  "a host uuid names no path");
  }
  replica::PeerMessage again = replica::DecodePeerMessage(replica::EncodePeerMessage(m));
  fuzz::Require(again.heads == m.heads && again.pack == m.pack && again.call == m.call,
                "a message encodes back to itself");
  return 0;
}
