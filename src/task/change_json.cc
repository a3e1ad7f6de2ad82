#include "task/change_json.h"

namespace xgdb::task {

const char* ChangeKindName(FieldChange::Kind kind) {
  switch (kind) {
    case FieldChange::Kind::kRowAdded: return "row added";
    case FieldChange::Kind::kRowRemoved: return "row removed";
    case FieldChange::Kind::kAdded: return "added";
    case FieldChange::Kind::kRemoved: return "removed";
    case FieldChange::Kind::kModified: return "modified";
  }
  return "modified";
}

nlohmann::json ChangeJson(const FieldChange& c) {
  return {{"kind", ChangeKindName(c.kind)}, {"table", c.table},   {"ref", c.ref},
          {"field", c.field},               {"old", c.old_value}, {"new", c.new_value}};
}

}  // namespace xgdb::task
