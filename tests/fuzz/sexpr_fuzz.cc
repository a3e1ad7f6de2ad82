// The S-expression codec of sets and maps: text it accepts prints
// canonically, and the canonical print parses back to the same members.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "schema/sexpr.h"
#include "xgdb/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xgdb;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto set = sexpr::ParseSet(text);
    std::string printed = sexpr::PrintSet(set);
    fuzz::Require(sexpr::ParseSet(printed) == set, "a set prints and parses back");
    fuzz::Require(sexpr::Canonical(text, false) == printed, "Canonical is the print");
  } catch (const Error&) {
  }
  try {
    auto map = sexpr::ParseMap(text);
    std::string printed = sexpr::PrintMap(map);
    fuzz::Require(sexpr::ParseMap(printed) == map, "a map prints and parses back");
  } catch (const Error&) {
  }
  return 0;
}
