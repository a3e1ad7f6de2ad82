// The repository format: rows fan out over four levels of one hex digit,
// and a repository written by an earlier release (format 1: one level of
// 256 buckets) is upgraded in place when it is opened. The format-1
// repository is made with plain git from a current one, moving every row
// directory where format 1 kept it.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "store/layout.h"
#include "store_test_util.h"
#include "xgdb/store.h"

namespace xgdb::test {
namespace {

// Not a UUID after "OpaqueRef:": its fan-out comes from its hash.
const std::string kOddRef = "OpaqueRef:NotAUuid";

std::unique_ptr<Store> PoolWithOddRefs(const std::string& repo, int64_t generation) {
  auto db = std::make_unique<Database>(StoreTestSchema());
  for (int i = 0; i < 40; ++i) {
    db->LoadRow("VM", VmRef(i),
                {{"uuid", "uuid-vm-" + std::to_string(i)},
                 {"name__label", "vm " + std::to_string(i)},
                 {"tags", "('a' 'b')"},
                 {"other_config", "(('k' 'v'))"}});
  }
  db->LoadRow("VM", kOddRef, {{"uuid", "uuid-odd"}, {"name__label", "odd"}});
  db->LoadRow("VBD", "OpaqueRef:0bd00000-0000-4000-8000-000000000001",
              {{"uuid", "uuid-vbd"}, {"VM", kOddRef}, {"device", "xvda"}});
  db->FinishLoad();
  ImportOptions options;
  options.generation_count = generation;
  return Store::Import(TestOptions(repo), std::move(db), "pool", nullptr, options);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Rewrites the bare repository `repo` as `old_repo` in format 1: one
// commit whose rows sit in xapi/<table>/<2 hex>/<ref>/.
void WriteFormat1Copy(const std::string& repo, const std::string& work,
                      const std::string& old_repo, const Database& db) {
  auto sh = [&](const std::string& cmd) {
    CommandResult r = Run("cd " + ShellQuote(work) + " && " + cmd + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
  };
  ASSERT_EQ(Run("git clone -q " + ShellQuote(repo) + " " + ShellQuote(work)).exit_code, 0);
  sh("git config user.name old && git config user.email old@release");
  db.ForEachRow([&](const Table& t, const std::string& ref, const std::vector<std::string>&) {
    if (!t.persistent) return;
    std::string to = "xapi/" + t.name + "/" + store::BucketPath(ref, store::kFormat1Fanout);
    sh("mkdir -p " + ShellQuote(to) + " && git mv " + ShellQuote(Store::ObjectPath(t.name, ref)) +
       " " + ShellQuote(to + "/"));
  });
  sh("printf 'xapi-gitdb format 1\\n' > meta/format && git checkout -q --orphan old && "
     "git add -A && git commit -q -m 'Import (format 1)'");
  ASSERT_EQ(Run("git init -q --bare " + ShellQuote(old_repo)).exit_code, 0);
  sh("git push -q " + ShellQuote(old_repo) + " old:refs/heads/master");
}

TEST(StoreFormat, RowsFanOutOverFourHexLevels) {
  TempDir dir;
  std::string repo = dir / "repo.git";
  auto store = PoolWithOddRefs(repo, 0);
  EXPECT_EQ(Git(repo, "cat-file -p master:meta/format").output, "xapi-gitdb format 3\n");
  // xapi/VM/ holds only one-digit directories, four deep, then rows.
  for (const std::string& path : Lines(Git(repo, "ls-tree -r -d --name-only master").output)) {
    if (path.rfind("xapi/VM/", 0) != 0) continue;
    std::vector<std::string> parts;
    std::istringstream in(path.substr(8));
    for (std::string p; std::getline(in, p, '/');) parts.push_back(p);
    for (size_t i = 0; i < parts.size() && i < 4; ++i) {
      EXPECT_TRUE(store::IsBucketName(parts[i])) << path;
    }
    if (parts.size() == 5) {
      EXPECT_EQ(parts[4].rfind("OpaqueRef:", 0), 0u) << path;
    }
  }
  std::string odd = Store::ObjectPath("VM", kOddRef);
  EXPECT_EQ(Git(repo, "cat-file -p master:" + odd + "name__label").output, "odd");
  EXPECT_EQ(Git(repo, "cat-file -p master:" + Store::ObjectPath("VM", VmRef(3)) + "uuid").output,
            "uuid-vm-3");
}

TEST(StoreFormat, OpeningAFormat1RepositoryUpgradesItInOneCommit) {
  TempDir dir;
  std::string repo = dir / "repo.git", old_repo = dir / "old.git";
  std::vector<std::string> rows;
  {
    auto store = PoolWithOddRefs(repo, 4242);
    rows = Dump(store->db());
    WriteFormat1Copy(repo, dir / "work", old_repo, store->db());
  }
  if (HasFatalFailure()) return;
  std::string old_head = Git(old_repo, "rev-parse master").output;
  old_head.pop_back();
  ASSERT_EQ(Git(old_repo, "cat-file -p master:xapi/VM/" +
                              store::BucketPath(VmRef(3), store::kFormat1Fanout) + "/" + VmRef(3) +
                              "/uuid")
                .output,
            "uuid-vm-3");

  auto store = Store::Open(TestOptions(old_repo));
  EXPECT_EQ(Dump(store->db()), rows);
  CommitInfo head = store->GetCommit("master");
  EXPECT_EQ(head.message.rfind("Upgrade the repository to format 3\n", 0), 0u) << head.message;
  EXPECT_EQ(head.parents, std::vector<std::string>{old_head});
  EXPECT_EQ(Git(old_repo, "cat-file -p master:meta/format").output, "xapi-gitdb format 3\n");
  std::string row3 = Store::ObjectPath("VM", VmRef(3));
  EXPECT_EQ(Git(old_repo, "cat-file -p master:" + row3 + "uuid").output, "uuid-vm-3");
  EXPECT_EQ(Git(old_repo, "cat-file -p master:meta/generation").output, "4242\n");
  EXPECT_GE(store->GenerationAt("master"), 4242);
  auto fsck = Git(old_repo, "fsck --strict");
  EXPECT_EQ(fsck.exit_code, 0) << fsck.output;

  // The old commit still reads whole, and row by row (`get --at`);
  // comparing across the upgrade is refused with a clear error rather than
  // pairing unrelated paths.
  EXPECT_EQ(Dump(*store->LoadAt(old_head)), rows);
  std::optional<StoredRow> old_row = store->ReadRowAt(old_head, VmRef(3), "", "uuid");
  ASSERT_TRUE(old_row.has_value());
  EXPECT_EQ(old_row->fields, (FieldList{{"uuid", "uuid-vm-3"}}));
  EXPECT_EQ(store->FindRefsAt(old_head, "VM", "uuid", "uuid-vm-3", 2),
            std::vector<std::string>{VmRef(3)});
  try {
    store->Diff(old_head, "master");
    ADD_FAILURE() << "a diff across the format upgrade was answered";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("format 2"), std::string::npos) << e.what();
  }

  // Writes go on in format 3, and opening again upgrades nothing.
  store->db().WriteField("VM", VmRef(5), "name__label", "after");
  std::string after = store->Commit();
  EXPECT_TRUE(store->Diff(head.id, after).size() == 1);
  store.reset();
  auto again = Store::Open(TestOptions(old_repo));
  EXPECT_EQ(again->Head(), after);
  EXPECT_EQ(again->db().ReadField("VM", "name__label", VmRef(5)), "after");
}

// Format 2 is format 3 without member order: opening one only rewrites
// meta/format, and history on both sides of that commit compares.
TEST(StoreFormat, OpeningAFormat2RepositoryMarksItFormat3) {
  TempDir dir;
  std::string repo = dir / "repo.git";
  std::vector<std::string> rows;
  {
    auto store = PoolWithOddRefs(repo, 0);
    rows = Dump(store->db());
  }
  // What a release of format 2 wrote: the same tree, another meta/format.
  auto sh = [&](const std::string& script) {
    CommandResult r = test::Run("cd " + ShellQuote(repo) + " && " + script);
    EXPECT_EQ(r.exit_code, 0) << script << "\n" << r.output;
    std::string out = r.output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  };
  std::string blob = sh("printf 'xapi-gitdb format 2\\n' | git hash-object -w --stdin");
  std::string meta = sh("git ls-tree master:meta | sed 's/[0-9a-f]\\{40\\}\\tformat$/" + blob +
                        "\\tformat/' | git mktree");
  std::string root = sh("git ls-tree master | sed 's/[0-9a-f]\\{40\\}\\tmeta$/" + meta +
                        "\\tmeta/' | git mktree");
  std::string old_head = sh("git commit-tree " + root + " -p master -m 'format 2'");
  sh("git update-ref refs/heads/master " + old_head);
  ASSERT_EQ(Git(repo, "cat-file -p master:meta/format").output, "xapi-gitdb format 2\n");

  auto store = Store::Open(TestOptions(repo));
  EXPECT_EQ(Dump(store->db()), rows);
  CommitInfo head = store->GetCommit("master");
  EXPECT_EQ(head.message.rfind("Upgrade the repository to format 3\n", 0), 0u) << head.message;
  EXPECT_EQ(head.parents, std::vector<std::string>{old_head});
  EXPECT_EQ(Git(repo, "cat-file -p master:meta/format").output, "xapi-gitdb format 3\n");
  EXPECT_EQ(Git(repo, "rev-parse master:xapi").output,
            Git(repo, "rev-parse " + old_head + ":xapi").output);
  EXPECT_TRUE(store->Diff(old_head, "master").empty());
  store->db().WriteField("VM", VmRef(5), "tags", "('b' 'a')");
  std::string after = store->Commit();
  EXPECT_EQ(store->Diff(old_head, after).size(), 1u);
  store.reset();
  EXPECT_EQ(Store::Open(TestOptions(repo))->db().ReadField("VM", "tags", VmRef(5)), "('b' 'a')");
}

// %order and %verbatim must describe exactly the members beside them; a
// repository where they do not is refused, not served in some order.
TEST(StoreFormat, AMemberOrderThatDoesNotFitTheMembersIsCorrupt) {
  struct Case {
    const char* file;
    const char* content;
    const char* why;
  };
  for (const Case& c : {Case{"%order", "b\\nnot-a-member\\n", "which is not a member"},
                        Case{"%order", "b\\n", "does not list every member"},
                        Case{"%order", "b\\nb\\n", "twice"},
                        Case{"%verbatim", "(\"x\" \"y\")", "does not hold its members"}}) {
    SCOPED_TRACE(std::string(c.file) + " " + c.content);
    TempDir dir;
    std::string repo = dir / "repo.git", work = dir / "work";
    {
      auto store = Store::Create(TestOptions(repo), StoreTestSchema());
      store->db().CreateRow("VM", {{"uuid", "u-1"}, {"name__label", "one"}, {"tags", "( 'b'  'a' )"}},
                            VmRef(1));
      store->Commit();
    }
    std::string tags = Store::ObjectPath("VM", VmRef(1)) + "tags/";
    ASSERT_EQ(Git(repo, "cat-file -p master:" + tags + "%order").output, "b\na\n");
    ASSERT_EQ(Git(repo, "cat-file -p master:" + tags + "%verbatim").output, "( 'b'  'a' )");
    CommandResult r = test::Run(
        "git clone -q " + ShellQuote(repo) + " " + ShellQuote(work) + " && cd " + ShellQuote(work) +
        " && printf '" + c.content + "' > " + ShellQuote(tags + c.file) +
        " && git -c user.name=t -c user.email=t@t commit -qam edit && git push -q origin HEAD:master 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    try {
      Store::Open(TestOptions(repo));
      ADD_FAILURE() << "opened";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.why), std::string::npos) << e.what();
    }
  }
}

TEST(StoreFormat, AFormat1RowInTheWrongBucketIsCorrupt) {
  TempDir dir;
  std::string repo = dir / "repo.git", old_repo = dir / "old.git";
  {
    auto store = PoolWithOddRefs(repo, 0);
    WriteFormat1Copy(repo, dir / "work", old_repo, store->db());
  }
  if (HasFatalFailure()) return;
  std::string bucket = store::BucketPath(VmRef(3), store::kFormat1Fanout);
  std::string wrong = bucket == "00" ? "01" : "00";
  CommandResult r = test::Run("cd " + ShellQuote(dir / "work") + " && mkdir -p xapi/VM/" + wrong +
                        " && git mv xapi/VM/" + bucket + "/" + VmRef(3) + " xapi/VM/" + wrong +
                        "/ && git commit -q -m moved && git push -q " + ShellQuote(old_repo) +
                        " old:refs/heads/master 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string before = Git(old_repo, "rev-parse master").output;
  try {
    Store::Open(TestOptions(old_repo));
    ADD_FAILURE() << "a misplaced row was served";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("wrong fan-out directory"), std::string::npos) << e.what();
  }
  EXPECT_EQ(Git(old_repo, "rev-parse master").output, before);  // nothing written
}

}  // namespace
}  // namespace xgdb::test
