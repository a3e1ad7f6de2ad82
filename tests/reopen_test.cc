// Accepted means reopenable: whatever the daemon accepts and commits, it
// can open again after a restart and serve as it was. The reproductions
// of calls that used to leave a repository that could not be opened (an
// empty ref; a `_ref` field other than the ref, which xapi allows: spec
// 4.10, quirk 5), through a real daemon and a real restart.
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "schema/sexpr.h"
#include "server/client.h"
#include "store_test_util.h"
#include "support/daemon.h"
#include "support/paths.h"
#include "support/vectors.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"

namespace xgdb::test {
namespace {

// A VBD of the 5.82 schema: every column without a default (references
// to nothing, empty text), then `extra`.
nlohmann::json VbdFields(const std::string& uuid, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json f = nlohmann::json::object();
  for (const Column& c : Schema::Builtin(5, 82)->FindTable("VBD")->columns) {
    if (c.default_value || c.name == "_ref") continue;
    if (c.type != ColumnType::kString) {
      f[c.name] = "()";
    } else {
      f[c.name] = c.relation == RelationSide::kNone ? "" : "OpaqueRef:NULL";
    }
  }
  f["uuid"] = uuid;
  f["type"] = "Disk";
  f.update(extra);
  return f;
}

using ReopenTest = DaemonTest;

TEST_F(ReopenTest, RowsWithAnEmptyRefOrAnotherRefColumnSurviveARestart) {
  // What a client would read of those rows, asked before and after.
  const std::vector<nlohmann::json> reads = {
      {"Read_record", "VBD", ""},
      {"Read_record", "VBD", "OpaqueRef:vbd-x"},
      {"Db_get_by_uuid", "VBD", "u-empty"},
      {"Db_get_by_uuid", "VBD", "u-other"},
      {"Is_valid_ref", "OpaqueRef:vbd-x"},
      {"Read_field", "VBD", "_ref", "OpaqueRef:vbd-x"}};
  std::vector<std::string> before;
  {
    DaemonProcess daemon(repo_, socket_, log_);
    EXPECT_EQ(Call({"Create_row", "VBD", VbdFields("u-empty"), ""}), "[\"Create_row\",null]");
    EXPECT_EQ(Call({"Create_row", "VBD", VbdFields("u-other", {{"_ref", "OpaqueRef:other"}}),
                    "OpaqueRef:vbd-x"}),
              "[\"Create_row\",null]");
    for (const auto& r : reads) before.push_back(Call(r));
    ASSERT_EQ(daemon.Kill(SIGTERM), 0) << ReadFile(log_);
  }
  DaemonProcess again(repo_, socket_, log_);
  EXPECT_EQ(Call({"Read_field", "VBD", "uuid", ""}), "[\"Read_field\",\"u-empty\"]")
      << ReadFile(log_);
  EXPECT_EQ(Call({"Read_field", "VBD", "_ref", "OpaqueRef:vbd-x"}),
            "[\"Read_field\",\"OpaqueRef:other\"]");
  for (size_t i = 0; i < reads.size(); ++i) {
    EXPECT_EQ(Call(reads[i]), before[i]) << reads[i].dump();
  }
  ExpectFsckClean(repo_);
}

TEST_F(ReopenTest, AStateDbRowWithAnEmptyRefImportsAndReopens) {
  const std::string db = dir_ / "state.db";
  auto exported = Cli("export -o " + ShellQuote(db));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  std::string text = ReadFile(db);
  // One more user row, under the empty ref.
  const std::string row =
      "<row ref=\"\" __ctime=\"1\" __mtime=\"1\" _ref=\"\" fullname=\"nobody\" "
      "other_config=\"()\" short_name=\"nobody\" uuid=\"u-user-empty\"/>";
  size_t at = text.find("<table name=\"user\">");
  ASSERT_NE(at, std::string::npos);
  text.insert(at + std::string("<table name=\"user\">").size(), row);
  WriteFile(db, text);
  const std::string other = dir_ / "other";
  auto imported = Cli(other, "import " + ShellQuote(db));
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  auto get = Cli(other, "get user u-user-empty short_name");
  EXPECT_EQ(get.output, "nobody\n");
  DaemonProcess daemon(other, socket_, log_);  // opens the whole image
  EXPECT_EQ(Call({"Read_field", "user", "fullname", ""}), "[\"Read_field\",\"nobody\"]");
}

// Sets and maps come back in xapi's order (docs/format.md, "Member order"):
// the real pool's maps as its state.db lists them, and after structured
// changes and a restart as xapi would keep them.
TEST_F(ReopenTest, SetsAndMapsOfTheRealPoolKeepTheFilesOrder) {
  auto pool = ParseStateDb(ReadFile(DataPath("state-5.82.xml")), Schema::Builtin(5, 82));
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"VM", "platform"}, {"VM", "other_config"}, {"VDI", "sm_config"}, {"VM", "tags"}};
  auto read = [this](const std::string& table, const std::string& field, const std::string& ref) {
    auto answer = nlohmann::json::parse(Call({"Read_field", table, field, ref}));
    return answer.at(1).get<std::string>();
  };
  int unsorted = 0, checked = 0;
  {
    DaemonProcess daemon(repo_, socket_, log_);
    for (const auto& [table, field] : fields) {
      for (const std::string& ref : pool->ReadRefs(table)) {
        std::string text = pool->ReadField(table, field, ref);
        if (field != "tags") {
          auto pairs = sexpr::ParseMap(text);
          unsorted += !std::is_sorted(pairs.begin(), pairs.end());
        }
        EXPECT_EQ(read(table, field, ref), text) << table << " " << ref << " " << field;
        ++checked;
      }
    }
    EXPECT_GT(unsorted, 10) << "the pool should hold maps whose keys are not sorted";
    EXPECT_GT(checked, 100);
    // add_to_map puts the new key first, remove_from_map keeps the rest.
    std::string vm = pool->ReadRefs("VM").front();
    ASSERT_EQ(Call({"Process_structured_field", {"zz-new", "1"}, "VM", "platform", vm, "AddMap"}),
              "[\"Process_structured_field\",null]");
    auto platform = sexpr::ParseMap(pool->ReadField("VM", "platform", vm));
    ASSERT_GE(platform.size(), 2u);
    ASSERT_EQ(Call({"Process_structured_field", {platform[0].first, ""}, "VM", "platform", vm,
                    "RemoveMap"}),
              "[\"Process_structured_field\",null]");
    platform.erase(platform.begin());
    platform.insert(platform.begin(), {"zz-new", "1"});
    EXPECT_EQ(read("VM", "platform", vm), sexpr::PrintMap(platform));
    ASSERT_EQ(daemon.Kill(SIGTERM), 0) << ReadFile(log_);
  }
  DaemonProcess again(repo_, socket_, log_);
  std::string vm = pool->ReadRefs("VM").front();
  auto platform = sexpr::ParseMap(pool->ReadField("VM", "platform", vm));
  platform.erase(platform.begin());
  platform.insert(platform.begin(), {"zz-new", "1"});
  EXPECT_EQ(read("VM", "platform", vm), sexpr::PrintMap(platform));
  for (const std::string& ref : pool->ReadRefs("VDI")) {
    EXPECT_EQ(read("VDI", "sm_config", ref), pool->ReadField("VDI", "sm_config", ref));
  }
  ExpectFsckClean(repo_);
  // And back out to xapi: the exported state.db lists them in that order.
  ASSERT_EQ(again.Kill(SIGTERM), 0);
  const std::string exported = dir_ / "exported.db";
  ASSERT_EQ(Cli("export -o " + ShellQuote(exported)).exit_code, 0);
  auto back = ParseStateDb(ReadFile(exported), Schema::Builtin(5, 82));
  EXPECT_EQ(back->ReadField("VM", "platform", vm), sexpr::PrintMap(platform));
  for (const std::string& ref : pool->ReadRefs("VDI")) {
    EXPECT_EQ(back->ReadField("VDI", "sm_config", ref), pool->ReadField("VDI", "sm_config", ref));
  }
}

// Every public vector through a real daemon serving a repository made by
// the real `import` and opened by `serve` (docs/compatibility.md, "After a
// restart"): the answers are xapi's exact bytes, v1 and v2, framed and not.
TEST(DaemonVectors, EveryVectorAnswersAsXapiFromAnImportedRepository) {
  TempDir dir;
  const std::string fixture = dir / "fixture";
  CommandResult imported =
      RunCli(fixture, "import --schema " + ShellQuote(VectorPath("fixture-schema.json")) + " " +
                          ShellQuote(VectorPath("fixture-state.db")));
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  int index = 0, steps = 0;
  for (auto [file, path] : {std::pair{"v1.jsonl", "/remote_db_access"},
                            std::pair{"v2.jsonl", "/post_remote_db_access_v2"}}) {
    for (const VectorCase& c : LoadVectorCases(file)) {
      SCOPED_TRACE(std::string(file) + " " + c.id);
      const std::string repo = dir / ("repo" + std::to_string(index));
      const std::string socket = dir / ("s" + std::to_string(index) + ".sock");
      bool framed = index++ % 2 == 0;
      ASSERT_EQ(test::Run("cp -a " + ShellQuote(fixture) + " " + ShellQuote(repo)).exit_code, 0);
      DaemonProcess daemon(repo, socket, dir / "daemon.log");
      auto conn = std::make_unique<server::Connection>(server::Connection::Unix(socket));
      for (const VectorStep& step : c.steps) {
        ++steps;
        server::Answer a = conn->Call(path, step.request, "", framed);
        if (step.status == 200) {
          EXPECT_EQ(a.status, 200) << step.request;
          EXPECT_EQ(a.body, step.response) << step.request;
        } else {
          EXPECT_EQ(a.status, 500) << step.request;
          conn = std::make_unique<server::Connection>(server::Connection::Unix(socket));
        }
      }
      conn.reset();
      daemon.Kill(SIGKILL);
      test::Run("rm -rf " + ShellQuote(repo));
    }
  }
  EXPECT_GT(steps, 250);
}

}  // namespace
}  // namespace xgdb::test
