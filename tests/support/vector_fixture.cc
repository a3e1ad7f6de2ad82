// The fixture half of support/vectors.h: kept apart from the case reader so
// that tests of the codecs alone do not link the Database.
#include "support/paths.h"
#include "support/vectors.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"

namespace xgdb::test {

std::shared_ptr<const Schema> VectorSchema() {
  return Schema::FromJson(ReadFile(VectorPath("fixture-schema.json")));
}

std::unique_ptr<Database> LoadVectorFixture() {
  return ParseStateDb(ReadFile(VectorPath("fixture-state.db")), VectorSchema());
}

std::unique_ptr<Database> BuildVectorFixtureByCreateRow() {
  auto db = std::make_unique<Database>(VectorSchema());
  auto vm = [&db](const std::string& ref, const std::string& uuid, const std::string& label,
                  const std::string& description, const std::string& policy,
                  const std::string& tags) {
    db->CreateRow("VM",
                  {{"uuid", uuid},
                   {"name__label", label},
                   {"name__description", description},
                   {"protection_policy", policy},
                   {"tags", tags},
                   {"other_config", "()"}},
                  ref);
  };
  vm("OpaqueRef:vm1", "aaaaaaaa-0000-0000-0000-000000000001", "alpha", "first VM",
     "OpaqueRef:NULL", "('red' 'blue')");
  vm("OpaqueRef:vm2", "aaaaaaaa-0000-0000-0000-000000000002", "beta", "", "OpaqueRef:NULL",
     "()");
  vm("OpaqueRef:vm3", "aaaaaaaa-0000-0000-0000-000000000003", "alpha", "it%s third",
     "OpaqueRef:pp1", "('it\\'s')");
  auto vbd = [&db](const std::string& ref, const std::string& uuid, const std::string& vm_ref,
                   const std::string& type) {
    db->CreateRow("VBD", {{"uuid", uuid}, {"VM", vm_ref}, {"type", type}}, ref);
  };
  vbd("OpaqueRef:vbd1", "bbbbbbbb-0000-0000-0000-000000000001", "OpaqueRef:vm1", "Disk");
  vbd("OpaqueRef:vbd2", "bbbbbbbb-0000-0000-0000-000000000002", "OpaqueRef:vm1", "CD");
  vbd("OpaqueRef:vbd3", "bbbbbbbb-0000-0000-0000-000000000003", "OpaqueRef:NULL", "Disk");
  return db;
}

std::string DumpDatabase(const Database& db) {
  std::string out;
  for (const Table& table : db.schema().tables()) {
    out += "table " + table.name + "\n";
    for (const std::string& ref : db.ReadRefs(table.name)) {
      out += " row " + ref + "\n";
      Record r = db.ReadRecord(table.name, ref);
      for (const auto& [field, value] : r.fields) out += "  " + field + "=" + value + "\n";
      for (const auto& [field, refs] : r.set_refs) {
        out += "  setref " + field + ":";
        for (const std::string& x : refs) out += " " + x;
        out += "\n";
      }
    }
  }
  return out;
}

}  // namespace xgdb::test
