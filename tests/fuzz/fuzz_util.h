// What the fuzz targets share: a property that must hold (a violation is a
// crash libFuzzer reports and keeps), and the test data.
#ifndef XGDB_TESTS_FUZZ_FUZZ_UTIL_H_
#define XGDB_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "xgdb/database.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"

namespace xgdb::fuzz {

inline void Require(bool holds, const char* what) {
  if (!holds) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

inline std::string VectorsDir() { return std::string(XGDB_TEST_DATA_DIR) + "/vectors/"; }

// The wire vectors' fixture schema and database (tests/data/vectors/), read
// once.
inline std::shared_ptr<const Schema> FixtureSchema() {
  static std::shared_ptr<const Schema> schema =
      Schema::LoadFile(VectorsDir() + "fixture-schema.json");
  return schema;
}
inline const Database& Fixture() {
  static std::unique_ptr<Database> db =
      ReadStateDbFile(VectorsDir() + "fixture-state.db", FixtureSchema());
  return *db;
}

}  // namespace xgdb::fuzz

#endif  // XGDB_TESTS_FUZZ_FUZZ_UTIL_H_
