#include "support/schemas.h"

namespace xgdb::test {

std::shared_ptr<const Schema> FooBarManyToManySchema() {
  return Schema::FromJson(R"J({"schema_major_vsn": 1, "schema_minor_vsn": 1, "tables": [
    {"name": "foo", "columns": [{"name": "_ref", "type": "String"}, {"name": "uuid", "type": "String"},
      {"name": "bars", "type": "Set", "default": "()", "issetref": true}]},
    {"name": "bar", "columns": [{"name": "_ref", "type": "String"}, {"name": "uuid", "type": "String"},
      {"name": "foos", "type": "Set", "default": "()", "issetref": true}]}],
    "many_to_many": [{"table": "foo", "field": "bars", "other_table": "bar", "other_field": "foos"}]})J");
}

}  // namespace xgdb::test
