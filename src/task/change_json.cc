#include "task/change_json.h"

#include "merge/merge_commit.h"

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

std::string TaskTrailer(const std::string& message) {
  std::string found;
  size_t pos = 0;
  while ((pos = message.find("\nTask: ", pos)) != std::string::npos) {
    pos += 7;
    found = message.substr(pos, message.find('\n', pos) - pos);
  }
  return found;
}

nlohmann::json CommitJson(const CommitInfo& c) {
  return {{"id", c.id},
          {"parents", c.parents},
          {"author", c.author_name},
          {"email", c.author_email},
          {"time", c.time},
          {"host", merge::HostTrailer(c.message)},
          {"task", TaskTrailer(c.message)},
          {"message", c.message}};
}

}  // namespace xgdb::task
