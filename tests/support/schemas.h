// Small schemas more than one test file builds its databases on.
#ifndef XGDB_TESTS_SUPPORT_SCHEMAS_H_
#define XGDB_TESTS_SUPPORT_SCHEMAS_H_

#include <memory>

#include "xgdb/schema.h"

namespace xgdb::test {

// Two tables linked many-to-many: foo.bars (primary) and bar.foos (mirror),
// both Set(Ref) with default "()".
std::shared_ptr<const Schema> FooBarManyToManySchema();

}  // namespace xgdb::test

#endif  // XGDB_TESTS_SUPPORT_SCHEMAS_H_
