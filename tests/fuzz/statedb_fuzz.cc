// xapi's state.db reader (what `import` reads): a document is either
// refused with an error or read into a database whose own state.db reads
// back to the same rows.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "xgdb/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xgdb;
  std::string text(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<Database> db;
  try {
    db = ParseStateDb(text, fuzz::FixtureSchema());
  } catch (const Error&) {
    return 0;  // refused, as it should be when it is not a state.db
  }
  std::unique_ptr<Database> again = ParseStateDb(FormatStateDb(*db, 1), fuzz::FixtureSchema());
  fuzz::Require(again->TotalRows() == db->TotalRows(), "a written state.db reads back whole");
  return 0;
}
