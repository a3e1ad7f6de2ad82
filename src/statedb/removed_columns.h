// Which columns of a schema xapi's datamodel marks `lifecycle: Removed`.
//
// xapi skips such a column's value when it reads a state.db and lets the
// generic upgrade give it its default (xapi-data-model.md 1.6 step 1). The
// flag is in the schema JSON (newest file only) but not in xgdb::Column, so
// it is read here from Schema::json_text() rather than widening the contract.
#ifndef XGDB_STATEDB_REMOVED_COLUMNS_H_
#define XGDB_STATEDB_REMOVED_COLUMNS_H_

#include <vector>

#include "xgdb/schema.h"

namespace xgdb::statedb {

// removed[table.index][column.index] is true for a Removed column. Tables
// and columns the JSON does not describe are false.
using RemovedColumns = std::vector<std::vector<bool>>;
RemovedColumns FindRemovedColumns(const Schema& schema);

}  // namespace xgdb::statedb

#endif  // XGDB_STATEDB_REMOVED_COLUMNS_H_
