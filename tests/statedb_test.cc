// state.db reading and writing: xapi's whitespace protection, gzip, the
// atomic file replacement, the byte-exact writer against xapi's own output,
// a field-by-field round trip of the real 2014 database, and every kind of
// bad input.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <pugixml.hpp>

#include "schema/sexpr.h"
#include "statedb/atomic_file.h"
#include "statedb/gzip.h"
#include "statedb/xml_spaces.h"
#include "support/paths.h"
#include "xgdb/database.h"
#include "xgdb/error.h"
#include "xgdb/statedb.h"

namespace xgdb {
namespace {

using statedb::Protect;
using statedb::Unprotect;
using test::DataPath;
using test::ReadFile;
using test::TempDir;

std::shared_ptr<const Schema> FixtureSchema() {
  return Schema::LoadFile(DataPath("vectors/fixture-schema.json"));
}
std::string FixtureText() { return ReadFile(DataPath("vectors/fixture-state.db")); }

// Replaces the one occurrence of `from` in `text` (the test fails if absent).
std::string Edit(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "test bug: no '" << from << "'";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// ---------------------------------------------------------------- xml_spaces

TEST(XmlSpaces, ProtectEncodesEveryWhitespaceAndPercent) {
  EXPECT_EQ(Protect("a b\tc\nd\re%f"), "a%.b%tc%nd%re%%f");
  EXPECT_EQ(Protect("  "), "%.%.");
  EXPECT_EQ(Protect("plain"), "plain");
  EXPECT_EQ(Protect(""), "");
}

TEST(XmlSpaces, UnprotectReadsCurrentAndOldForms) {
  EXPECT_EQ(Unprotect("a%.b%tc%nd%re%%f"), "a b\tc\nd\re%f");
  EXPECT_EQ(Unprotect("a%_b"), "a  b");         // pre-2017: a pair of spaces
  EXPECT_EQ(Unprotect("Local storage"), "Local storage");  // pre-2017 raw space
  EXPECT_EQ(Unprotect("100%"), "100%");         // lone % at the end stays
  EXPECT_EQ(Unprotect("%x%."), "%x ");          // unknown pair: % kept, next read anew
  EXPECT_EQ(Unprotect("%%."), "%.");            // %% consumed first
  EXPECT_EQ(Unprotect("%%%."), "% ");
}

TEST(XmlSpaces, RoundTripsEveryByte) {
  std::string all;
  for (int c = 1; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_EQ(Unprotect(Protect(all)), all);
  EXPECT_EQ(Protect(all).find_first_of(" \t\r\n"), std::string::npos);
}

TEST(XmlSpaces, AttributeEscapingMatchesXapi) {
  std::string out;
  statedb::AppendProtectedAttribute("it's <a> & \"b\" 5%", &out);
  EXPECT_EQ(out, "it's%.&lt;a&gt;%.&amp;%.&quot;b&quot;%.5%%");
}

// ---------------------------------------------------------------- gzip

TEST(Gzip, RoundTripsAndIsDetectedByMagic) {
  std::string text = FixtureText();
  std::string gz = statedb::Gzip(text);
  EXPECT_TRUE(statedb::IsGzip(gz));
  EXPECT_FALSE(statedb::IsGzip(text));
  EXPECT_LT(gz.size(), text.size());
  EXPECT_EQ(statedb::Gunzip(gz), text);
  EXPECT_EQ(statedb::Gunzip(statedb::Gzip("")), "");
}

TEST(Gzip, TruncatedOrDamagedInputIsAClearError) {
  std::string gz = statedb::Gzip(FixtureText());
  try {
    statedb::Gunzip(gz.substr(0, gz.size() / 2));
    FAIL() << "truncated gzip accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  std::string bad = gz;
  for (size_t i = 20; i < 40; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
  EXPECT_THROW(statedb::Gunzip(bad), Error);
}

// A gzip bomb (80 MiB of zeros, ~80 KB compressed): refused once it passes
// the limit, with a clear error, instead of taking the machine's memory.
TEST(Gzip, ADecompressionBombIsRefused) {
  std::string gz = statedb::Gzip(std::string(size_t{80} << 20, '\0'));
  ASSERT_LT(gz.size(), size_t{1} << 20);
  try {
    statedb::Gunzip(gz);
    FAIL() << "a 1000-fold expansion was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("expands beyond"), std::string::npos) << e.what();
  }
  // Real ones pass: the fixture compresses ~10 times.
  EXPECT_EQ(statedb::Gunzip(statedb::Gzip(FixtureText())), FixtureText());
}

// ---------------------------------------------------------------- atomic file

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(AtomicFile, ReplacesTheTargetWithMode0600AndNoTempLeft) {
  TempDir dir;
  std::string path = dir / "state.db";
  test::WriteFile(path, "old");
  ::chmod(path.c_str(), 0644);
  statedb::WriteFileAtomically(path, "new contents");
  EXPECT_EQ(ReadFile(path), "new contents");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"state.db"});
}

TEST(AtomicFile, MissingDirectoryIsAnIoErrorNamingThePath) {
  TempDir dir;
  try {
    statedb::WriteFileAtomically(dir / "no/such/state.db", "x");
    FAIL() << "write into a missing directory succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("no/such/state.db"), std::string::npos) << e.what();
  }
}

TEST(AtomicFile, UnwritableDirectoryLeavesTargetIntact) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  std::string path = dir / "state.db";
  test::WriteFile(path, "precious");
  ::chmod(dir.path().c_str(), 0500);
  EXPECT_THROW(statedb::WriteFileAtomically(path, "new"), Error);
  ::chmod(dir.path().c_str(), 0700);
  EXPECT_EQ(ReadFile(path), "precious");
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"state.db"});
}

// A write that fails half way (the file size limit, which also binds root):
// the error is reported, the old file is untouched and no temp file remains.
TEST(AtomicFile, FailedWriteLeavesTargetIntactAndNoTempFile) {
  TempDir dir;
  std::string path = dir / "state.db";
  test::WriteFile(path, "precious");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      statedb::WriteFileAtomically(path, std::string(1 << 20, 'x'));
    } catch (const Error& e) {
      ::_exit(e.kind() == ErrorKind::kIo ? 0 : 2);
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the write did not fail, 2: wrong error kind";
  EXPECT_EQ(ReadFile(path), "precious");
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"state.db"});
}

// ---------------------------------------------------------------- fixture

TEST(StateDb, LoadsTheVectorsFixtureTheWayXapiDoes) {
  StateDbManifest m;
  auto db = ParseStateDb(FixtureText(), FixtureSchema(), &m);
  EXPECT_EQ(m.schema_major, 1);
  EXPECT_EQ(m.schema_minor, 1);
  EXPECT_EQ(m.generation_count, 20);
  EXPECT_EQ(db->RowCount("VM"), 3u);
  EXPECT_EQ(db->RowCount("VBD"), 3u);
  EXPECT_EQ(db->ReadField("VM", "name__description", "OpaqueRef:vm1"), "first VM");
  EXPECT_EQ(db->ReadField("VM", "name__description", "OpaqueRef:vm3"), "it%s third");
  EXPECT_EQ(db->ReadField("VM", "other_config", "OpaqueRef:vm1"), "()");  // non-persistent
  EXPECT_EQ(db->ReadField("VM", "tags", "OpaqueRef:vm3"), "('it\\'s')");
  EXPECT_EQ(db->ReadField("VM", "VBDs", "OpaqueRef:vm1"), "('OpaqueRef:vbd2' 'OpaqueRef:vbd1')");
}

// xapi's writer straight after loading: every row is stamped with the
// manifest generation (its load resets row stamps, spec 1.6 step 2), so with
// generation_count as the stamp the output is identical to the last byte.
TEST(StateDb, FormatsTheFixtureExactlyAsXapiWritesIt) {
  StateDbManifest m;
  auto db = ParseStateDb(FixtureText(), FixtureSchema(), &m);
  std::string expected = ReadFile(DataPath("vectors/fixture-state.as-written-by-xapi.db"));
  EXPECT_EQ(FormatStateDb(*db, m.generation_count), expected);
  // ... and the stamps are the only thing the generation changes.
  std::string other = FormatStateDb(*db, 7);
  std::string expected7 = expected;
  const std::string from = "=\"20\"";
  for (size_t at; (at = expected7.find(from)) != std::string::npos;) {
    expected7.replace(at, from.size(), "=\"7\"");
  }
  EXPECT_EQ(other, expected7);
}

TEST(StateDb, EmptyDatabaseWritesEveryTableEmptyInByteOrder) {
  auto schema = Schema::Newest();
  Database db(schema);
  std::string text = FormatStateDb(db, 5);
  std::vector<std::string> names;
  for (size_t at = 0; (at = text.find("<table name=\"", at)) != std::string::npos;) {
    at += 13;
    names.push_back(text.substr(at, text.find('"', at) - at));
  }
  EXPECT_EQ(names.size(), schema->tables().size());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(text.find("<row"), std::string::npos);
  EXPECT_EQ(text.rfind("</database>"), text.size() - 11);  // no final newline
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  auto back = ParseStateDb(text, nullptr);
  EXPECT_EQ(back->TotalRows(), 0u);
}

TEST(StateDb, MissingFileIsAnIoError) {
  TempDir dir;
  try {
    ReadStateDbFile(dir / "absent.db", FixtureSchema());
    FAIL() << "read a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("absent.db"), std::string::npos);
  }
}

TEST(StateDb, WriterProtectsWhitespaceAndEscapesXml) {
  auto db = ParseStateDb(FixtureText(), FixtureSchema());
  db->WriteField("VM", "OpaqueRef:vm2", "name__description", "tab\there\nnew \"q\" <b> & it's 5%\r");
  db->WriteField("VM", "OpaqueRef:vm2", "tags", "('say \"hi\"' 'x y')");
  std::string text = FormatStateDb(*db, 21);
  EXPECT_NE(text.find(" name__description=\"tab%there%nnew%.&quot;q&quot;%.&lt;b&gt;%.&amp;%."
                      "it's%.5%%%r\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(" tags=\"('say%.&quot;hi&quot;'%.'x%.y')\""), std::string::npos) << text;
  auto again = ParseStateDb(text, FixtureSchema());
  EXPECT_EQ(again->ReadField("VM", "name__description", "OpaqueRef:vm2"),
            "tab\there\nnew \"q\" <b> & it's 5%\r");
  EXPECT_EQ(again->ReadField("VM", "tags", "OpaqueRef:vm2"), "('say \"hi\"' 'x y')");
}

TEST(StateDb, ReadsOldDoubleSpaceAndBackslashQuoteForms) {
  std::string text = Edit(FixtureText(), "name__description=\"first%.VM\"",
                          "name__description=\"two%_spaces and one\"");
  text = Edit(text, "tags=\"('red'%.'blue')\"", "tags=\"('say \\&quot;hi\\&quot;' 'x')\"");
  auto db = ParseStateDb(text, FixtureSchema());
  EXPECT_EQ(db->ReadField("VM", "name__description", "OpaqueRef:vm1"), "two  spaces and one");
  EXPECT_EQ(db->ReadField("VM", "tags", "OpaqueRef:vm1"), "('say \"hi\"' 'x')");
  std::string out = FormatStateDb(*db, 20);
  EXPECT_NE(out.find("name__description=\"two%.%.spaces%.and%.one\""), std::string::npos);
  EXPECT_NE(out.find("tags=\"('say%.&quot;hi&quot;'%.'x')\""), std::string::npos);
}

TEST(StateDb, PrettyPrintedInputWithoutDeclarationLoads) {
  std::string text = FixtureText();
  text = text.substr(text.find('\n') + 1);
  for (std::string tag : {"<table", "<row", "</table>", "<manifest>"}) {
    for (size_t at = 0; (at = text.find(tag, at)) != std::string::npos; at += tag.size() + 3) {
      text.insert(at, "\n  ");
    }
  }
  auto db = ParseStateDb(text, FixtureSchema());
  EXPECT_EQ(db->TotalRows(), 6u);
}

TEST(StateDb, GzipInputAndOutput) {
  TempDir dir;
  StateDbManifest m;
  auto db = ParseStateDb(statedb::Gzip(FixtureText()), FixtureSchema(), &m);
  EXPECT_EQ(db->TotalRows(), 6u);
  std::string path = dir / "state.db.gz";
  WriteStateDbFile(*db, m.generation_count, path, /*compress=*/true);
  std::string raw = ReadFile(path);
  ASSERT_TRUE(statedb::IsGzip(raw));
  EXPECT_EQ(statedb::Gunzip(raw), FormatStateDb(*db, m.generation_count));
  auto back = ReadStateDbFile(path, FixtureSchema());
  EXPECT_EQ(FormatStateDb(*back, 20), FormatStateDb(*db, 20));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"state.db.gz"});
}

TEST(StateDb, WriteFailureLeavesExistingFileIntact) {
  TempDir dir;
  auto db = ParseStateDb(FixtureText(), FixtureSchema());
  std::string path = dir / "state.db";
  WriteStateDbFile(*db, 20, path);
  std::string before = ReadFile(path);
  db->WriteField("VM", "OpaqueRef:vm2", "name__label", "changed");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {256, 256};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      WriteStateDbFile(*db, 21, path);
    } catch (const Error& e) {
      ::_exit(e.kind() == ErrorKind::kIo ? 0 : 2);
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ReadFile(path), before);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>{"state.db"});
}

TEST(StateDb, ProgressIsReportedWithTheRowTotal) {
  std::vector<std::pair<size_t, size_t>> calls;
  ParseStateDb(FixtureText(), FixtureSchema(), nullptr,
               [&](size_t done, size_t total) { calls.emplace_back(done, total); });
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::make_pair(size_t{6}, size_t{6}));
}

// ---------------------------------------------------------------- bad input

// Parses `text`, expects ONE Error(kInvalidArgument) mentioning every
// `needles`, and checks the caller's manifest was not touched.
void ExpectRejected(const std::string& text, std::vector<std::string> needles,
                    std::shared_ptr<const Schema> schema = FixtureSchema()) {
  StateDbManifest m;
  m.generation_count = -42;
  std::unique_ptr<Database> db;
  try {
    db = ParseStateDb(text, schema, &m);
    ADD_FAILURE() << "accepted; expected an error naming " << needles[0];
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
    for (const std::string& n : needles) {
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' does not name '" << n << "'";
    }
  }
  EXPECT_EQ(db, nullptr);
  EXPECT_EQ(m.generation_count, -42);
}

std::string RowOffset(const std::string& text, const std::string& ref) {
  return "byte " + std::to_string(text.find("<row ref=\"" + ref + "\""));
}

TEST(StateDbBadInput, NotXml) { ExpectRejected("this is not xml", {"not well-formed XML", "byte"}); }

TEST(StateDbBadInput, Empty) { ExpectRejected("", {"state.db"}); }

TEST(StateDbBadInput, Truncated) {
  std::string text = FixtureText();
  ExpectRejected(text.substr(0, text.size() / 2), {"not well-formed XML", "truncated"});
  ExpectRejected(statedb::Gzip(text).substr(0, 100), {"truncated"});
}

TEST(StateDbBadInput, UnexpectedElement) {
  ExpectRejected(Edit(FixtureText(), "</manifest>", "</manifest><foo/>"),
                 {"unexpected element <foo>"});
  ExpectRejected(Edit(FixtureText(), "<table name=\"VBD\">", "<table name=\"VBD\"><pair key=\"a\" value=\"b\"/>"),
                 {"unexpected element <pair>", "VBD"});
}

TEST(StateDbBadInput, UnknownTable) {
  ExpectRejected(Edit(FixtureText(), "</manifest>", "</manifest><table name=\"Nope\"/>"),
                 {"unknown table Nope"});
}

TEST(StateDbBadInput, UnknownColumnNamesTableRowAndColumn) {
  std::string text = Edit(FixtureText(), "type=\"CD\"", "type=\"CD\" bogus=\"x\"");
  ExpectRejected(text, {RowOffset(text, "OpaqueRef:vbd2"), "table VBD", "row OpaqueRef:vbd2",
                        "column bogus", "unknown column"});
}

TEST(StateDbBadInput, ColumnGivenTwice) {
  ExpectRejected(Edit(FixtureText(), "type=\"CD\"", "type=\"CD\" type=\"Disk\""),
                 {"row OpaqueRef:vbd2", "column type"});
}

TEST(StateDbBadInput, RowWithoutRef) {
  std::string text = Edit(FixtureText(), "<row ref=\"OpaqueRef:vm2\" ", "<row ");
  ExpectRejected(text, {"table VM has no ref"});
}

TEST(StateDbBadInput, DuplicateRef) {
  ExpectRejected(Edit(FixtureText(), "<row ref=\"OpaqueRef:vbd2\"", "<row ref=\"OpaqueRef:vbd1\""),
                 {"row OpaqueRef:vbd1", "table VBD"});
}

TEST(StateDbBadInput, BadSetAndMapSyntax) {
  ExpectRejected(Edit(FixtureText(), "tags=\"('red'%.'blue')\"", "tags=\"('red'%.'blue'\""),
                 {"row OpaqueRef:vm1", "column tags", "bad set"});
  // Parsed even though the column is thrown away later (xapi parses first).
  ExpectRejected(Edit(FixtureText(), "other_config=\"(('lost'%.'on%.load'))\"",
                      "other_config=\"(('lost'%.'on%.load')\""),
                 {"row OpaqueRef:vm1", "column other_config", "bad map"});
}

TEST(StateDbBadInput, MissingColumnWithoutDefault) {
  ExpectRejected(Edit(FixtureText(), " name__label=\"beta\"", ""),
                 {"row OpaqueRef:vm2", "column name__label", "no default"});
}

TEST(StateDbBadInput, DuplicateUuid) {
  ExpectRejected(Edit(FixtureText(), "uuid=\"bbbbbbbb-0000-0000-0000-000000000002\"",
                      "uuid=\"aaaaaaaa-0000-0000-0000-000000000001\""),
                 {"duplicate uuid aaaaaaaa-0000-0000-0000-000000000001", "OpaqueRef:vbd2",
                  "OpaqueRef:vm1"});
}

TEST(StateDbBadInput, BadManifest) {
  ExpectRejected(Edit(FixtureText(), "<pair key=\"generation_count\" value=\"20\"/>", ""),
                 {"manifest has no generation_count"});
  ExpectRejected(Edit(FixtureText(), "<pair key=\"generation_count\" value=\"20\"/>",
                      "<pair value=\"20\" key=\"generation_count\"/>"),
                 {"key and value, in that order"});
  ExpectRejected(Edit(FixtureText(), "value=\"20\"", "value=\"twenty\""), {"non-numeric"});
}

TEST(StateDbBadInput, BadRowStamp) {
  ExpectRejected(Edit(FixtureText(), "__ctime=\"4\"", "__ctime=\"four\""),
                 {"row OpaqueRef:vbd2", "__ctime"});
}

TEST(StateDbBadInput, UnknownSchemaVersionListsShippedOnes) {
  std::string text = Edit(FixtureText(), "value=\"1\"/><pair key=\"schema_minor_vsn\" value=\"1\"",
                          "value=\"9\"/><pair key=\"schema_minor_vsn\" value=\"99\"");
  ExpectRejected(text, {"9.99", "5.82", "5.909"}, nullptr);
}

// ---------------------------------------------------------------- real file

// The real 2014 database, read independently with pugixml: table -> ref ->
// column -> value after unprotect (sets and maps in canonical form).
using Image = std::map<std::string, std::map<std::string, std::map<std::string, std::string>>>;

Image ReadRawFile(const std::string& path, const Schema& schema) {
  pugi::xml_document doc;
  EXPECT_TRUE(doc.load_file(path.c_str()));
  Image image;
  for (pugi::xml_node t : doc.child("database").children("table")) {
    const Table* table = schema.FindTable(t.attribute("name").value());
    EXPECT_NE(table, nullptr);
    auto& rows = image[t.attribute("name").value()];
    for (pugi::xml_node r : t.children("row")) {
      auto& row = rows[r.attribute("ref").value()];
      for (pugi::xml_attribute a : r.attributes()) {
        std::string name = a.name();
        if (name == "ref" || name == "__ctime" || name == "__mtime") continue;
        const Column* c = table->FindColumn(name);
        std::string v = Unprotect(a.value());
        if (c->type != ColumnType::kString) v = sexpr::Canonical(v, c->type == ColumnType::kMap);
        row[name] = v;
      }
    }
  }
  return image;
}

Image ImageOf(const Database& db) {
  Image image;
  for (const Table& t : db.schema().tables()) image[t.name];
  db.ForEachRow([&](const Table& t, const std::string& ref, const std::vector<std::string>& v) {
    auto& row = image[t.name][ref];
    for (const Column& c : t.columns) row[c.name] = v[static_cast<size_t>(c.index)];
  });
  return image;
}

std::multiset<std::string> Elements(const std::string& set_text) {
  auto v = sexpr::ParseSet(set_text);
  return {v.begin(), v.end()};
}

TEST(StateDbRealFile, RoundTripKeepsEveryPersistentValue) {
  std::string path = DataPath("state-5.82.xml");
  StateDbManifest m;
  auto db = ReadStateDbFile(path, nullptr, &m);  // schema from the manifest
  ASSERT_EQ(m.schema_major, 5);
  ASSERT_EQ(m.schema_minor, 82);
  EXPECT_EQ(m.generation_count, 2194689);
  EXPECT_EQ(db->TotalRows(), 447u);
  EXPECT_EQ(db->RowCount("VDI"), 220u);
  EXPECT_EQ(db->RowCount("VM_metrics"), 73u);

  std::string text = FormatStateDb(*db, m.generation_count);
  StateDbManifest m2;
  auto again = ParseStateDb(text, nullptr, &m2);
  EXPECT_EQ(m2.generation_count, m.generation_count);
  Image first = ImageOf(*db), second = ImageOf(*again);
  EXPECT_EQ(first, second);  // every table, row and column
  EXPECT_EQ(FormatStateDb(*again, m.generation_count), text);  // a fixed point

  const Schema& schema = db->schema();
  Image file = ReadRawFile(path, schema);
  size_t persistent = 0, blanked = 0, recomputed = 0;
  for (const Table& t : schema.tables()) {
    ASSERT_EQ(first[t.name].size(), file[t.name].size()) << t.name;
    for (auto& [ref, row] : file[t.name]) {
      ASSERT_TRUE(first[t.name].count(ref)) << t.name << " " << ref;
      auto& loaded = first[t.name][ref];
      ASSERT_EQ(row.size(), t.columns.size()) << "the fixture has every column";
      for (const Column& c : t.columns) {
        SCOPED_TRACE(t.name + " " + ref + " " + c.name);
        if (c.relation == RelationSide::kOneToManySet) {
          EXPECT_EQ(Elements(loaded[c.name]), Elements(row[c.name]));
          ++recomputed;
        } else if (!c.persistent) {
          EXPECT_EQ(loaded[c.name], c.empty);
          ++blanked;
        } else {
          EXPECT_EQ(loaded[c.name], row[c.name]);
          ++persistent;
        }
      }
    }
  }
  EXPECT_GT(persistent, 10000u);
  EXPECT_GT(blanked, 1000u);
  EXPECT_GT(recomputed, 100u);
}

TEST(StateDbRealFile, OldFileUpgradesToNewestSchemaSkippingRemovedColumns) {
  StateDbManifest m;
  auto db = ReadStateDbFile(DataPath("state-5.82.xml"), Schema::Newest(), &m);
  EXPECT_EQ(m.schema_minor, 82);  // the file's version, as read
  EXPECT_EQ(db->TotalRows(), 447u);
  // host_metrics.memory__free is Removed in 5.909: the file's value is
  // skipped and the default comes back.
  for (const std::string& ref : db->ReadRefs("host_metrics")) {
    EXPECT_EQ(db->ReadField("host_metrics", "memory__free", ref), "0");
  }
  std::string text = FormatStateDb(*db, m.generation_count);
  EXPECT_NE(text.find("<pair key=\"schema_minor_vsn\" value=\"909\"/>"), std::string::npos);
  EXPECT_NE(text.find("name__label=\"Local%.storage\""), std::string::npos);
  EXPECT_NE(text.find("<table name=\"session\"/>"), std::string::npos);
}

}  // namespace
}  // namespace xgdb
