// The `xapi-gitdb` command line, run as a user runs it: the real binary in a
// scratch directory, on the real 2014 pool database (tests/data), checked
// with plain git where that is what an admin would do.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/paths.h"
#include "xgdb/statedb.h"

namespace xgdb {
namespace {

using test::BinaryPath;
using test::DataPath;
using test::ReadFile;
using test::ShellQuote;
using test::TempDir;
using test::WriteFile;

// A VM of the fixture (a template) and its name.
const char kVmRef[] = "OpaqueRef:0a5079bc-6dbf-f005-5e27-f64ec5b0fec5";
const char kVmUuid[] = "fa3fcb12-72ee-f9a8-e66c-4f75879aa11a";
const char kVmName[] = "SUSE Linux Enterprise Server 10 SP2 (32-bit)";
// A host of the fixture.
const char kHostUuid[] = "5a7149e2-3e8a-457b-9a94-43ba3d98b27a";

class CliTest : public ::testing::Test {
 protected:
  std::string repo() const { return dir_ / "repo"; }

  // Runs `xapi-gitdb --repo <repo> <args>`; stdout and stderr together.
  test::CommandResult Cli(const std::string& args) const {
    return test::Run(ShellQuote(BinaryPath("xapi-gitdb")) + " --repo " + ShellQuote(repo()) + " " +
               args);
  }
  // The same with stderr dropped (for output a script would parse).
  test::CommandResult CliStdout(const std::string& args) const {
    return test::Run("{ " + ShellQuote(BinaryPath("xapi-gitdb")) + " --repo " + ShellQuote(repo()) +
               " " + args + " 2>/dev/null; }");
  }
  test::CommandResult Git(const std::string& args) const {
    return test::Run("git -C " + ShellQuote(repo()) + " " + args);
  }
  void ImportFixture() {
    auto r = Cli("import " + ShellQuote(DataPath("state-5.82.xml")));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  std::string Head() const { return Git("rev-parse master").output; }

  TempDir dir_;
};

// Rows per table of a parsed state.db.
std::map<std::string, size_t> RowCounts(const Database& db) {
  std::map<std::string, size_t> counts;
  for (const auto& t : db.schema().tables()) counts[t.name] = db.RowCount(t.name);
  return counts;
}

TEST_F(CliTest, HelpWorksForEverySubcommand) {
  for (const char* sub : {"", "init", "import", "export", "get", "set", "log", "show", "serve"}) {
    auto r = test::Run(ShellQuote(BinaryPath("xapi-gitdb")) + " " + sub + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub << "\n" << r.output;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << sub << "\n" << r.output;
  }
}

TEST_F(CliTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(Cli("").exit_code, 2);
  EXPECT_EQ(Cli("frobnicate").exit_code, 2);
  auto get = Cli("get");
  EXPECT_EQ(get.exit_code, 2);
  EXPECT_EQ(get.output.rfind("xapi-gitdb: error: ", 0), 0u) << get.output;
  EXPECT_NE(get.output.find("xapi-gitdb get --help"), std::string::npos) << get.output;
  EXPECT_EQ(Cli("set " + std::string(kVmRef)).exit_code, 2);
  EXPECT_EQ(Cli("import /nonexistent/state.db").exit_code, 2);
}

TEST_F(CliTest, CommandsOnAMissingRepositoryNameIt) {
  auto r = Cli(std::string("get ") + kVmRef);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("xapi-gitdb: error: no repository at " + repo()), std::string::npos)
      << r.output;
}

TEST_F(CliTest, InitCreatesAnEmptyDatabase) {
  auto r = Cli("init --schema 5.82");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("schema 5.82"), std::string::npos) << r.output;
  EXPECT_EQ(Git("rev-parse --verify master").exit_code, 0);
  EXPECT_EQ(Cli(std::string("get ") + kVmRef).exit_code, 1);
  // A second init must not clobber the first.
  const std::string head = Head();
  EXPECT_NE(Cli("init").exit_code, 0);
  EXPECT_EQ(Head(), head);
  EXPECT_NE(Cli("init --schema 9.99").exit_code, 0);
}

TEST_F(CliTest, ImportSummarisesWhatItCommitted) {
  auto r = Cli("import " + ShellQuote(DataPath("state-5.82.xml")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("imported 447 rows in 18 tables from state-5.82.xml (schema 5.82)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(Head().substr(0, 12)), std::string::npos) << r.output;
  auto log = Git("log --format=%s master");
  EXPECT_NE(log.output.find("import state-5.82.xml"), std::string::npos) << log.output;
}

TEST_F(CliTest, GetFindsAnObjectByRefOrUuid) {
  ImportFixture();
  auto by_ref = Cli(std::string("get ") + kVmRef + " name__label");
  ASSERT_EQ(by_ref.exit_code, 0) << by_ref.output;
  EXPECT_EQ(by_ref.output, std::string(kVmName) + "\n");
  auto by_uuid = Cli(std::string("get ") + kVmUuid + " name__label");
  EXPECT_EQ(by_uuid.output, by_ref.output);
  auto with_table = Cli(std::string("get VM ") + kVmUuid + " name__label");
  EXPECT_EQ(with_table.output, by_ref.output);
  auto by_name = Cli("get host st05 uuid");
  EXPECT_EQ(by_name.output, std::string(kHostUuid) + "\n");

  auto record = Cli(std::string("get ") + kVmUuid);
  ASSERT_EQ(record.exit_code, 0) << record.output;
  EXPECT_EQ(record.output.rfind(std::string("VM ") + kVmRef + "\npath: xapi/VM/", 0), 0u)
      << record.output;
  EXPECT_NE(record.output.find(std::string("  name__label:") ), std::string::npos);
  EXPECT_NE(record.output.find(std::string(" ") + kVmName + "\n"), std::string::npos);
  EXPECT_NE(record.output.find(std::string("  uuid:")), std::string::npos);
  // Fields come sorted.
  EXPECT_LT(record.output.find("  name__label:"), record.output.find("  uuid:"));
}

TEST_F(CliTest, GetJsonHoldsTheSame) {
  ImportFixture();
  auto r = CliStdout(std::string("get --json ") + kVmUuid);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["table"], "VM");
  EXPECT_EQ(j["ref"], kVmRef);
  EXPECT_EQ(j["fields"]["name__label"], kVmName);
  EXPECT_EQ(j["fields"]["uuid"], kVmUuid);
  EXPECT_EQ(j["path"].get<std::string>().rfind("xapi/VM/", 0), 0u);

  // --json after the subcommand too, and one field is one JSON string.
  auto field = CliStdout(std::string("get ") + kVmRef + " name__label --json");
  ASSERT_EQ(field.exit_code, 0) << field.output;
  EXPECT_EQ(nlohmann::json::parse(field.output), kVmName);
}

TEST_F(CliTest, GetOfAnUnknownObjectOrFieldFails) {
  ImportFixture();
  auto r = Cli("get OpaqueRef:does-not-exist");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("xapi-gitdb: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("OpaqueRef:does-not-exist"), std::string::npos) << r.output;
  auto f = Cli(std::string("get ") + kVmRef + " no_such_field");
  EXPECT_EQ(f.exit_code, 1);
  EXPECT_NE(f.output.find("no_such_field"), std::string::npos) << f.output;
}

TEST_F(CliTest, SetCommitsAndHistoryShowsIt) {
  ImportFixture();
  const std::string before = Head();
  auto set = Cli(std::string("set ") + kVmUuid + " name__label 'renamed by test'");
  ASSERT_EQ(set.exit_code, 0) << set.output;
  EXPECT_NE(Head(), before);
  EXPECT_EQ(Cli(std::string("get ") + kVmRef + " name__label").output, "renamed by test\n");
  // The old value is still there one commit back.
  EXPECT_EQ(Cli(std::string("get --at master~1 ") + kVmRef + " name__label").output,
            std::string(kVmName) + "\n");

  auto log = Cli("log -n 1");
  ASSERT_EQ(log.exit_code, 0) << log.output;
  EXPECT_NE(log.output.find(Head().substr(0, 12)), std::string::npos) << log.output;
  EXPECT_NE(log.output.find("name__label"), std::string::npos) << log.output;
  auto object_log = Cli(std::string("log ") + kVmUuid + "/name__label --json");
  ASSERT_EQ(object_log.exit_code, 0) << object_log.output;
  auto commits = nlohmann::json::parse(object_log.output);
  ASSERT_GE(commits.size(), 1u);
  EXPECT_EQ(commits[0]["id"], Head().substr(0, 40));

  auto show = Cli("show");
  ASSERT_EQ(show.exit_code, 0) << show.output;
  EXPECT_NE(show.output.find(std::string("VM ") + kVmRef), std::string::npos) << show.output;
  EXPECT_NE(show.output.find(std::string("name__label: ") + kVmName + " -> renamed by test"),
            std::string::npos)
      << show.output;
  auto show_json = CliStdout("show --json");
  auto j = nlohmann::json::parse(show_json.output);
  ASSERT_EQ(j["changes"].size(), 1u) << show_json.output;
  EXPECT_EQ(j["changes"][0]["field"], "name__label");
  EXPECT_EQ(j["changes"][0]["new"], "renamed by test");
}

TEST_F(CliTest, SetEditsMapsAndSets) {
  ImportFixture();
  const std::string vm = kVmRef;
  ASSERT_EQ(Cli("set " + vm + " other_config --add-to-map test-key test-value").exit_code, 0);
  EXPECT_NE(Cli("get " + vm + " other_config").output.find("('test-key' 'test-value')"),
            std::string::npos);
  // show names the key that changed, not two long map texts.
  EXPECT_NE(Cli("show").output.find("+ 'test-key': 'test-value'"), std::string::npos)
      << Cli("show").output;
  ASSERT_EQ(Cli("set " + vm + " other_config --remove-from-map mac_seed").exit_code, 0);
  EXPECT_EQ(Cli("get " + vm + " other_config").output.find("mac_seed"), std::string::npos);
  ASSERT_EQ(Cli("set " + vm + " tags --add-to-set green").exit_code, 0);
  EXPECT_EQ(Cli("get " + vm + " tags").output, "('green')\n");
  ASSERT_EQ(Cli("set " + vm + " tags --remove-from-set green").exit_code, 0);
  EXPECT_EQ(Cli("get " + vm + " tags").output, "()\n");
  // A map operation on a set field is refused and changes nothing.
  const std::string head = Head();
  EXPECT_EQ(Cli("set " + vm + " tags --add-to-map a b").exit_code, 1);
  EXPECT_EQ(Head(), head);
}

TEST_F(CliTest, SetRefusesWhatTheRepositoryCannotHold) {
  ImportFixture();
  const std::string head = Head();
  // VM.VBDs is derived from VBD.VM: writing it would be lost at once.
  auto r = Cli(std::string("set ") + kVmRef + " VBDs \"('OpaqueRef:x')\"");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("VM.VBDs is not stored"), std::string::npos) << r.output;
  // Writing the value a field already has commits nothing.
  auto same = Cli(std::string("set ") + kVmRef + " name__label " + ShellQuote(kVmName));
  EXPECT_EQ(same.exit_code, 0) << same.output;
  EXPECT_NE(same.output.find("unchanged"), std::string::npos) << same.output;
  EXPECT_EQ(Head(), head);
}

TEST_F(CliTest, ExportRoundTripsThroughStateDb) {
  ImportFixture();
  auto original = ReadStateDbFile(DataPath("state-5.82.xml"), nullptr);
  const std::string out = dir_ / "exported.db";
  auto r = Cli("export -o " + ShellQuote(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  StateDbManifest manifest;
  auto exported = ParseStateDb(ReadFile(out), nullptr, &manifest);
  EXPECT_EQ(RowCounts(*exported), RowCounts(*original));
  EXPECT_EQ(exported->TotalRows(), 447u);
  EXPECT_EQ(manifest.schema_major, 5);
  EXPECT_EQ(manifest.schema_minor, 82);
  EXPECT_EQ(exported->ReadField("VM", "name__label", kVmRef), kVmName);

  // stdout holds the same document; --gzip is still readable.
  EXPECT_EQ(CliStdout("export").output, ReadFile(out));
  ASSERT_EQ(Cli("export --gzip -o " + ShellQuote(out + ".gz")).exit_code, 0);
  EXPECT_EQ(ParseStateDb(ReadFile(out + ".gz"), nullptr)->TotalRows(), 447u);
}

TEST_F(CliTest, BadImportFailsAndLeavesTheRepositoryAlone) {
  ImportFixture();
  const std::string head = Head();
  std::string text = ReadFile(DataPath("state-5.82.xml"));
  const std::string bad = dir_ / "bad-state.xml";
  // An unknown table: the message must name it.
  std::string unknown = text;
  unknown.replace(unknown.find("<table name=\"Bond\"/>"), 20, "<table name=\"NoSuchTable\"/>");
  WriteFile(bad, unknown);
  auto r = Cli("import " + ShellQuote(bad));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("xapi-gitdb: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("NoSuchTable"), std::string::npos) << r.output;
  EXPECT_EQ(Head(), head);

  // Truncated XML.
  WriteFile(bad, text.substr(0, text.size() / 2));
  auto t = Cli("import " + ShellQuote(bad));
  EXPECT_NE(t.exit_code, 0);
  EXPECT_NE(t.output.find("bad-state.xml"), std::string::npos) << t.output;
  EXPECT_EQ(Head(), head);
  // Exactly one line of complaint.
  EXPECT_EQ(t.output.find('\n'), t.output.size() - 1) << t.output;
}

TEST_F(CliTest, PlainGitWorksOnTheResult) {
  ImportFixture();
  ASSERT_EQ(Cli(std::string("set ") + kVmRef + " name__label x").exit_code, 0);
  auto log = Git("log --oneline");
  EXPECT_EQ(log.exit_code, 0) << log.output;
  EXPECT_NE(log.output.find("import state-5.82.xml"), std::string::npos) << log.output;
  auto fsck = Git("fsck");
  EXPECT_EQ(fsck.exit_code, 0) << fsck.output;
}

// Polls `done` for up to ten seconds.
template <typename F>
bool WaitFor(F done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

// Stops the daemon a test started, whatever happens to the test.
struct DaemonGuard {
  std::string pid_file;
  pid_t Pid() const {
    try {
      return static_cast<pid_t>(std::stol(ReadFile(pid_file)));
    } catch (const std::exception&) {
      return 0;
    }
  }
  ~DaemonGuard() {
    if (pid_t pid = Pid(); pid > 0) kill(pid, SIGKILL);
  }
};

TEST_F(CliTest, ServeAnswersOnItsSocketAndCommitsWrites) {
  ImportFixture();
  const std::string sock = dir_ / "db.sock";
  const std::string rc_file = dir_ / "serve.rc";
  DaemonGuard daemon{dir_ / "serve.pid"};
  // Backgrounded with its output away from Run()'s pipe, or Run() would wait
  // for the daemon to end.
  // Socket and pid file come from a config file, the rest from flags.
  const std::string config = dir_ / "serve.conf";
  WriteFile(config, "# test daemon\nsocket = " + sock + "\npid-file = \"" + daemon.pid_file +
                        "\"\ncommit-interval-ms = 10\nlog-level = error\n");
  auto start = test::Run("( " + ShellQuote(BinaryPath("xapi-gitdb")) + " --repo " +
                         ShellQuote(repo()) + " serve --config " + ShellQuote(config) +
                         " --no-fsync --log-level warn >" +
                         ShellQuote(dir_ / "serve.log") + " 2>&1; echo $? >" +
                         ShellQuote(rc_file) + " ) </dev/null >/dev/null 2>&1 &");
  ASSERT_EQ(start.exit_code, 0) << start.output;
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(sock) && daemon.Pid() > 0; }))
      << ReadFile(dir_ / "serve.log");

  auto curl = [&](const std::string& body) {
    return test::Run("curl -s --unix-socket " + ShellQuote(sock) +
                     " http://localhost/remote_db_access_v2 -d " + ShellQuote(body))
        .output;
  };
  EXPECT_EQ(curl(std::string("[\"Db_get_by_uuid\",\"VM\",\"") + kVmUuid + "\"]"),
            std::string("[\"Db_get_by_uuid\",\"") + kVmRef + "\"]");
  EXPECT_EQ(curl(std::string("[\"Write_field\",\"VM\",\"") + kVmRef +
                 "\",\"name__label\",\"via the daemon\"]"),
            "[\"Write_field\",null]");

  // SIGTERM: the daemon commits what is pending and exits 0.
  ASSERT_EQ(kill(daemon.Pid(), SIGTERM), 0);
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(rc_file) &&
                                   !ReadFile(rc_file).empty(); }));
  EXPECT_EQ(ReadFile(rc_file), "0\n") << ReadFile(dir_ / "serve.log");
  EXPECT_EQ(Cli(std::string("get ") + kVmRef + " name__label").output, "via the daemon\n");
}

TEST_F(CliTest, ServeRefusesInconsistentFlags) {
  ImportFixture();
  auto tcp = Cli("serve --tcp 127.0.0.1:0");
  EXPECT_EQ(tcp.exit_code, 2) << tcp.output;
  auto no_secret = Cli("serve --tcp 127.0.0.1:8080");
  EXPECT_EQ(no_secret.exit_code, 2);
  EXPECT_NE(no_secret.output.find("--secret-file"), std::string::npos) << no_secret.output;
  EXPECT_EQ(Cli("serve --no-socket").exit_code, 2);
  EXPECT_EQ(Cli("serve --log-level loud").exit_code, 2);
  WriteFile(dir_ / "bad.conf", "socket = /tmp/x.sock\nbogus-key = 1\n");
  auto bad = Cli("serve --config " + ShellQuote(dir_ / "bad.conf"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("unknown key bogus-key"), std::string::npos) << bad.output;
}

TEST_F(CliTest, RepositoryDefaultsFromTheEnvironment) {
  ImportFixture();
  auto r = test::Run("XAPI_GITDB_REPO=" + ShellQuote(repo()) + " " +
               ShellQuote(BinaryPath("xapi-gitdb")) + " get " + kVmRef + " name__label");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, std::string(kVmName) + "\n");
}

}  // namespace
}  // namespace xgdb
