// The in-memory image against remote-db-protocol.md section 4 and the
// scenarios of section 5, on the vectors' fixture (loaded like xapi does).
#include "xgdb/database.h"

#include <gtest/gtest.h>

#include <thread>

#include "support/paths.h"
#include "support/schemas.h"
#include "xgdb/error.h"

namespace xgdb {
namespace {

using Strings = std::vector<std::string>;

std::shared_ptr<const Schema> FixtureSchema() {
  static auto schema = Schema::LoadFile(test::DataPath("vectors/fixture-schema.json"));
  return schema;
}

// tests/data/vectors/fixture-state.db, as its rows read after unprotecting.
void LoadFixtureRows(Database& db) {
  db.LoadRow("VBD", "OpaqueRef:vbd1",
             {{"VM", "OpaqueRef:vm1"}, {"_ref", "OpaqueRef:vbd1"}, {"type", "Disk"},
              {"uuid", "bbbbbbbb-0000-0000-0000-000000000001"}});
  db.LoadRow("VBD", "OpaqueRef:vbd2",
             {{"VM", "OpaqueRef:vm1"}, {"_ref", "OpaqueRef:vbd2"}, {"type", "CD"},
              {"uuid", "bbbbbbbb-0000-0000-0000-000000000002"}});
  db.LoadRow("VBD", "OpaqueRef:vbd3",
             {{"VM", "OpaqueRef:NULL"}, {"_ref", "OpaqueRef:vbd3"}, {"type", "Disk"},
              {"uuid", "bbbbbbbb-0000-0000-0000-000000000003"}});
  db.LoadRow("VM", "OpaqueRef:vm1",
             {{"VBDs", "('OpaqueRef:vbd1')"}, {"_ref", "OpaqueRef:vm1"},
              {"name__description", "first VM"}, {"name__label", "alpha"},
              {"other_config", "(('lost' 'on load'))"}, {"protection_policy", "OpaqueRef:NULL"},
              {"tags", "('red' 'blue')"}, {"uuid", "aaaaaaaa-0000-0000-0000-000000000001"}});
  db.LoadRow("VM", "OpaqueRef:vm2",
             {{"VBDs", "()"}, {"_ref", "OpaqueRef:vm2"}, {"name__description", ""},
              {"name__label", "beta"}, {"other_config", "()"},
              {"protection_policy", "OpaqueRef:NULL"}, {"tags", "()"},
              {"uuid", "aaaaaaaa-0000-0000-0000-000000000002"}});
  db.LoadRow("VM", "OpaqueRef:vm3",
             {{"VBDs", "()"}, {"_ref", "OpaqueRef:vm3"}, {"name__description", "it%s third"},
              {"name__label", "alpha"}, {"other_config", "()"},
              {"protection_policy", "OpaqueRef:pp1"}, {"tags", "('it\\'s')"},
              {"uuid", "aaaaaaaa-0000-0000-0000-000000000003"}});
  db.FinishLoad();
}

class DatabaseTest : public ::testing::Test {
 protected:
  DatabaseTest() : db_(FixtureSchema()) { LoadFixtureRows(db_); }

  std::string Field(const std::string& table, const std::string& field, const std::string& ref) {
    return db_.ReadField(table, field, ref);
  }
  // A VM row with every required field.
  FieldList Vm(const std::string& uuid, const std::string& label = "g") {
    return {{"uuid", uuid}, {"name__label", label}, {"name__description", ""},
            {"tags", "()"}, {"other_config", "()"}};
  }
  Database db_;
};

template <typename Fn>
Error Catch(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error raised";
  return Error(ErrorKind::kIo, "none");
}

void ExpectError(const Error& e, ErrorKind kind, const Strings& args = {}) {
  EXPECT_EQ(e.kind(), kind) << e.what();
  if (!args.empty()) {
    EXPECT_EQ(e.args(), args) << e.what();
  }
}

FilterExpr Eq(const std::string& field, const std::string& literal) {
  FilterExpr e;
  e.op = FilterExpr::Op::kEq;
  e.lhs = {true, field};
  e.rhs = {false, literal};
  return e;
}
FilterExpr Op(FilterExpr::Op op, std::vector<FilterExpr> children = {}) {
  FilterExpr e;
  e.op = op;
  e.children = std::move(children);
  return e;
}

// ---------------------------------------------------------------- loading

// A repository keeps create_row's exact set text (%verbatim), so loading
// keeps it too; filters still compare the canonical form.
TEST(DatabaseLoad, SetTextIsKeptAsGivenAndFiltersCompareItCanonically) {
  Database db(FixtureSchema());
  db.LoadRow("VM", "OpaqueRef:vm9",
             {{"_ref", "OpaqueRef:vm9"}, {"name__description", ""}, {"name__label", "g"},
              {"other_config", "()"}, {"protection_policy", "OpaqueRef:NULL"},
              {"tags", "( \"x\"   'y' )"}, {"uuid", "u-9"}});
  db.FinishLoad();
  EXPECT_EQ(db.ReadField("VM", "tags", "OpaqueRef:vm9"), "( \"x\"   'y' )");
  EXPECT_EQ(db.FindRefsWithFilter("VM", Eq("tags", "('x' 'y')")),
            std::vector<std::string>{"OpaqueRef:vm9"});
  EXPECT_TRUE(db.FindRefsWithFilter("VM", Eq("tags", "( \"x\"   'y' )")).empty());
}

TEST_F(DatabaseTest, LoadRebuildsSetRefsAndResetsNonPersistent) {
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm1"), "('OpaqueRef:vbd2' 'OpaqueRef:vbd1')");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm2"), "()");
  EXPECT_EQ(Field("VM", "other_config", "OpaqueRef:vm1"), "()");
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm1"), "('red' 'blue')");
  EXPECT_EQ(db_.TotalRows(), 6u);
  EXPECT_EQ(db_.RowCount("VBD"), 3u);
  EXPECT_EQ(db_.FindUuid("bbbbbbbb-0000-0000-0000-000000000002"),
            std::make_pair(std::string("VBD"), std::string("OpaqueRef:vbd2")));
  EXPECT_EQ(db_.Sequence(), 0u);  // loading is not a change
  EXPECT_TRUE(db_.TakeChanges().rows.empty());
}

TEST(DatabaseLoadTest, RefusesBadRows) {
  Database db(FixtureSchema());
  ExpectError(Catch([&] { db.LoadRow("Vm", "r", {}); }), ErrorKind::kInvalidArgument);
  ExpectError(Catch([&] { db.LoadRow("VM", "r", {{"wibble", "x"}}); }),
              ErrorKind::kInvalidArgument);
  ExpectError(Catch([&] { db.LoadRow("VM", "r", {{"tags", "(a)"}}); }),
              ErrorKind::kInvalidArgument);
  db.LoadRow("VBD", "r", {{"uuid", "u"}, {"VM", "x"}, {"type", "t"}});
  ExpectError(Catch([&] { db.LoadRow("VM", "r", {}); }), ErrorKind::kInvalidArgument);
  db.FinishLoad();
  EXPECT_EQ(db.ReadField("VBD", "_ref", "r"), "r");  // filled from the row key
}

TEST(DatabaseLoadTest, MissingColumnWithoutDefaultFails) {
  Database db(FixtureSchema());
  db.LoadRow("VM", "r", {{"uuid", "u"}, {"name__label", "l"}});  // no name__description
  Error e = Catch([&] { db.FinishLoad(); });
  ExpectError(e, ErrorKind::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("name__description"), std::string::npos);
}

TEST(DatabaseLoadTest, DefaultsFillMissingColumns) {
  Database db(FixtureSchema());
  db.LoadRow("VM", "r", {{"uuid", "u"}, {"name__label", "l"}, {"name__description", ""}});
  db.FinishLoad();
  EXPECT_EQ(db.ReadField("VM", "protection_policy", "r"), "OpaqueRef:NULL");
  EXPECT_EQ(db.ReadField("VM", "tags", "r"), "()");
}

TEST(DatabaseLoadTest, DuplicateUuidAcrossTablesFails) {
  Database db(FixtureSchema());
  db.LoadRow("VBD", "a", {{"uuid", "same"}, {"VM", "x"}, {"type", "t"}});
  db.LoadRow("VM", "b", {{"uuid", "same"}, {"name__label", "l"}, {"name__description", ""}});
  ExpectError(Catch([&] { db.FinishLoad(); }), ErrorKind::kUniqueness, {"VM", "uuid", "same"});
}

TEST(DatabaseLoadTest, RemovedColumnValuesAreSkipped) {
  auto schema = Schema::FromJson(R"({"schema_major_vsn": 1, "schema_minor_vsn": 1, "tables": [
    {"name": "t", "columns": [{"name": "_ref", "type": "string"},
      {"name": "old", "type": "string", "default": "dflt", "lifecycle": "Removed"}]}]})");
  Database db(schema);
  db.LoadRow("t", "r", {{"_ref", "r"}, {"old", "kept?"}});
  db.FinishLoad();
  EXPECT_EQ(db.ReadField("t", "old", "r"), "dflt");
}

// ---------------------------------------------------------------- reads

TEST_F(DatabaseTest, RefsAndTables) {
  EXPECT_EQ(db_.GetTableFromRef("OpaqueRef:vbd1"), std::optional<std::string>("VBD"));
  EXPECT_EQ(db_.GetTableFromRef("foo"), std::nullopt);
  EXPECT_TRUE(db_.IsValidRef("OpaqueRef:vm3"));
  EXPECT_FALSE(db_.IsValidRef("foo"));
  EXPECT_EQ(db_.ReadRefs("VM"), (Strings{"OpaqueRef:vm3", "OpaqueRef:vm2", "OpaqueRef:vm1"}));
  ExpectError(Catch([&] { db_.ReadRefs("Vm"); }), ErrorKind::kNotFound,
              {"missing table", "Vm", ""});
}

TEST_F(DatabaseTest, UuidLookups) {
  EXPECT_EQ(db_.DbGetByUuid("VM", "aaaaaaaa-0000-0000-0000-000000000002"), "OpaqueRef:vm2");
  ExpectError(Catch([&] { db_.DbGetByUuid("VM", "nope"); }), ErrorKind::kReadMissingUuid,
              {"VM", "", "nope"});
  // Another table's uuid, or no such table: still Read_missing_uuid.
  ExpectError(Catch([&] { db_.DbGetByUuid("VM", "bbbbbbbb-0000-0000-0000-000000000001"); }),
              ErrorKind::kReadMissingUuid);
  ExpectError(Catch([&] { db_.DbGetByUuid("Vm", "aaaaaaaa-0000-0000-0000-000000000002"); }),
              ErrorKind::kReadMissingUuid);
  EXPECT_EQ(db_.DbGetByUuidOpt("VM", "aaaaaaaa-0000-0000-0000-000000000001"),
            std::optional<std::string>("OpaqueRef:vm1"));
  EXPECT_EQ(db_.DbGetByUuidOpt("VM", "bbbbbbbb-0000-0000-0000-000000000001"), std::nullopt);
  ExpectError(Catch([&] { db_.DbGetByUuidOpt("Vm", "x"); }), ErrorKind::kNotFound,
              {"missing table", "Vm", ""});
}

TEST_F(DatabaseTest, NameLabelLookups) {
  EXPECT_EQ(db_.DbGetByNameLabel("VM", "alpha"), (Strings{"OpaqueRef:vm3", "OpaqueRef:vm1"}));
  EXPECT_EQ(db_.DbGetByNameLabel("VM", "nope"), Strings{});
  ExpectError(Catch([&] { db_.DbGetByNameLabel("VBD", "x"); }), ErrorKind::kNotFound,
              {"missing field", "name__label", ""});
  db_.WriteField("VM", "OpaqueRef:vm2", "name__label", "alpha");
  EXPECT_EQ(db_.DbGetByNameLabel("VM", "alpha"),
            (Strings{"OpaqueRef:vm3", "OpaqueRef:vm2", "OpaqueRef:vm1"}));
  EXPECT_EQ(db_.DbGetByNameLabel("VM", "beta"), Strings{});
  db_.DeleteRow("VM", "OpaqueRef:vm3");
  EXPECT_EQ(db_.DbGetByNameLabel("VM", "alpha"), (Strings{"OpaqueRef:vm2", "OpaqueRef:vm1"}));
}

TEST_F(DatabaseTest, ReadFieldChecksRowBeforeField) {
  EXPECT_EQ(Field("VM", "name__description", "OpaqueRef:vm3"), "it%s third");
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm3"), "('it\\'s')");
  ExpectError(Catch([&] { Field("Vm", "name__label", "OpaqueRef:vm1"); }), ErrorKind::kNotFound,
              {"missing table", "Vm", ""});
  ExpectError(Catch([&] { Field("VM", "name_label", "foo"); }), ErrorKind::kNotFound,
              {"missing row", "VM", "foo"});
  ExpectError(Catch([&] { Field("VM", "name_label", "OpaqueRef:vm1"); }), ErrorKind::kNotFound,
              {"missing field", "name_label", ""});
  ExpectError(Catch([&] { Field("VM", "__ctime", "OpaqueRef:vm1"); }), ErrorKind::kNotFound,
              {"missing field", "__ctime", ""});
}

TEST_F(DatabaseTest, ReadRecordIsInDescendingFieldOrder) {
  Record r = db_.ReadRecord("VM", "OpaqueRef:vm1");
  Strings names;
  for (const auto& [name, value] : r.fields) names.push_back(name);
  EXPECT_EQ(names, (Strings{"uuid", "tags", "protection_policy", "other_config", "name__label",
                            "name__description", "_ref", "VBDs"}));
  EXPECT_EQ(r.fields[0].second, "aaaaaaaa-0000-0000-0000-000000000001");
  ASSERT_EQ(r.set_refs.size(), 1u);
  EXPECT_EQ(r.set_refs[0].first, "VBDs");
  EXPECT_EQ(r.set_refs[0].second, (Strings{"OpaqueRef:vbd2", "OpaqueRef:vbd1"}));
  EXPECT_TRUE(db_.ReadRecord("VBD", "OpaqueRef:vbd1").set_refs.empty());
  ExpectError(Catch([&] { db_.ReadRecord("VM", "foo"); }), ErrorKind::kNotFound,
              {"missing row", "VM", "foo"});
  ExpectError(Catch([&] { db_.ReadRecord("Vm", "foo"); }), ErrorKind::kNotFound,
              {"missing table", "Vm", ""});
}

TEST_F(DatabaseTest, ReadFieldWhereErrorOrder) {
  EXPECT_EQ(db_.ReadFieldWhere("VM", "name__label", "uuid", "aaaaaaaa-0000-0000-0000-000000000003"),
            Strings{"alpha"});
  EXPECT_EQ(db_.ReadFieldWhere("VBD", "_ref", "type", "Disk"),
            (Strings{"OpaqueRef:vbd3", "OpaqueRef:vbd1"}));
  EXPECT_EQ(db_.ReadFieldWhere("VM", "wibble", "name__label", "nobody"), Strings{});
  ExpectError(Catch([&] { db_.ReadFieldWhere("VM", "wibble", "name__label", "alpha"); }),
              ErrorKind::kNotFound, {"missing field", "wibble", ""});
  ExpectError(Catch([&] { db_.ReadFieldWhere("VM", "_ref", "wibble", "x"); }),
              ErrorKind::kNotFound, {"missing field", "wibble", ""});
  ExpectError(Catch([&] { db_.ReadFieldWhere("Vm", "_ref", "uuid", "x"); }),
              ErrorKind::kNotFound, {"missing table", "Vm", ""});
  Database empty(FixtureSchema());
  empty.FinishLoad();
  EXPECT_EQ(empty.ReadFieldWhere("VM", "_ref", "wibble", "x"), Strings{});
}

// ---------------------------------------------------------------- filters

TEST_F(DatabaseTest, FiltersEvaluateAndShortCircuit) {
  using O = FilterExpr::Op;
  EXPECT_EQ(db_.FindRefsWithFilter("VM", Eq("name__label", "alpha")),
            (Strings{"OpaqueRef:vm3", "OpaqueRef:vm1"}));
  EXPECT_EQ(db_.FindRefsWithFilter("VM", Op(O::kTrue)).size(), 3u);
  EXPECT_EQ(db_.FindRefsWithFilter("VM", Op(O::kFalse)), Strings{});
  EXPECT_EQ(db_.FindRefsWithFilter("VM", Op(O::kAnd, {Eq("name__label", "alpha"),
                                                      Op(O::kNot, {Eq("tags", "()")})})),
            (Strings{"OpaqueRef:vm3", "OpaqueRef:vm1"}));
  ExpectError(Catch([&] { db_.FindRefsWithFilter("VM", Eq("wibble", "x")); }),
              ErrorKind::kNotFound, {"missing field", "wibble", ""});
  EXPECT_EQ(db_.FindRefsWithFilter("VM", Op(O::kOr, {Op(O::kTrue), Eq("wibble", "x")})).size(), 3u);
  EXPECT_EQ(db_.FindRefsWithFilter("VM", Op(O::kAnd, {Op(O::kFalse), Eq("wibble", "x")})),
            Strings{});
  ExpectError(Catch([&] { db_.FindRefsWithFilter("Vm", Op(O::kTrue)); }), ErrorKind::kNotFound,
              {"missing table", "Vm", ""});
  auto records = db_.ReadRecordsWhere("VM", Eq("name__label", "beta"));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].first, "OpaqueRef:vm2");
  EXPECT_EQ(records[0].second.fields[0].second, "aaaaaaaa-0000-0000-0000-000000000002");
}

TEST_F(DatabaseTest, FiltersSeeCanonicalTextWhereClausesSeeStoredText) {
  db_.CreateRow("VM", {{"uuid", "u-9"}, {"name__label", "g"}, {"name__description", ""},
                       {"tags", "( \"x\"   'y' )"}, {"other_config", "()"}},
                "OpaqueRef:vm9");
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm9"), "( \"x\"   'y' )");
  EXPECT_EQ(db_.FindRefsWithFilter("VM", Eq("tags", "('x' 'y')")), Strings{"OpaqueRef:vm9"});
  EXPECT_EQ(db_.FindRefsWithFilter("VM", Eq("tags", "( \"x\"   'y' )")), Strings{});
  EXPECT_EQ(db_.ReadFieldWhere("VM", "_ref", "tags", "('x' 'y')"), Strings{});
  EXPECT_EQ(db_.ReadFieldWhere("VM", "_ref", "tags", "( \"x\"   'y' )"),
            Strings{"OpaqueRef:vm9"});
  // Writing an equal value keeps the verbatim text; a structured op
  // canonicalises.
  db_.WriteField("VM", "OpaqueRef:vm9", "tags", "('x' 'y')");
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm9"), "( \"x\"   'y' )");
  db_.ProcessStructuredField("z", "", "VM", "tags", "OpaqueRef:vm9", StructuredOp::kAddSet);
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm9"), "('z' 'x' 'y')");
}

// ---------------------------------------------------------------- create_row

TEST_F(DatabaseTest, CreateRowFillsDefaultsAndLinksTheVm) {
  db_.CreateRow("VBD", {{"uuid", "u-v9"}, {"VM", "OpaqueRef:vm1"}, {"type", "Disk"}},
                "OpaqueRef:vbd9");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm1"),
            "('OpaqueRef:vbd9' 'OpaqueRef:vbd2' 'OpaqueRef:vbd1')");
  EXPECT_EQ(Field("VBD", "_ref", "OpaqueRef:vbd9"), "OpaqueRef:vbd9");
  db_.CreateRow("VM", Vm("u-9"), "OpaqueRef:vm9");
  EXPECT_EQ(Field("VM", "protection_policy", "OpaqueRef:vm9"), "OpaqueRef:NULL");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm9"), "()");
  EXPECT_EQ(db_.DbGetByUuid("VM", "u-9"), "OpaqueRef:vm9");
  EXPECT_EQ(db_.GetTableFromRef("OpaqueRef:vm9"), std::optional<std::string>("VM"));
}

TEST_F(DatabaseTest, CreateRowErrors) {
  FieldList no_label = {{"uuid", "u-9"}, {"name__description", ""}};
  ExpectError(Catch([&] { db_.CreateRow("VM", no_label, "OpaqueRef:vm9"); }),
              ErrorKind::kNotFound,
              {"missing default value in datamodel for new field", "name__label", ""});
  FieldList bad_column = Vm("u-9");
  bad_column.emplace_back("wibble", "x");
  ExpectError(Catch([&] { db_.CreateRow("VM", bad_column, "OpaqueRef:vm9"); }),
              ErrorKind::kNotFound, {"missing column", "VM", "wibble"});
  ExpectError(Catch([&] { db_.CreateRow("Vm", Vm("u-9"), "OpaqueRef:vm9"); }),
              ErrorKind::kNotFound, {"missing table", "Vm", ""});
  // uuids are unique across tables.
  ExpectError(Catch([&] {
                db_.CreateRow("VM", Vm("bbbbbbbb-0000-0000-0000-000000000001"), "OpaqueRef:vm9");
              }),
              ErrorKind::kUniqueness, {"VM", "uuid", "bbbbbbbb-0000-0000-0000-000000000001"});
  FieldList bad_set = Vm("u-9");
  bad_set[3].second = "(red)";
  ExpectError(Catch([&] { db_.CreateRow("VM", bad_set, "OpaqueRef:vm9"); }), ErrorKind::kParse);
  EXPECT_FALSE(db_.IsValidRef("OpaqueRef:vm9"));
  EXPECT_EQ(db_.Sequence(), 0u);
}

TEST_F(DatabaseTest, CreateRowOfAnExistingRef) {
  // Same values: a no-op; an empty list always succeeds.
  db_.CreateRow("VM", {{"name__label", "alpha"}, {"tags", "('red' 'blue')"}}, "OpaqueRef:vm1");
  db_.CreateRow("VM", {}, "OpaqueRef:vm1");
  db_.CreateRow("VBD", {}, "OpaqueRef:vm1");
  EXPECT_EQ(db_.Sequence(), 0u);
  ExpectError(Catch([&] { db_.CreateRow("VM", {{"name__label", "other"}}, "OpaqueRef:vm1"); }),
              ErrorKind::kIntegrityViolation, {"VM", "name__label", "alpha"});
  // Compared as stored text, not parsed values.
  ExpectError(Catch([&] { db_.CreateRow("VM", {{"tags", "('red'  'blue')"}}, "OpaqueRef:vm1"); }),
              ErrorKind::kIntegrityViolation, {"VM", "tags", "('red' 'blue')"});
  ExpectError(Catch([&] { db_.CreateRow("VBD", {{"type", "Disk"}}, "OpaqueRef:vm1"); }),
              ErrorKind::kNotFound, {"missing row", "VBD", "OpaqueRef:vm1"});
}

TEST_F(DatabaseTest, CreateRowWithRefToWrongTableChangesNothing) {
  ExpectError(Catch([&] {
                db_.CreateRow("VBD",
                              {{"uuid", "bbbbbbbb-0000-0000-0000-000000000009"},
                               {"VM", "OpaqueRef:vbd2"}, {"type", "Disk"}},
                              "OpaqueRef:vbd9");
              }),
              ErrorKind::kNotFound, {"missing row", "VM", "OpaqueRef:vbd2"});
  EXPECT_FALSE(db_.IsValidRef("OpaqueRef:vbd9"));
  EXPECT_FALSE(db_.FindUuid("bbbbbbbb-0000-0000-0000-000000000009"));
  EXPECT_EQ(db_.Sequence(), 0u);
}

TEST_F(DatabaseTest, SetRefIsNotRecomputedWhenTheTargetIsCreatedLater) {
  db_.CreateRow("VBD", {{"uuid", "u-v9"}, {"VM", "OpaqueRef:vm9"}, {"type", "Disk"}},
                "OpaqueRef:vbd9");
  db_.CreateRow("VM", Vm("u-9"), "OpaqueRef:vm9");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm9"), "()");
}

TEST_F(DatabaseTest, ExplicitRefFieldOverridesThePrependedOne) {
  FieldList f = Vm("u-9", "odd");
  f.emplace_back("_ref", "OpaqueRef:other");
  db_.CreateRow("VM", f, "OpaqueRef:vm9");
  EXPECT_TRUE(db_.IsValidRef("OpaqueRef:vm9"));
  EXPECT_FALSE(db_.IsValidRef("OpaqueRef:other"));
  EXPECT_EQ(db_.DbGetByNameLabel("VM", "odd"), Strings{"OpaqueRef:other"});
  EXPECT_EQ(db_.FindRefsWithFilter("VM", Eq("uuid", "u-9")), Strings{"OpaqueRef:other"});
}

// ---------------------------------------------------------------- delete_row

TEST_F(DatabaseTest, DeleteRowLeavesDanglingRefsAndFailsTwice) {
  db_.DeleteRow("VM", "OpaqueRef:vm1");
  EXPECT_FALSE(db_.IsValidRef("OpaqueRef:vm1"));
  EXPECT_EQ(db_.DbGetByUuidOpt("VM", "aaaaaaaa-0000-0000-0000-000000000001"), std::nullopt);
  EXPECT_FALSE(db_.FindUuid("aaaaaaaa-0000-0000-0000-000000000001"));
  EXPECT_EQ(Field("VBD", "VM", "OpaqueRef:vbd1"), "OpaqueRef:vm1");
  ExpectError(Catch([&] { db_.DeleteRow("VM", "OpaqueRef:vm1"); }), ErrorKind::kNotFound,
              {"missing row", "VM", "OpaqueRef:vm1"});
  ExpectError(Catch([&] { db_.DeleteRow("Vm", "OpaqueRef:vm2"); }), ErrorKind::kNotFound,
              {"missing table", "Vm", ""});
  // The uuid and ref can be used again.
  db_.CreateRow("VBD", {{"uuid", "aaaaaaaa-0000-0000-0000-000000000001"}, {"VM", "x"},
                        {"type", "t"}}, "OpaqueRef:vm1");
  EXPECT_EQ(db_.GetTableFromRef("OpaqueRef:vm1"), std::optional<std::string>("VBD"));
}

TEST_F(DatabaseTest, DeleteRowUnlinksFromTheSetSide) {
  db_.DeleteRow("VBD", "OpaqueRef:vbd2");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm1"), "('OpaqueRef:vbd1')");
  db_.DeleteRow("VBD", "OpaqueRef:vbd3");  // points at OpaqueRef:NULL: fine
}

TEST_F(DatabaseTest, DeleteRowWhoseRefNamesAnotherTableFails) {
  db_.WriteField("VBD", "OpaqueRef:vbd3", "VM", "OpaqueRef:zzz");
  db_.CreateRow("VBD", {{"uuid", "u"}, {"VM", "x"}, {"type", "t"}}, "OpaqueRef:zzz");
  ExpectError(Catch([&] { db_.DeleteRow("VBD", "OpaqueRef:vbd3"); }), ErrorKind::kNotFound,
              {"missing row", "VM", "OpaqueRef:zzz"});
  EXPECT_TRUE(db_.IsValidRef("OpaqueRef:vbd3"));
}

// ---------------------------------------------------------------- write_field

TEST_F(DatabaseTest, WriteFieldCheckOrder) {
  ExpectError(Catch([&] { db_.WriteField("Vm", "", "", ""); }), ErrorKind::kNotFound,
              {"missing table", "Vm", ""});
  ExpectError(Catch([&] { db_.WriteField("VM", "foo", "wibble", ""); }), ErrorKind::kNotFound,
              {"missing column", "VM", "wibble"});
  ExpectError(Catch([&] { db_.WriteField("VM", "foo", "tags", "(bad"); }), ErrorKind::kParse);
  ExpectError(Catch([&] { db_.WriteField("VM", "foo", "name__label", "a\x01" "b"); }),
              ErrorKind::kInvalidValue);
  ExpectError(Catch([&] { db_.WriteField("VM", "foo", "name__label", ""); }),
              ErrorKind::kNotFound, {"missing row", "VM", "foo"});
  ExpectError(Catch([&] { db_.WriteField("VM", "OpaqueRef:vm1", "tags", "('ok' 'a\xff')"); }),
              ErrorKind::kInvalidValue);
  ExpectError(Catch([&] { db_.WriteField("VM", "OpaqueRef:vm1", "_ref", "OpaqueRef:x"); }),
              ErrorKind::kBadRequest);
  db_.WriteField("VM", "OpaqueRef:vm1", "_ref", "OpaqueRef:vm1");  // equal: fine
  EXPECT_EQ(Field("VM", "name__description", "OpaqueRef:vm1"), "first VM");
  EXPECT_EQ(db_.Sequence(), 0u);
}

TEST_F(DatabaseTest, WriteFieldStoresCanonicalText) {
  db_.WriteField("VM", "OpaqueRef:vm2", "tags", "(\"a\"  \"b\")");
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm2"), "('a' 'b')");
  db_.WriteField("VM", "OpaqueRef:vm2", "name__label", "Grüße\ttab\nline");
  EXPECT_EQ(Field("VM", "name__label", "OpaqueRef:vm2"), "Grüße\ttab\nline");
  EXPECT_EQ(db_.Sequence(), 2u);
}

TEST_F(DatabaseTest, WriteFieldMovesTheUuid) {
  db_.WriteField("VM", "OpaqueRef:vm1", "uuid", "uuid2");
  EXPECT_EQ(db_.DbGetByUuid("VM", "uuid2"), "OpaqueRef:vm1");
  EXPECT_EQ(db_.DbGetByUuidOpt("VM", "uuid2"), std::optional<std::string>("OpaqueRef:vm1"));
  ExpectError(Catch([&] { db_.DbGetByUuid("VM", "aaaaaaaa-0000-0000-0000-000000000001"); }),
              ErrorKind::kReadMissingUuid);
  ExpectError(Catch([&] {
                db_.WriteField("VM", "OpaqueRef:vm1", "uuid",
                               "bbbbbbbb-0000-0000-0000-000000000001");
              }),
              ErrorKind::kUniqueness, {"VM", "uuid", "bbbbbbbb-0000-0000-0000-000000000001"});
  EXPECT_EQ(Field("VM", "uuid", "OpaqueRef:vm1"), "uuid2");
}

TEST_F(DatabaseTest, WriteFieldMovesTheVbdBetweenVms) {
  db_.WriteField("VBD", "OpaqueRef:vbd1", "VM", "OpaqueRef:vm2");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm1"), "('OpaqueRef:vbd2')");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm2"), "('OpaqueRef:vbd1')");
  db_.WriteField("VBD", "OpaqueRef:vbd2", "VM", "OpaqueRef:vm2");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm2"), "('OpaqueRef:vbd2' 'OpaqueRef:vbd1')");
  db_.WriteField("VBD", "OpaqueRef:vbd2", "VM", "overwritten");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm2"), "('OpaqueRef:vbd1')");
  // A target in the wrong table: refused, nothing moved.
  ExpectError(Catch([&] { db_.WriteField("VBD", "OpaqueRef:vbd1", "VM", "OpaqueRef:vbd3"); }),
              ErrorKind::kNotFound, {"missing row", "VM", "OpaqueRef:vbd3"});
  EXPECT_EQ(Field("VBD", "VM", "OpaqueRef:vbd1"), "OpaqueRef:vm2");
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm2"), "('OpaqueRef:vbd1')");
}

// ---------------------------------------------------------------- structured

TEST_F(DatabaseTest, StructuredSetOps) {
  auto psf = [&](const std::string& k, StructuredOp op) {
    db_.ProcessStructuredField(k, "", "VM", "tags", "OpaqueRef:vm1", op);
  };
  psf("green", StructuredOp::kAddSet);
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm1"), "('green' 'red' 'blue')");
  uint64_t seq = db_.Sequence();
  psf("red", StructuredOp::kAddSet);  // present: nothing changes
  EXPECT_EQ(db_.Sequence(), seq);
  psf("red", StructuredOp::kRemoveSet);
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm1"), "('green' 'blue')");
  psf("absent", StructuredOp::kRemoveSet);
  psf("it's a \\ test", StructuredOp::kAddSet);
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm1"), "('it\\'s a \\\\ test' 'green' 'blue')");
  // Cut at the first invalid character.
  psf("ok\x01rest", StructuredOp::kAddSet);
  EXPECT_EQ(Field("VM", "tags", "OpaqueRef:vm1"), "('ok' 'it\\'s a \\\\ test' 'green' 'blue')");
}

TEST_F(DatabaseTest, StructuredMapOps) {
  auto psf = [&](const std::string& k, const std::string& v, StructuredOp op) {
    db_.ProcessStructuredField(k, v, "VM", "other_config", "OpaqueRef:vm1", op);
  };
  db_.WriteField("VM", "OpaqueRef:vm1", "other_config", "(('a' '1') ('b' '2'))");
  psf("b", "2", StructuredOp::kAddMap);  // identical pair moves to the front
  EXPECT_EQ(Field("VM", "other_config", "OpaqueRef:vm1"), "(('b' '2') ('a' '1'))");
  ExpectError(Catch([&] { psf("a", "other", StructuredOp::kAddMap); }), ErrorKind::kDuplicateKey,
              {"VM", "other_config", "OpaqueRef:vm1", "a"});
  ExpectError(Catch([&] { psf("a", "1", StructuredOp::kAddMapLegacy); }),
              ErrorKind::kDuplicateKey, {"VM", "other_config", "OpaqueRef:vm1", "a"});
  ExpectError(Catch([&] { psf("", "v", StructuredOp::kAddMap); }), ErrorKind::kEmptyKeyInMap);
  psf("c", "3", StructuredOp::kAddMapLegacy);
  EXPECT_EQ(Field("VM", "other_config", "OpaqueRef:vm1"), "(('c' '3') ('b' '2') ('a' '1'))");
  psf("b", "ignored", StructuredOp::kRemoveMap);
  EXPECT_EQ(Field("VM", "other_config", "OpaqueRef:vm1"), "(('c' '3') ('a' '1'))");
  psf("k\xc3", "v\x02w", StructuredOp::kAddMap);  // both cut
  EXPECT_EQ(Field("VM", "other_config", "OpaqueRef:vm1"), "(('k' 'v') ('c' '3') ('a' '1'))");
}

TEST_F(DatabaseTest, StructuredErrorOrder) {
  auto psf = [&](const std::string& table, const std::string& field, const std::string& ref,
                 StructuredOp op) { db_.ProcessStructuredField("", "", table, field, ref, op); };
  ExpectError(Catch([&] { psf("Vm", "wibble", "foo", StructuredOp::kAddSet); }),
              ErrorKind::kNotFound, {"missing table", "Vm", ""});
  ExpectError(Catch([&] { psf("VM", "wibble", "foo", StructuredOp::kAddSet); }),
              ErrorKind::kNotFound, {"missing row", "VM", "foo"});
  ExpectError(Catch([&] { psf("VM", "wibble", "OpaqueRef:vm1", StructuredOp::kAddSet); }),
              ErrorKind::kNotFound, {"missing field", "wibble", ""});
  ExpectError(Catch([&] { psf("VM", "name__label", "OpaqueRef:vm1", StructuredOp::kAddSet); }),
              ErrorKind::kParse);
  ExpectError(Catch([&] { psf("VM", "tags", "OpaqueRef:vm1", StructuredOp::kAddMap); }),
              ErrorKind::kParse);
  EXPECT_EQ(db_.Sequence(), 0u);
}

// ---------------------------------------------------------------- many-to-many

TEST(DatabaseManyToManyTest, PrimaryWritesAreMirrored) {
  auto schema = test::FooBarManyToManySchema();
  Database db(schema);
  db.FinishLoad();
  db.CreateRow("bar", {{"uuid", "b1"}}, "bar:1");
  db.CreateRow("foo", {{"uuid", "f1"}}, "foo:1");
  db.WriteField("foo", "foo:1", "bars", "('bar:1')");
  EXPECT_EQ(db.ReadField("bar", "foos", "bar:1"), "('foo:1')");
  db.WriteField("foo", "foo:1", "bars", "()");
  EXPECT_EQ(db.ReadField("bar", "foos", "bar:1"), "()");
  db.ProcessStructuredField("bar:1", "", "foo", "bars", "foo:1", StructuredOp::kAddSet);
  EXPECT_EQ(db.ReadField("bar", "foos", "bar:1"), "('foo:1')");
  // Created with the set filled: mirrored too; deleting unlinks.
  db.CreateRow("foo", {{"uuid", "f2"}, {"bars", "('bar:1' 'nowhere')"}}, "foo:2");
  EXPECT_EQ(db.ReadField("bar", "foos", "bar:1"), "('foo:2' 'foo:1')");
  db.DeleteRow("foo", "foo:1");
  EXPECT_EQ(db.ReadField("bar", "foos", "bar:1"), "('foo:2')");
  // The mirror end does not drive the primary.
  db.WriteField("bar", "bar:1", "foos", "()");
  EXPECT_EQ(db.ReadField("foo", "bars", "foo:2"), "('bar:1' 'nowhere')");
  // Both ends are stored.
  auto batch = db.TakeChanges();
  EXPECT_FALSE(batch.rows.empty());
}

// ---------------------------------------------------------------- changes

TEST_F(DatabaseTest, ChangeTrackingReportsStoredRows) {
  uint64_t heard = 0;
  db_.SetChangeListener([&](uint64_t s) { heard = s; });
  db_.WriteField("VM", "OpaqueRef:vm1", "name__label", "renamed");
  db_.WriteField("VM", "OpaqueRef:vm2", "other_config", "(('k' 'v'))");  // not persistent
  db_.CreateRow("VBD", {{"uuid", "u-v9"}, {"VM", "OpaqueRef:vm2"}, {"type", "Disk"}},
                "OpaqueRef:vbd9");
  db_.DeleteRow("VBD", "OpaqueRef:vbd3");
  db_.ProcessStructuredField("k", "v", "VM", "other_config", "OpaqueRef:vm1",
                             StructuredOp::kAddMap);
  EXPECT_EQ(db_.Sequence(), 5u);
  EXPECT_EQ(heard, 5u);
  ChangeBatch b = db_.TakeChanges();
  EXPECT_EQ(b.sequence, 5u);
  ASSERT_EQ(b.rows.size(), 3u);  // vm2 only changed non-stored columns
  EXPECT_EQ(b.rows[0].table->name, "VBD");
  EXPECT_EQ(b.rows[0].ref, "OpaqueRef:vbd3");
  EXPECT_FALSE(b.rows[0].exists);
  EXPECT_TRUE(b.rows[0].replaced);
  EXPECT_EQ(b.rows[1].ref, "OpaqueRef:vbd9");
  EXPECT_TRUE(b.rows[1].exists);
  EXPECT_FALSE(b.rows[1].replaced);
  EXPECT_EQ(b.rows[1].stored, (FieldList{{"_ref", "OpaqueRef:vbd9"}, {"uuid", "u-v9"},
                                         {"VM", "OpaqueRef:vm2"}, {"type", "Disk"}}));
  EXPECT_EQ(b.rows[2].table->name, "VM");
  EXPECT_EQ(b.rows[2].ref, "OpaqueRef:vm1");
  Strings names;
  for (const auto& [name, value] : b.rows[2].stored) names.push_back(name);
  EXPECT_EQ(names, (Strings{"_ref", "uuid", "name__label", "protection_policy",
                            "name__description", "tags"}));
  EXPECT_EQ(b.summary, (Strings{"write VM OpaqueRef:vm1 name__label",
                                "write VM OpaqueRef:vm2 other_config",
                                "create VBD OpaqueRef:vbd9", "delete VBD OpaqueRef:vbd3",
                                "add_to_map VM OpaqueRef:vm1 other_config k"}));
  EXPECT_TRUE(db_.TakeChanges().rows.empty());
  EXPECT_EQ(db_.TakeChanges().sequence, 5u);
}

TEST_F(DatabaseTest, DeleteThenRecreateIsReplaced) {
  db_.DeleteRow("VBD", "OpaqueRef:vbd1");
  db_.CreateRow("VBD", {{"uuid", "again"}, {"VM", "x"}, {"type", "t"}}, "OpaqueRef:vbd1");
  ChangeBatch b = db_.TakeChanges();
  ASSERT_EQ(b.rows.size(), 1u);
  EXPECT_TRUE(b.rows[0].exists);
  EXPECT_TRUE(b.rows[0].replaced);
  db_.WriteField("VBD", "OpaqueRef:vbd1", "type", "CD");
  b = db_.TakeChanges();
  ASSERT_EQ(b.rows.size(), 1u);
  EXPECT_FALSE(b.rows[0].replaced);
}

TEST_F(DatabaseTest, SummaryIsCapped) {
  for (int i = 0; i < 1100; ++i)
    db_.WriteField("VM", "OpaqueRef:vm1", "name__label", "n" + std::to_string(i));
  ChangeBatch b = db_.TakeChanges();
  EXPECT_EQ(b.summary.size() + b.summary_dropped, 1100u);
  EXPECT_LE(b.summary.size(), 1000u);
  EXPECT_EQ(b.rows.size(), 1u);
}

TEST_F(DatabaseTest, ForEachRowVisitsTablesInOrderRefsAscending) {
  Strings seen;
  db_.ForEachRow([&](const Table& t, const std::string& ref, const std::vector<std::string>& v) {
    seen.push_back(t.name + " " + ref);
    EXPECT_EQ(v.size(), t.columns.size());
  });
  EXPECT_EQ(seen, (Strings{"VBD OpaqueRef:vbd1", "VBD OpaqueRef:vbd2", "VBD OpaqueRef:vbd3",
                           "VM OpaqueRef:vm1", "VM OpaqueRef:vm2", "VM OpaqueRef:vm3"}));
}

// ------------------------------------------- database_test.ml (spec section 5)

TEST(DatabaseScenarioTest, XapisDatabaseTestSequence) {
  Database db(FixtureSchema());
  db.FinishLoad();
  EXPECT_EQ(db.GetTableFromRef("foo"), std::nullopt);
  EXPECT_FALSE(db.IsValidRef("foo"));
  ExpectError(Catch([&] { db.DeleteRow("VM", "foo"); }), ErrorKind::kNotFound,
              {"missing row", "VM", "foo"});
  FieldList vm = {{"uuid", "uuid1"}, {"name__description", ""}, {"other_config", "()"},
                  {"tags", "()"}};
  ExpectError(Catch([&] { db.CreateRow("VM", vm, "ref1"); }), ErrorKind::kNotFound,
              {"missing default value in datamodel for new field", "name__label", ""});
  vm.emplace_back("name__label", "thevmname");
  db.CreateRow("VM", vm, "ref1");
  EXPECT_TRUE(db.IsValidRef("ref1"));
  EXPECT_EQ(db.ReadRefs("VM"), Strings{"ref1"});
  db.CreateRow("VM", vm, "ref1");
  FieldList other_uuid = vm;
  other_uuid[0].second = "uuid1unique";
  ExpectError(Catch([&] { db.CreateRow("VM", other_uuid, "ref1"); }),
              ErrorKind::kIntegrityViolation, {"VM", "uuid", "uuid1"});
  ExpectError(Catch([&] { db.CreateRow("VM", vm, "ref1unique"); }), ErrorKind::kUniqueness,
              {"VM", "uuid", "uuid1"});
  EXPECT_EQ(db.DbGetByUuid("VM", "uuid1"), "ref1");
  EXPECT_EQ(db.DbGetByUuidOpt("VM", "bar"), std::nullopt);
  EXPECT_EQ(db.DbGetByNameLabel("VM", "thevmname"), Strings{"ref1"});
  EXPECT_EQ(db.ReadField("VM", "protection_policy", "ref1"), "OpaqueRef:NULL");
  EXPECT_EQ(db.ReadFieldWhere("VM", "name__label", "uuid", "uuid1"), Strings{"thevmname"});
  db.WriteField("VM", "ref1", "uuid", "uuid2");
  EXPECT_EQ(db.DbGetByUuid("VM", "uuid2"), "ref1");
  db.WriteField("VM", "ref1", "name__description", "description");
  db.WriteField("VM", "ref1", "name__label", "newlabel");
  EXPECT_TRUE(db.ReadRecord("VM", "ref1").set_refs.at(0).second.empty());
  db.CreateRow("VBD", {{"uuid", "whatever"}, {"VM", "ref1"}, {"type", "user"}}, "waz");
  EXPECT_EQ(db.ReadRecord("VM", "ref1").set_refs.at(0).second, Strings{"waz"});
  db.DeleteRow("VBD", "waz");
  EXPECT_TRUE(db.ReadRecord("VM", "ref1").set_refs.at(0).second.empty());
  db.CreateRow("VBD", {{"uuid", "whatever"}, {"VM", "ref1"}, {"type", "user"}}, "waz");
  EXPECT_EQ(db.ReadRecord("VM", "ref1").set_refs.at(0).second, Strings{"waz"});
  db.WriteField("VBD", "waz", "VM", "overwritten");
  EXPECT_TRUE(db.ReadRecord("VM", "ref1").set_refs.at(0).second.empty());
  EXPECT_EQ(db.ReadRecordsWhere("VM", Op(FilterExpr::Op::kTrue)).size(), 1u);
  EXPECT_TRUE(db.ReadRecordsWhere("VM", Op(FilterExpr::Op::kFalse)).empty());
  db.ProcessStructuredField("foo", "", "VM", "tags", "ref1", StructuredOp::kAddSet);
  db.ProcessStructuredField("foo", "", "VM", "tags", "ref1", StructuredOp::kAddSet);
  EXPECT_EQ(db.ReadField("VM", "tags", "ref1"), "('foo')");
  db.ProcessStructuredField("foo", "bar", "VM", "other_config", "ref1", StructuredOp::kAddMap);
  db.ProcessStructuredField("foo", "bar", "VM", "other_config", "ref1", StructuredOp::kAddMap);
  EXPECT_EQ(db.ReadField("VM", "other_config", "ref1"), "(('foo' 'bar'))");
  db.DeleteRow("VM", "ref1");
  ExpectError(Catch([&] { db.DbGetByUuid("VM", "uuid2"); }), ErrorKind::kReadMissingUuid);
  EXPECT_EQ(db.DbGetByUuidOpt("VM", "uuid1"), std::nullopt);
}

// ---------------------------------------------------------------- threads

TEST_F(DatabaseTest, ConcurrentReadersSeeConsistentRows) {
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i)
    readers.emplace_back([&] {
      while (!stop) {
        // A VBD is always in exactly one VM's set.
        auto a = db_.ReadField("VM", "VBDs", "OpaqueRef:vm1");
        auto b = db_.ReadField("VM", "VBDs", "OpaqueRef:vm2");
        (void)a, (void)b;
        if (db_.ReadRecord("VBD", "OpaqueRef:vbd1").fields.size() != 4) ++bad;
      }
    });
  for (int i = 0; i < 2000; ++i)
    db_.WriteField("VBD", "OpaqueRef:vbd1", "VM", i % 2 ? "OpaqueRef:vm1" : "OpaqueRef:vm2");
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(db_.Sequence(), 2000u);
  EXPECT_EQ(Field("VM", "VBDs", "OpaqueRef:vm1"), "('OpaqueRef:vbd1' 'OpaqueRef:vbd2')");
}

}  // namespace
}  // namespace xgdb
