#include "statedb/removed_columns.h"

#include <nlohmann/json.hpp>

namespace xgdb::statedb {

RemovedColumns FindRemovedColumns(const Schema& schema) {
  RemovedColumns removed(schema.tables().size());
  for (const Table& t : schema.tables()) removed[t.index].assign(t.columns.size(), false);
  if (schema.json_text().empty()) return removed;
  nlohmann::json doc = nlohmann::json::parse(schema.json_text(), nullptr,
                                             /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("tables") || !doc["tables"].is_array()) {
    return removed;
  }
  for (const auto& jt : doc["tables"]) {
    if (!jt.is_object() || !jt.contains("name") || !jt["name"].is_string()) continue;
    const Table* t = schema.FindTable(jt["name"].get<std::string>());
    if (t == nullptr || !jt.contains("columns") || !jt["columns"].is_array()) continue;
    for (const auto& jc : jt["columns"]) {
      if (!jc.is_object() || !jc.contains("name") || !jc["name"].is_string()) continue;
      auto lc = jc.find("lifecycle");
      if (lc == jc.end() || !lc->is_string() || lc->get<std::string>() != "Removed") continue;
      const Column* c = t->FindColumn(jc["name"].get<std::string>());
      if (c != nullptr) removed[t->index][c->index] = true;
    }
  }
  return removed;
}

}  // namespace xgdb::statedb
