// Ownership: the rule table (data, in step with docs/ownership.md and the
// newest schema) and the merge check on real repositories.
#include "merge/ownership.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "merge/merge.h"
#include "merge_test_util.h"

namespace xgdb::test {
namespace {

using merge::MergeOptions;
using merge::OwnershipRules;

// The columns the builtin rules read, for a handful of tables.
std::shared_ptr<const Schema> OwnershipSchema() {
  static const char* kJson = R"JSON({
  "schema_major_vsn": 5, "schema_minor_vsn": 1,
  "tables": [
    {"name": "host", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name__label", "type": "string", "persistent": true, "empty": "", "default": ""},
      {"name": "metrics", "type": "string", "persistent": true, "empty": "", "default": "OpaqueRef:NULL"}]},
    {"name": "host_cpu", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "host", "type": "string", "persistent": true, "empty": "", "default": "OpaqueRef:NULL"},
      {"name": "speed", "type": "string", "persistent": true, "empty": "", "default": "0"}]},
    {"name": "host_metrics", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "live", "type": "string", "persistent": true, "empty": "", "default": "false"}]},
    {"name": "VM", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name__label", "type": "string", "persistent": true, "empty": "", "default": ""},
      {"name": "resident_on", "type": "string", "persistent": true, "empty": "", "default": "OpaqueRef:NULL"},
      {"name": "metrics", "type": "string", "persistent": true, "empty": "", "default": "OpaqueRef:NULL"}]},
    {"name": "VM_metrics", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "start_time", "type": "string", "persistent": true, "empty": "", "default": ""}]},
    {"name": "VBD", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "VM", "type": "string", "persistent": true, "empty": "", "default": "OpaqueRef:NULL"},
      {"name": "device", "type": "string", "persistent": true, "empty": "", "default": ""}]},
    {"name": "pool", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name_label", "type": "string", "persistent": true, "empty": "", "default": ""},
      {"name": "master", "type": "string", "persistent": true, "empty": "", "default": "OpaqueRef:NULL"}]}
  ],
  "one_to_many": [], "many_to_many": []
})JSON";
  static auto schema = Schema::FromJson(kJson);
  return schema;
}

std::string R(const std::string& name) { return "OpaqueRef:" + name; }
const std::string kA = R("host-a"), kB = R("host-b");

// Hosts A and B, each with a CPU, metrics, a running VM (with metrics and a
// VBD); a halted VM; the pool.
void Pool(Database& db) {
  for (const std::string h : {"a", "b"}) {
    db.CreateRow("host_metrics", {{"uuid", "hm-" + h}}, R("hm-" + h));
    db.CreateRow("host", {{"uuid", "h-" + h}, {"metrics", R("hm-" + h)}}, R("host-" + h));
    db.CreateRow("host_cpu", {{"uuid", "cpu-" + h}, {"host", R("host-" + h)}}, R("cpu-" + h));
    db.CreateRow("VM_metrics", {{"uuid", "vmm-" + h}}, R("vmm-" + h));
    db.CreateRow("VM", {{"uuid", "vm-" + h}, {"resident_on", R("host-" + h)}, {"metrics", R("vmm-" + h)}},
                 R("vm-" + h));
    db.CreateRow("VBD", {{"uuid", "vbd-" + h}, {"VM", R("vm-" + h)}}, R("vbd-" + h));
  }
  db.CreateRow("VM", {{"uuid", "vm-halted"}}, R("vm-halted"));
  db.CreateRow("pool", {{"uuid", "pool"}, {"master", kA}}, R("pool"));
}

void Nothing(Database&) {}

// Merges `theirs` (on top of Pool) as host `actor`; "" when accepted, else
// the error's args joined by spaces. `ours_too`: ours also committed a change.
std::string Check(const std::string& actor, const DbEdit& theirs, bool ours_too = false) {
  TempDir dir;
  DbEdit ours = ours_too ? DbEdit([](Database& db) { db.WriteField("pool", R("pool"), "name_label", "p"); })
                         : DbEdit(Nothing);
  Fork f = MakeFork(dir / "r.git", OwnershipSchema(), Pool, ours, theirs);
  MergeOptions options;
  options.actor = actor;
  try {
    merge::MergeOutcome out = MergeFork(f, options);
    EXPECT_EQ(out.kind, ours_too ? merge::MergeOutcome::Kind::kMerged
                                 : merge::MergeOutcome::Kind::kFastForward);
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOwnership) << e.what();
    std::string joined;
    for (const std::string& a : e.args()) joined += (joined.empty() ? "" : " ") + a;
    return joined;
  }
}

DbEdit Write(const std::string& table, const std::string& ref, const std::string& field,
             const std::string& value) {
  return [=](Database& db) { db.WriteField(table, ref, field, value); };
}

TEST(Ownership, HostChangesItsOwnObjects) {
  EXPECT_EQ(Check(kA, Write("host", kA, "name__label", "a")), "");
  EXPECT_EQ(Check(kA, Write("host_cpu", R("cpu-a"), "speed", "3000")), "");
  EXPECT_EQ(Check(kA, Write("host_metrics", R("hm-a"), "live", "true")), "");  // named-by
  EXPECT_EQ(Check(kA, Write("VM", R("vm-a"), "name__label", "web")), "");
  EXPECT_EQ(Check(kA, Write("VBD", R("vbd-a"), "device", "xvda")), "");         // via VM
  EXPECT_EQ(Check(kA, Write("VM_metrics", R("vmm-a"), "start_time", "now")), "");
  EXPECT_EQ(Check(kA, [](Database& db) { db.DeleteRow("VBD", R("vbd-a")); }), "");
  EXPECT_EQ(Check(kA, [](Database& db) {
              db.CreateRow("host_cpu", {{"uuid", "cpu-a2"}, {"host", kA}}, R("cpu-a2"));
            }),
            "");
}

TEST(Ownership, SharedObjectsAreAnyonesToChange) {
  EXPECT_EQ(Check(kB, Write("pool", R("pool"), "name_label", "mine")), "");  // master is A
  EXPECT_EQ(Check(kB, Write("VM", R("vm-halted"), "name__label", "x")), "");
  EXPECT_EQ(Check(kB, Write("VM", R("vm-halted"), "resident_on", kB)), "");  // start it on B
}

TEST(Ownership, ChangesToAnotherHostsObjectsAreRefused) {
  EXPECT_EQ(Check(kA, Write("host", kB, "name__label", "b")), "host " + kB + " " + kB + " " + kA);
  EXPECT_EQ(Check(kA, Write("host_cpu", R("cpu-b"), "speed", "1")),
            "host_cpu " + R("cpu-b") + " " + kB + " " + kA);
  EXPECT_EQ(Check(kA, Write("host_metrics", R("hm-b"), "live", "true")),
            "host_metrics " + R("hm-b") + " " + kB + " " + kA);
  EXPECT_EQ(Check(kA, Write("VM", R("vm-b"), "name__label", "x")),
            "VM " + R("vm-b") + " " + kB + " " + kA);
  EXPECT_EQ(Check(kA, Write("VBD", R("vbd-b"), "device", "xvdb")),
            "VBD " + R("vbd-b") + " " + kB + " " + kA);
  EXPECT_EQ(Check(kA, Write("VM_metrics", R("vmm-b"), "start_time", "x")),
            "VM_metrics " + R("vmm-b") + " " + kB + " " + kA);
  EXPECT_EQ(Check(kA, [](Database& db) { db.DeleteRow("host_cpu", R("cpu-b")); }),
            "host_cpu " + R("cpu-b") + " " + kB + " " + kA);
  EXPECT_EQ(Check(kA, [](Database& db) {
              db.CreateRow("host_cpu", {{"uuid", "cpu-b2"}, {"host", kB}}, R("cpu-b2"));
            }),
            "host_cpu " + R("cpu-b2") + " " + kB + " " + kA);
  // The same through a real merge commit (ours moved on too).
  EXPECT_EQ(Check(kA, Write("host", kB, "name__label", "b"), /*ours_too=*/true),
            "host " + kB + " " + kB + " " + kA);
}

TEST(Ownership, ErrorMessageNamesTableRefOwnerAndActor) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", OwnershipSchema(), Pool, Nothing,
                    [](Database& db) { db.DeleteRow("host_cpu", R("cpu-b")); });
  MergeOptions options;
  options.actor = kA;
  try {
    MergeFork(f, options);
    FAIL() << "merge accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "ownership: host " + kA + " may not delete host_cpu " +
                                         R("cpu-b") + ", which is owned by host " + kB);
  }
}

// A pool joins and ejects hosts (xapi does it on the master, and an
// ejected host may be dead): any host adds or removes a host row; only the
// host itself changes it.
TEST(Ownership, AnyHostAddsOrRemovesAHostRowOnlyItChangesIt) {
  EXPECT_EQ(Check(kA, [](Database& db) { db.DeleteRow("host", kB); }), "");
  EXPECT_EQ(Check(kA, [](Database& db) {
              db.CreateRow("host", {{"uuid", "h-c"}}, R("host-c"));
            }),
            "");
  EXPECT_EQ(Check(kA, Write("host", kB, "name__label", "b")), "host " + kB + " " + kB + " " + kA);
}

TEST(Ownership, OnlyTheOldOwnerMovesAVm) {
  EXPECT_EQ(Check(kA, Write("VM", R("vm-a"), "resident_on", kB)), "");
  EXPECT_EQ(Check(kB, Write("VM", R("vm-a"), "resident_on", kB)),
            "VM " + R("vm-a") + " " + kA + " " + kB);
}

TEST(Ownership, NoActorNoCheck) {
  EXPECT_EQ(Check("", Write("host", kB, "name__label", "b")), "");
}

TEST(Ownership, ImageViewOfOursAnswersLikeTheTree) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", OwnershipSchema(), Pool, Nothing,
                    Write("host_metrics", R("hm-b"), "live", "true"));
  auto ours = LoadCommit(f, f.ours);
  merge::ImageRowView view(*ours);
  MergeOptions options;
  options.actor = kA;
  options.ours_view = &view;
  try {
    MergeFork(f, options);
    FAIL() << "merge accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOwnership);
    EXPECT_EQ(e.args(), (std::vector<std::string>{"host_metrics", R("hm-b"), kB, kA}));
  }
  EXPECT_EQ(merge::OwnerOf(OwnershipRules::Builtin(), "VBD", R("vbd-a"), {&view}), kA);
  EXPECT_EQ(merge::OwnerOf(OwnershipRules::Builtin(), "pool", R("pool"), {&view}), "");
  EXPECT_EQ(merge::OwnerOf(OwnershipRules::Builtin(), "VM", R("vm-halted"), {&view}), "");
}

TEST(Ownership, BuiltinRulesFitTheNewestSchema) {
  EXPECT_NO_THROW(OwnershipRules::Builtin().Validate(*Schema::Newest()));
  EXPECT_GT(OwnershipRules::Builtin().rules().size(), 20u);
  auto typo = OwnershipRules::Parse("VM field resident_no\n");
  EXPECT_THROW(typo.Validate(*Schema::Newest()), Error);
  auto derived = OwnershipRules::Parse("host_metrics named-by VM.VBDs\n");  // not stored
  EXPECT_THROW(derived.Validate(*Schema::Newest()), Error);
}

TEST(Ownership, DocsTableIsTheBuiltinData) {
  std::ifstream in(DataPath("../../docs/ownership.md"));
  ASSERT_TRUE(in.good());
  std::string rules_text;
  for (std::string line; std::getline(in, line);) {
    // | `table` | `rule` | why |
    if (line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> ticks;
    for (size_t p = line.find('`'); p != std::string::npos; p = line.find('`', p + 1)) {
      size_t e = line.find('`', p + 1);
      ticks.push_back(line.substr(p + 1, e - p - 1));
      p = e;
    }
    ASSERT_GE(ticks.size(), 2u) << line;
    rules_text += ticks[0] + " " + ticks[1] + "\n";
  }
  auto docs = OwnershipRules::Parse(rules_text);
  const auto& builtin = OwnershipRules::Builtin().rules();
  ASSERT_EQ(docs.rules().size(), builtin.size());
  for (const auto& [table, rule] : builtin) {
    const merge::OwnerRule* d = docs.Find(table);
    ASSERT_NE(d, nullptr) << table << " is not in docs/ownership.md";
    EXPECT_EQ(d->kind, rule.kind) << table;
    EXPECT_EQ(d->field, rule.field) << table;
    EXPECT_EQ(d->other_table, rule.other_table) << table;
    EXPECT_EQ(d->other_field, rule.other_field) << table;
  }
}

TEST(Ownership, BadRulesAreRefused) {
  EXPECT_THROW(OwnershipRules::Parse("VM owned-by resident_on\n"), Error);
  EXPECT_THROW(OwnershipRules::Parse("VM self\nVM self\n"), Error);
  EXPECT_THROW(OwnershipRules::Parse("A via x B\nB via y A\n"), Error);  // a cycle
  EXPECT_THROW(OwnershipRules::Parse("A named-by .x\n"), Error);
  auto ok = OwnershipRules::Parse("# comment\n\nhost self  # trailing\n");
  ASSERT_NE(ok.Find("host"), nullptr);
  EXPECT_EQ(ok.Find("VM"), nullptr);
}

}  // namespace
}  // namespace xgdb::test
