// The name codec (names from the wire become tree entry names): every name
// encodes to one safe entry name, inline (decoding back exactly) or hashed
// (long names), and any entry name decodes only when it is what the codec
// writes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "store/name_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xgdb;
  std::string name(reinterpret_cast<const char*>(data), size);
  std::string entry = store::EncodeName(name);
  fuzz::Require(!entry.empty() && entry != "." && entry != "..", "an entry name git takes");
  fuzz::Require(entry.find('/') == std::string::npos && entry.find('\0') == std::string::npos,
                "no separator or NUL");
  if (store::IsHashedName(entry)) {  // long: the raw name is kept beside it
    fuzz::Require(entry == store::HashedName(name), "a hashed name is the raw name's id");
    fuzz::Require(store::EscapeName(name).size() > store::kMaxInlineName, "only long names hash");
  } else {
    std::optional<std::string> back = store::DecodeName(entry);
    fuzz::Require(back && *back == name, "an inline name decodes back exactly");
  }
  if (std::optional<std::string> decoded = store::DecodeName(name)) {
    fuzz::Require(store::EncodeName(*decoded) == name, "only the codec's own names decode");
  }
  return 0;
}
