// Clones of the in-memory image (task branches): independence both ways,
// clones of clones, ChangedSince, ApplyRows, and the cost of a clone and a
// diff counted in tree nodes (not timed).
#include <gtest/gtest.h>

#include <thread>

#include "db/persistent_map.h"
#include "support/paths.h"
#include "support/schemas.h"
#include "xgdb/database.h"
#include "xgdb/error.h"

namespace xgdb {
namespace {

using Strings = std::vector<std::string>;

std::shared_ptr<const Schema> FixtureSchema() {
  static auto schema = Schema::LoadFile(test::DataPath("vectors/fixture-schema.json"));
  return schema;
}

FieldList Vm(const std::string& uuid, const std::string& label) {
  return {{"uuid", uuid},
          {"name__label", label},
          {"name__description", ""},
          {"tags", "()"},
          {"other_config", "()"}};
}
FieldList Vbd(const std::string& uuid, const std::string& vm) {
  return {{"uuid", uuid}, {"VM", vm}, {"type", "Disk"}};
}

// vm1 (alpha, VBDs vbd1 vbd2), vm2 (beta), vm3 (alpha); vbd3 on no VM.
std::unique_ptr<Database> Fixture() {
  auto db = std::make_unique<Database>(FixtureSchema());
  db->FinishLoad();
  db->CreateRow("VM", Vm("u-vm1", "alpha"), "OpaqueRef:vm1");
  db->CreateRow("VM", Vm("u-vm2", "beta"), "OpaqueRef:vm2");
  db->CreateRow("VM", Vm("u-vm3", "alpha"), "OpaqueRef:vm3");
  db->CreateRow("VBD", Vbd("u-vbd1", "OpaqueRef:vm1"), "OpaqueRef:vbd1");
  db->CreateRow("VBD", Vbd("u-vbd2", "OpaqueRef:vm1"), "OpaqueRef:vbd2");
  db->CreateRow("VBD", Vbd("u-vbd3", "OpaqueRef:NULL"), "OpaqueRef:vbd3");
  db->TakeChanges();
  return db;
}

// Everything a reader can see, as text, to compare whole images.
std::string Dump(const Database& db) {
  std::string out;
  db.ForEachRow([&](const Table& t, const std::string& ref, const Strings& values) {
    out += t.name + " " + ref;
    for (const auto& v : values) out += " | " + v;
    out += "\n";
  });
  return out;
}

ErrorKind KindOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error raised";
  return ErrorKind::kIo;
}

TEST(DatabaseCloneTest, CloneHasSameContentAndNoPendingChanges) {
  auto db = Fixture();
  db->WriteField("VM", "OpaqueRef:vm2", "name__label", "pending");
  auto clone = db->Clone();
  EXPECT_EQ(Dump(*clone), Dump(*db));
  EXPECT_EQ(clone->Sequence(), db->Sequence());  // continues from the source
  EXPECT_TRUE(clone->TakeChanges().rows.empty());
  EXPECT_EQ(db->TakeChanges().rows.size(), 1u);  // the source keeps its own
  EXPECT_EQ(clone->DbGetByNameLabel("VM", "alpha"), (Strings{"OpaqueRef:vm3", "OpaqueRef:vm1"}));
  EXPECT_EQ(clone->DbGetByUuid("VBD", "u-vbd2"), "OpaqueRef:vbd2");
  EXPECT_EQ(clone->GetTableFromRef("OpaqueRef:vbd3"), "VBD");
  EXPECT_EQ(clone->TotalRows(), 6u);
  EXPECT_TRUE(clone->ChangedSince(*db).empty());
  clone->WriteField("VM", "OpaqueRef:vm1", "name__description", "x");
  EXPECT_EQ(clone->Sequence(), db->Sequence() + 1);
}

// Writes of every kind in `writer`, none visible in `other`.
void WriteEverything(Database& writer) {
  writer.WriteField("VM", "OpaqueRef:vm1", "name__label", "gamma");
  writer.WriteField("VM", "OpaqueRef:vm3", "uuid", "u-vm3-new");
  writer.CreateRow("VBD", Vbd("u-vbd9", "OpaqueRef:vm2"), "OpaqueRef:vbd9");
  writer.DeleteRow("VBD", "OpaqueRef:vbd1");
  writer.ProcessStructuredField("k", "v", "VM", "other_config", "OpaqueRef:vm2",
                                StructuredOp::kAddMap);
}

void ExpectWritten(const Database& db) {
  EXPECT_EQ(db.DbGetByNameLabel("VM", "gamma"), Strings{"OpaqueRef:vm1"});
  EXPECT_EQ(db.DbGetByNameLabel("VM", "alpha"), Strings{"OpaqueRef:vm3"});
  EXPECT_EQ(db.DbGetByUuid("VM", "u-vm3-new"), "OpaqueRef:vm3");
  EXPECT_FALSE(db.FindUuid("u-vm3"));
  EXPECT_EQ(db.ReadField("VM", "VBDs", "OpaqueRef:vm2"), "('OpaqueRef:vbd9')");
  EXPECT_EQ(db.ReadField("VM", "VBDs", "OpaqueRef:vm1"), "('OpaqueRef:vbd2')");
  EXPECT_FALSE(db.IsValidRef("OpaqueRef:vbd1"));
  EXPECT_FALSE(db.FindUuid("u-vbd1"));
  EXPECT_EQ(db.ReadField("VM", "other_config", "OpaqueRef:vm2"), "(('k' 'v'))");
  EXPECT_EQ(db.RowCount("VBD"), 3u);
}

void ExpectUnwritten(const Database& db) {
  EXPECT_TRUE(db.DbGetByNameLabel("VM", "gamma").empty());
  EXPECT_EQ(db.DbGetByNameLabel("VM", "alpha"), (Strings{"OpaqueRef:vm3", "OpaqueRef:vm1"}));
  EXPECT_EQ(db.DbGetByUuid("VM", "u-vm3"), "OpaqueRef:vm3");
  EXPECT_FALSE(db.FindUuid("u-vm3-new"));
  EXPECT_EQ(db.ReadField("VM", "VBDs", "OpaqueRef:vm2"), "()");
  EXPECT_EQ(db.ReadField("VM", "VBDs", "OpaqueRef:vm1"), "('OpaqueRef:vbd2' 'OpaqueRef:vbd1')");
  EXPECT_TRUE(db.IsValidRef("OpaqueRef:vbd1"));
  EXPECT_FALSE(db.IsValidRef("OpaqueRef:vbd9"));
  EXPECT_EQ(db.DbGetByUuid("VBD", "u-vbd1"), "OpaqueRef:vbd1");
  EXPECT_EQ(db.ReadField("VM", "other_config", "OpaqueRef:vm2"), "()");
  EXPECT_EQ(db.RowCount("VBD"), 3u);
}

TEST(DatabaseCloneTest, WritesInCloneAreInvisibleToSource) {
  auto db = Fixture();
  std::string before = Dump(*db);
  auto clone = db->Clone();
  WriteEverything(*clone);
  ExpectWritten(*clone);
  ExpectUnwritten(*db);
  EXPECT_EQ(Dump(*db), before);
  EXPECT_TRUE(db->TakeChanges().rows.empty());
  // The source may now take the uuid the clone freed, and vice versa.
  db->CreateRow("VM", Vm("u-vm3-new", "delta"), "OpaqueRef:vm4");
  EXPECT_FALSE(clone->IsValidRef("OpaqueRef:vm4"));
}

TEST(DatabaseCloneTest, WritesInSourceAreInvisibleToClone) {
  auto db = Fixture();
  auto clone = db->Clone();
  std::string before = Dump(*clone);
  WriteEverything(*db);
  ExpectWritten(*db);
  ExpectUnwritten(*clone);
  EXPECT_EQ(Dump(*clone), before);
}

TEST(DatabaseCloneTest, ClonesOfClonesThreeDeep) {
  auto db = Fixture();
  auto c1 = db->Clone();
  c1->WriteField("VM", "OpaqueRef:vm1", "name__description", "c1");
  auto c2 = c1->Clone();
  c2->CreateRow("VBD", Vbd("u-vbd9", "OpaqueRef:vm2"), "OpaqueRef:vbd9");
  auto c3 = c2->Clone();
  c3->DeleteRow("VBD", "OpaqueRef:vbd2");
  c1->WriteField("VM", "OpaqueRef:vm2", "name__description", "c1 later");  // after c2 began

  EXPECT_EQ(c3->ReadField("VM", "name__description", "OpaqueRef:vm1"), "c1");
  EXPECT_EQ(c3->ReadField("VM", "VBDs", "OpaqueRef:vm2"), "('OpaqueRef:vbd9')");
  EXPECT_EQ(c3->ReadField("VM", "name__description", "OpaqueRef:vm2"), "");
  EXPECT_TRUE(c2->IsValidRef("OpaqueRef:vbd2"));
  EXPECT_FALSE(c1->IsValidRef("OpaqueRef:vbd9"));
  EXPECT_EQ(db->ReadField("VM", "name__description", "OpaqueRef:vm1"), "");

  // c3 against c2: its own delete (and the VM whose VBDs shrank).
  auto d32 = c3->ChangedSince(*c2);
  ASSERT_EQ(d32.size(), 2u);
  EXPECT_EQ(d32[0].ref, "OpaqueRef:vbd2");
  EXPECT_FALSE(d32[0].exists);
  EXPECT_EQ(d32[1].ref, "OpaqueRef:vm1");
  // c3 against the original: every level's writes (transitively cloned),
  // but not c1's write made after c2 began.
  Strings refs;
  for (const auto& d : c3->ChangedSince(*db)) refs.push_back(d.table->name + " " + d.ref);
  EXPECT_EQ(refs, (Strings{"VBD OpaqueRef:vbd2", "VBD OpaqueRef:vbd9", "VM OpaqueRef:vm1",
                           "VM OpaqueRef:vm2"}));
}

TEST(DatabaseCloneTest, ChangedSinceReportsExactlyTheChangedRows) {
  auto db = Fixture();
  auto task = db->Clone();
  task->WriteField("VM", "OpaqueRef:vm1", "name__label", "renamed");         // stored
  task->WriteField("VM", "OpaqueRef:vm3", "other_config", "(('k' 'v'))");    // not stored
  task->CreateRow("VBD", Vbd("u-vbd9", "OpaqueRef:vm2"), "OpaqueRef:vbd9");  // vm2.VBDs too
  task->DeleteRow("VBD", "OpaqueRef:vbd3");
  task->WriteField("VBD", "OpaqueRef:vbd2", "type", "CD");    // written and written back:
  task->WriteField("VBD", "OpaqueRef:vbd2", "type", "Disk");  // not a change

  auto delta = task->ChangedSince(*db);
  ASSERT_EQ(delta.size(), 5u);
  // Tables in schema order (VBD before VM), refs ascending.
  EXPECT_EQ(delta[0].ref, "OpaqueRef:vbd3");
  EXPECT_TRUE(delta[0].in_base);
  EXPECT_FALSE(delta[0].exists);
  EXPECT_TRUE(delta[0].values.empty());
  EXPECT_EQ(delta[1].ref, "OpaqueRef:vbd9");
  EXPECT_FALSE(delta[1].in_base);
  EXPECT_TRUE(delta[1].exists);
  EXPECT_EQ(delta[1].table->name, "VBD");
  EXPECT_EQ(delta[2].ref, "OpaqueRef:vm1");
  EXPECT_EQ(delta[3].ref, "OpaqueRef:vm2");
  EXPECT_EQ(delta[4].ref, "OpaqueRef:vm3");
  for (size_t i = 2; i < 5; ++i) {
    EXPECT_TRUE(delta[i].in_base && delta[i].exists);
    EXPECT_EQ(delta[i].table->name, "VM");
  }
  // Values: every column in column order, as the task reads them now.
  const Table& vm = *FixtureSchema()->FindTable("VM");
  ASSERT_EQ(delta[3].values.size(), vm.columns.size());
  for (const Column& c : vm.columns)
    EXPECT_EQ(delta[3].values[c.index], task->ReadField("VM", c.name, "OpaqueRef:vm2")) << c.name;
  EXPECT_EQ(delta[3].values[vm.FindColumn("VBDs")->index], "('OpaqueRef:vbd9')");
  // Symmetric view: the base against the task.
  auto back = db->ChangedSince(*task);
  ASSERT_EQ(back.size(), 5u);
  EXPECT_FALSE(back[1].exists);  // vbd9 is not in db
  EXPECT_TRUE(back[0].exists);   // vbd3 still is
}

TEST(DatabaseCloneTest, ChangedSinceRefusesAnotherSchema) {
  auto db = Fixture();
  Database other(Schema::LoadFile(test::DataPath("vectors/fixture-schema.json")));
  EXPECT_EQ(KindOf([&] { db->ChangedSince(other); }), ErrorKind::kInvalidArgument);
}

TEST(DatabaseCloneTest, ApplyRowsBringsTaskResultIntoParent) {
  auto parent = Fixture();
  auto base = parent->Clone();
  auto task = parent->Clone();
  task->WriteField("VM", "OpaqueRef:vm1", "name__label", "renamed");
  task->CreateRow("VBD", Vbd("u-vbd9", "OpaqueRef:vm2"), "OpaqueRef:vbd9");
  task->DeleteRow("VBD", "OpaqueRef:vbd1");
  task->CreateRow("VM", Vm("u-vm4", "alpha"), "OpaqueRef:vm4");
  task->WriteField("VBD", "OpaqueRef:vbd3", "VM", "OpaqueRef:vm4");
  // Meanwhile the parent links another VBD to vm2.
  parent->CreateRow("VBD", Vbd("u-vbd8", "OpaqueRef:vm2"), "OpaqueRef:vbd8");
  parent->TakeChanges();
  uint64_t seq = parent->Sequence();

  parent->ApplyRows(task->ChangedSince(*base));
  EXPECT_EQ(parent->Sequence(), seq + 1);  // one atomic write
  EXPECT_EQ(parent->DbGetByNameLabel("VM", "renamed"), Strings{"OpaqueRef:vm1"});
  EXPECT_EQ(parent->DbGetByNameLabel("VM", "alpha"), (Strings{"OpaqueRef:vm4", "OpaqueRef:vm3"}));
  EXPECT_EQ(parent->DbGetByUuid("VM", "u-vm4"), "OpaqueRef:vm4");
  EXPECT_EQ(parent->DbGetByUuid("VBD", "u-vbd9"), "OpaqueRef:vbd9");
  EXPECT_FALSE(parent->FindUuid("u-vbd1"));
  EXPECT_EQ(parent->GetTableFromRef("OpaqueRef:vbd9"), "VBD");
  EXPECT_FALSE(parent->IsValidRef("OpaqueRef:vbd1"));
  // Derived sides follow the Ref fields, and the parent's own link survives.
  EXPECT_EQ(parent->ReadField("VM", "VBDs", "OpaqueRef:vm2"),
            "('OpaqueRef:vbd9' 'OpaqueRef:vbd8')");
  EXPECT_EQ(parent->ReadField("VM", "VBDs", "OpaqueRef:vm1"), "('OpaqueRef:vbd2')");
  EXPECT_EQ(parent->ReadField("VM", "VBDs", "OpaqueRef:vm4"), "('OpaqueRef:vbd3')");
  // Recorded for the committer like ordinary writes.
  ChangeBatch batch = parent->TakeChanges();
  Strings rows;
  for (const auto& r : batch.rows)
    rows.push_back(r.table->name + " " + r.ref + (r.exists ? "" : " gone"));
  EXPECT_EQ(rows, (Strings{"VBD OpaqueRef:vbd1 gone", "VBD OpaqueRef:vbd3", "VBD OpaqueRef:vbd9",
                           "VM OpaqueRef:vm1", "VM OpaqueRef:vm4"}));
  ASSERT_FALSE(batch.summary.empty());
  EXPECT_EQ(batch.summary[0].rfind("merge ", 0), 0u) << batch.summary[0];
  // Applying the same rows again changes nothing.
  parent->ApplyRows(task->ChangedSince(*base));
  EXPECT_EQ(parent->Sequence(), seq + 1);
}

TEST(DatabaseCloneTest, ApplyRowsUniquenessIsAtomic) {
  auto db = Fixture();
  auto task = db->Clone();
  task->WriteField("VM", "OpaqueRef:vm1", "name__label", "renamed");
  task->WriteField("VM", "OpaqueRef:vm2", "uuid", "u-free");
  auto rows = task->ChangedSince(*db);
  ASSERT_EQ(rows.size(), 2u);
  // The parent gave u-free to another row meanwhile: nothing is applied.
  db->CreateRow("VBD", Vbd("u-free", "OpaqueRef:NULL"), "OpaqueRef:vbd7");
  std::string before = Dump(*db);
  uint64_t seq = db->Sequence();
  EXPECT_EQ(KindOf([&] { db->ApplyRows(rows); }), ErrorKind::kUniqueness);
  EXPECT_EQ(Dump(*db), before);
  EXPECT_EQ(db->Sequence(), seq);
  EXPECT_EQ(db->DbGetByUuid("VBD", "u-free"), "OpaqueRef:vbd7");
  // Two rows of one batch wanting one uuid.
  auto a = task->ChangedSince(*db);
  std::vector<RowDelta> twice;
  for (auto& r : a)
    if (r.ref == "OpaqueRef:vm2") twice.push_back(r);
  ASSERT_EQ(twice.size(), 1u);
  twice.push_back(twice[0]);
  twice[1].ref = "OpaqueRef:vm5";
  twice[1].values[twice[1].table->FindColumn("_ref")->index] = "OpaqueRef:vm5";
  db->DeleteRow("VBD", "OpaqueRef:vbd7");
  before = Dump(*db);
  EXPECT_EQ(KindOf([&] { db->ApplyRows(twice); }), ErrorKind::kUniqueness);
  EXPECT_EQ(Dump(*db), before);
  // A uuid moving between two rows of the batch is fine.
  auto swap = db->Clone();
  swap->WriteField("VM", "OpaqueRef:vm1", "uuid", "u-tmp");
  swap->WriteField("VM", "OpaqueRef:vm2", "uuid", "u-vm1");
  db->ApplyRows(swap->ChangedSince(*db));
  EXPECT_EQ(db->DbGetByUuid("VM", "u-vm1"), "OpaqueRef:vm2");
  EXPECT_EQ(db->DbGetByUuid("VM", "u-tmp"), "OpaqueRef:vm1");
  EXPECT_FALSE(db->FindUuid("u-vm2"));
}

TEST(DatabaseCloneTest, ApplyRowsRefusesBadRows) {
  auto db = Fixture();
  std::string before = Dump(*db);
  const Table* vm = FixtureSchema()->FindTable("VM");
  const Table* vbd = FixtureSchema()->FindTable("VBD");
  RowDelta short_row{vm, "OpaqueRef:vm9", false, true, {"only one"}};
  EXPECT_EQ(KindOf([&] { db->ApplyRows({short_row}); }), ErrorKind::kInvalidArgument);
  RowDelta wrong_table{vm, "OpaqueRef:vbd1", true, false, {}};
  EXPECT_EQ(KindOf([&] { db->ApplyRows({wrong_table}); }), ErrorKind::kInvalidArgument);
  // A VBD whose VM field names a VBD row.
  auto task = db->Clone();
  task->CreateRow("VBD", Vbd("u-vbd9", "OpaqueRef:vm1"), "OpaqueRef:vbd9");
  auto rows = task->ChangedSince(*db);
  for (auto& r : rows)
    if (r.table == vbd) r.values[vbd->FindColumn("VM")->index] = "OpaqueRef:vbd2";
  EXPECT_EQ(KindOf([&] { db->ApplyRows(rows); }), ErrorKind::kNotFound);
  RowDelta bad_set = rows.back();  // vm1 with unparsable tags
  bad_set.values[vm->FindColumn("tags")->index] = "('unclosed";
  EXPECT_EQ(KindOf([&] { db->ApplyRows({bad_set}); }), ErrorKind::kParse);
  EXPECT_EQ(Dump(*db), before);
  EXPECT_TRUE(db->TakeChanges().rows.empty());
}

TEST(DatabaseCloneTest, CheckRowsRefusesWhatApplyRowsRefusesAndChangesNothing) {
  auto db = Fixture();
  const Table* vm = FixtureSchema()->FindTable("VM");
  auto task = db->Clone();
  task->WriteField("VM", "OpaqueRef:vm1", "name__label", "renamed");
  task->WriteField("VM", "OpaqueRef:vm2", "uuid", "u-free");
  auto rows = task->ChangedSince(*db);
  db->CheckRows(rows);  // fine as it stands
  db->CreateRow("VBD", Vbd("u-free", "OpaqueRef:NULL"), "OpaqueRef:vbd7");
  db->TakeChanges();
  std::string before = Dump(*db);
  uint64_t seq = db->Sequence();
  EXPECT_EQ(KindOf([&] { db->CheckRows(rows); }), ErrorKind::kUniqueness);
  RowDelta short_row{vm, "OpaqueRef:vm9", false, true, {"only one"}};
  EXPECT_EQ(KindOf([&] { db->CheckRows({short_row}); }), ErrorKind::kInvalidArgument);
  RowDelta bad_set = rows.front();
  bad_set.values[vm->FindColumn("tags")->index] = "('unclosed";
  EXPECT_EQ(KindOf([&] { db->CheckRows({bad_set}); }), ErrorKind::kParse);
  db->CheckRows({rows.front()});  // a check that passes changes nothing either
  EXPECT_EQ(Dump(*db), before);
  EXPECT_EQ(db->Sequence(), seq);
  EXPECT_TRUE(db->TakeChanges().rows.empty());
}

TEST(DatabaseCloneTest, ApplyRowsDeletesAndMirrorsManyToMany) {
  auto schema = test::FooBarManyToManySchema();
  Database db(schema);
  db.FinishLoad();
  db.CreateRow("bar", {{"uuid", "b1"}}, "bar:1");
  db.CreateRow("foo", {{"uuid", "f1"}, {"bars", "('bar:1')"}}, "foo:1");
  auto base = db.Clone();
  auto task = db.Clone();
  task->CreateRow("bar", {{"uuid", "b2"}}, "bar:2");
  task->WriteField("foo", "foo:1", "bars", "('bar:2')");
  db.CreateRow("foo", {{"uuid", "f2"}, {"bars", "('bar:1')"}}, "foo:2");  // parent, meanwhile
  db.ApplyRows(task->ChangedSince(*base));
  EXPECT_EQ(db.ReadField("bar", "foos", "bar:2"), "('foo:1')");
  EXPECT_EQ(db.ReadField("bar", "foos", "bar:1"), "('foo:2')");  // foo:1 left, foo:2 stays
  // A deletion unlinks like delete_row.
  auto task2 = db.Clone();
  task2->DeleteRow("foo", "foo:1");
  db.ApplyRows(task2->ChangedSince(db));
  EXPECT_FALSE(db.IsValidRef("foo:1"));
  EXPECT_EQ(db.ReadField("bar", "foos", "bar:2"), "()");
}

TEST(DatabaseCloneTest, CloneAndSourceWrittenFromTwoThreads) {
  auto db = Fixture();
  for (int i = 0; i < 500; ++i)
    db->CreateRow("VM", Vm("u-x" + std::to_string(i), "x"), "OpaqueRef:x" + std::to_string(i));
  auto clone = db->Clone();
  auto writer = [](Database* d, const std::string& text) {
    for (int i = 0; i < 500; ++i)
      d->WriteField("VM", "OpaqueRef:x" + std::to_string(i), "name__description", text);
  };
  std::thread a(writer, db.get(), "source");
  std::thread b(writer, clone.get(), "clone");
  a.join();
  b.join();
  for (int i = 0; i < 500; i += 37) {
    EXPECT_EQ(db->ReadField("VM", "name__description", "OpaqueRef:x" + std::to_string(i)),
              "source");
    EXPECT_EQ(clone->ReadField("VM", "name__description", "OpaqueRef:x" + std::to_string(i)),
              "clone");
  }
  EXPECT_EQ(clone->ChangedSince(*db).size(), 500u);
}

// Clone + k writes + ChangedSince: nodes copied and opened, for n VM rows.
std::pair<uint64_t, uint64_t> CloneWriteDiffWork(int n, int k) {
  Database db(FixtureSchema());
  for (int i = 0; i < n; ++i) {
    std::string ref = "OpaqueRef:" + std::to_string(i * 2654435761u);
    db.LoadRow("VM", ref,
               {{"_ref", ref},
                {"uuid", "u" + std::to_string(i)},
                {"name__label", "l" + std::to_string(i % 50)},
                {"name__description", ""}});
  }
  db.FinishLoad();
  using Stats = db::PersistentMapStats;
  uint64_t copies0 = Stats::node_copies.load(), visits0 = Stats::diff_visits.load();
  auto task = db.Clone();
  for (int i = 0; i < k; ++i) {
    std::string ref = "OpaqueRef:" + std::to_string((i * 7919 % n) * 2654435761u);
    task->WriteField("VM", ref, "name__description", "task");
  }
  EXPECT_EQ(task->ChangedSince(db).size(), static_cast<size_t>(k));
  return {Stats::node_copies.load() - copies0, Stats::diff_visits.load() - visits0};
}

TEST(DatabaseCloneTest, CloneWritesAndDiffCostIndependentOfTableSize) {
  const int k = 10;
  auto [small_copies, small_visits] = CloneWriteDiffWork(1000, k);
  auto [large_copies, large_visits] = CloneWriteDiffWork(100000, k);
  // A write copies one root-to-leaf path (height <= 4 for 100,000 rows);
  // the diff opens about one path per side per changed row.
  EXPECT_LE(large_copies, static_cast<uint64_t>(4 * k));
  EXPECT_LE(large_visits, static_cast<uint64_t>(2 * 4 * k));
  // 100x the rows: a deeper path, not 100x the work.
  EXPECT_LE(large_copies, 3 * small_copies);
  EXPECT_LE(large_visits, 3 * small_visits);
  std::printf(
      "clone + %d writes + ChangedSince: %llu/%llu node copies, %llu/%llu diff "
      "visits (1,000/100,000 rows)\n",
      k, (unsigned long long)small_copies, (unsigned long long)large_copies,
      (unsigned long long)small_visits, (unsigned long long)large_visits);
}

}  // namespace
}  // namespace xgdb
