// The schema loader: both shipped schemas, the vectors' small shape,
// relations filled from the top-level lists, and what is stored in git.
#include "xgdb/schema.h"

#include <gtest/gtest.h>

#include "support/paths.h"
#include "xgdb/error.h"

namespace xgdb {
namespace {

size_t ColumnCount(const Schema& s) {
  size_t n = 0;
  for (const Table& t : s.tables()) n += t.columns.size();
  return n;
}

TEST(SchemaTest, BuiltinVersionsAreListedOldestFirst) {
  EXPECT_EQ(Schema::BuiltinVersions(), (std::vector<std::string>{"5.82", "5.909"}));
  ASSERT_NE(Schema::Newest(), nullptr);
  EXPECT_EQ(Schema::Newest()->minor_version(), 909);
  EXPECT_EQ(Schema::Builtin(5, 909), Schema::Newest());
  EXPECT_EQ(Schema::Builtin(5, 1), nullptr);
}

TEST(SchemaTest, Newest5909HasAllTablesAndColumns) {
  auto s = Schema::Builtin(5, 909);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->major_version(), 5);
  EXPECT_EQ(s->tables().size(), 73u);
  EXPECT_EQ(ColumnCount(*s), 1023u);
  // Byte order: upper case before '_' before lower case.
  for (size_t i = 1; i < s->tables().size(); ++i) {
    EXPECT_LT(s->tables()[i - 1].name, s->tables()[i].name);
    EXPECT_EQ(s->tables()[i].index, static_cast<int>(i));
  }
  EXPECT_EQ(s->tables().front().name, "Bond");
  EXPECT_EQ(s->tables().back().name, "vdi_nbd_server_info");
}

TEST(SchemaTest, Old582HasAllTablesAndColumns) {
  auto s = Schema::Builtin(5, 82);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->tables().size(), 46u);
  EXPECT_EQ(ColumnCount(*s), 648u);
  const Table* vm = s->FindTable("VM");
  ASSERT_NE(vm, nullptr);
  const Column* vbds = vm->FindColumn("VBDs");
  ASSERT_NE(vbds, nullptr);
  EXPECT_EQ(vbds->relation, RelationSide::kOneToManySet);
}

TEST(SchemaTest, ColumnsKeepFileOrderAndProperties) {
  auto s = Schema::Newest();
  const Table* vm = s->FindTable("VM");
  ASSERT_NE(vm, nullptr);
  EXPECT_EQ(vm->columns[0].name, "_ref");
  EXPECT_EQ(vm->columns[1].name, "uuid");
  for (size_t i = 0; i < vm->columns.size(); ++i)
    EXPECT_EQ(vm->columns[i].index, static_cast<int>(i));
  const Column* ps = vm->FindColumn("power_state");
  ASSERT_NE(ps, nullptr);
  EXPECT_EQ(ps->type, ColumnType::kString);
  EXPECT_EQ(ps->default_value, std::optional<std::string>("Halted"));
  EXPECT_EQ(ps->empty, "Halted");
  const Column* oc = vm->FindColumn("other_config");
  ASSERT_NE(oc, nullptr);
  EXPECT_EQ(oc->type, ColumnType::kMap);
  EXPECT_FALSE(vm->FindColumn("uuid")->default_value.has_value());
  EXPECT_EQ(vm->FindColumn("nonexistent"), nullptr);
  EXPECT_EQ(s->FindTable("Vm"), nullptr);
}

TEST(SchemaTest, RelationsOfTheNewestSchema) {
  auto s = Schema::Newest();
  const Column* vbd_vm = s->FindTable("VBD")->FindColumn("VM");
  EXPECT_EQ(vbd_vm->relation, RelationSide::kOneToManyRef);
  EXPECT_EQ(vbd_vm->other_table, "VM");
  EXPECT_EQ(vbd_vm->other_field, "VBDs");
  const Column* vm_vbds = s->FindTable("VM")->FindColumn("VBDs");
  EXPECT_EQ(vm_vbds->relation, RelationSide::kOneToManySet);
  EXPECT_EQ(vm_vbds->other_table, "VBD");
  EXPECT_TRUE(vm_vbds->issetref);
  const Column* updates = s->FindTable("host")->FindColumn("updates");
  EXPECT_EQ(updates->relation, RelationSide::kManyToManyPrimary);
  EXPECT_EQ(updates->other_table, "pool_update");
  EXPECT_EQ(s->FindTable("pool_update")->FindColumn("hosts")->relation,
            RelationSide::kManyToManyMirror);
  // Relation counts of xapi-data-model.md 4.4.
  int refs = 0, sets = 0, primaries = 0;
  for (const Table& t : s->tables())
    for (const Column& c : t.columns) {
      refs += c.relation == RelationSide::kOneToManyRef;
      sets += c.relation == RelationSide::kOneToManySet;
      primaries += c.relation == RelationSide::kManyToManyPrimary;
    }
  EXPECT_EQ(refs, 55);
  EXPECT_EQ(sets, 55);
  EXPECT_EQ(primaries, 8);
}

TEST(SchemaTest, StoredExcludesDerivedAndNonPersistent) {
  auto s = Schema::Newest();
  const Table* vm = s->FindTable("VM");
  EXPECT_TRUE(vm->Stored(*vm->FindColumn("name__label")));
  EXPECT_FALSE(vm->Stored(*vm->FindColumn("VBDs")));  // one-to-many Set side
  const Table* pvs = s->FindTable("PVS_site");
  const Column* cache = pvs->FindColumn("cache_storage");
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(cache->persistent);  // xapi saves it, but rebuilds it on load
  EXPECT_FALSE(pvs->Stored(*cache));
  const Table* session = s->FindTable("session");
  ASSERT_NE(session, nullptr);
  EXPECT_FALSE(session->persistent);
  EXPECT_FALSE(session->Stored(*session->FindColumn("uuid")));
  const Table* host = s->FindTable("host");
  EXPECT_TRUE(host->Stored(*host->FindColumn("updates")));  // many-to-many: stored
}

TEST(SchemaTest, RemovedColumnsAreKeptAndMarked) {
  auto s = Schema::Newest();
  const Column* c = s->FindTable("VM")->FindColumn("is_snapshot_from_vmpp");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->removed);
  EXPECT_EQ(c->default_value, std::optional<std::string>("false"));
  EXPECT_FALSE(s->FindTable("VM")->FindColumn("name__label")->removed);
  int removed = 0;
  for (const Table& t : s->tables())
    for (const Column& col : t.columns) removed += col.removed;
  EXPECT_EQ(removed, 38);
}

TEST(SchemaTest, VectorsFixtureShape) {
  auto s = Schema::LoadFile(test::DataPath("vectors/fixture-schema.json"));
  EXPECT_EQ(s->major_version(), 1);
  ASSERT_EQ(s->tables().size(), 2u);
  EXPECT_EQ(s->tables()[0].name, "VBD");  // sorted
  EXPECT_EQ(s->tables()[1].name, "VM");
  const Table* vm = s->FindTable("VM");
  EXPECT_EQ(vm->columns.size(), 8u);
  EXPECT_EQ(vm->columns[3].name, "VBDs");
  EXPECT_EQ(vm->FindColumn("VBDs")->type, ColumnType::kSet);
  EXPECT_EQ(vm->FindColumn("other_config")->type, ColumnType::kMap);
  EXPECT_FALSE(vm->FindColumn("other_config")->persistent);
  EXPECT_FALSE(vm->FindColumn("name__label")->default_value.has_value());
  EXPECT_EQ(vm->FindColumn("VBDs")->relation, RelationSide::kOneToManySet);
  EXPECT_EQ(vm->FindColumn("VBDs")->other_table, "VBD");
  EXPECT_EQ(vm->FindColumn("VBDs")->other_field, "VM");
  const Column* vbd_vm = s->FindTable("VBD")->FindColumn("VM");
  EXPECT_EQ(vbd_vm->relation, RelationSide::kOneToManyRef);
  EXPECT_EQ(vbd_vm->other_table, "VM");
  EXPECT_EQ(vbd_vm->other_field, "VBDs");
  EXPECT_NE(s->json_text().find("test_schemas"), std::string::npos);
}

TEST(SchemaTest, PairsTypeAndManyToManyFromTopLevelList) {
  auto s = Schema::FromJson(R"({"schema_major_vsn": 1, "schema_minor_vsn": 2, "tables": [
    {"name": "foo", "columns": [{"name": "bars", "type": "Set"}, {"name": "m", "type": "Pairs"}]},
    {"name": "bar", "columns": [{"name": "foos", "type": "Set"}]}],
    "many_to_many": [{"table": "foo", "field": "bars", "other_table": "bar", "other_field": "foos"}]})");
  const Table* foo = s->FindTable("foo");
  EXPECT_EQ(foo->FindColumn("m")->type, ColumnType::kMap);
  EXPECT_EQ(foo->FindColumn("bars")->relation, RelationSide::kManyToManyPrimary);
  EXPECT_EQ(s->FindTable("bar")->FindColumn("foos")->relation, RelationSide::kManyToManyMirror);
  EXPECT_TRUE(foo->persistent);
  EXPECT_EQ(s->minor_version(), 2);
}

TEST(SchemaTest, BadInputIsRefusedWithInvalidArgument) {
  auto expect_bad = [](const std::string& json) {
    try {
      Schema::FromJson(json);
      ADD_FAILURE() << "accepted: " << json;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << json;
    }
  };
  expect_bad("not json");
  expect_bad("[]");
  expect_bad(R"({"schema_minor_vsn": 1, "tables": []})");
  expect_bad(R"({"schema_major_vsn": 1, "schema_minor_vsn": 1})");
  expect_bad(R"({"schema_major_vsn": 1, "schema_minor_vsn": 1, "tables": [
    {"name": "t", "columns": [{"name": "c", "type": "Integer"}]}]})");
  expect_bad(R"({"schema_major_vsn": 1, "schema_minor_vsn": 1, "tables": [
    {"name": "t", "columns": [{"name": "c", "type": "String"}, {"name": "c", "type": "Set"}]}]})");
  expect_bad(R"({"schema_major_vsn": 1, "schema_minor_vsn": 1, "tables": [
    {"name": "t", "columns": [{"name": "c", "type": "String"}]}],
    "one_to_many": [{"table": "t", "field": "c", "target_table": "u", "target_field": "x"}]})");
  EXPECT_THROW(Schema::LoadFile("/nonexistent/schema.json"), Error);
}

}  // namespace
}  // namespace xgdb
