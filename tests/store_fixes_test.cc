// The store on values and imports that used to fail or mislead: duplicate
// set elements and map keys, failed imports leaving repositories behind,
// and xapi's generation count surviving an import/export round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "store/name_codec.h"
#include "store_test_util.h"
#include "xgdb/statedb.h"
#include "xgdb/store.h"

namespace xgdb::test {
namespace {

namespace fs = std::filesystem;

const std::string kRef = "OpaqueRef:3a000000-0000-4000-8000-000000000001";
const std::string kLongName(300, 'k');  // stored as a hashed entry (%H...)
constexpr int64_t kFixtureGeneration = 2194689;  // tests/data/state-5.82.xml

// ---- 1. Duplicate set elements and map keys: stored once, first wins; ----
// ---- the text with its duplicates comes back whole (%verbatim).     ----

TEST(StoreDuplicates, ImportOfAStateDbWithDuplicateMembersSucceeds) {
  // A state.db as xapi may write it: a set repeating elements, a map
  // repeating keys (short and hashed names).
  auto source = std::make_unique<Database>(StoreTestSchema());
  source->LoadRow("VM", kRef,
                  {{"uuid", "uuid-1"},
                   {"name__label", "web"},
                   {"tags", "('web' 'db' 'web' '" + kLongName + "' '" + kLongName + "')"},
                   {"other_config", "(('k' 'first') ('j' '3') ('k' 'second') ('" + kLongName +
                                        "' 'a') ('" + kLongName + "' 'b'))"}});
  source->FinishLoad();
  auto image = ParseStateDb(FormatStateDb(*source, 7), StoreTestSchema());
  ASSERT_EQ(sexpr::ParseSet(image->ReadField("VM", "tags", kRef)).size(), 5u)
      << "the file should repeat the elements";
  const std::string tags = image->ReadField("VM", "tags", kRef);
  const std::string other_config = image->ReadField("VM", "other_config", kRef);

  TempDir dir;
  std::string repo = dir / "repo.git";
  Store::Import(TestOptions(repo), std::move(image), "import duplicates");
  ExpectFsckClean(repo);
  const std::string row = Store::ObjectPath("VM", kRef);
  EXPECT_EQ(Git(repo, "ls-tree --name-only master:" + row + "tags").output,
            store::EncodeName(kLongName) + "\n%order\n%verbatim\ndb\nweb\n");
  EXPECT_EQ(Git(repo, "cat-file -p master:" + row + "other_config/k").output,
            "first");
  EXPECT_EQ(Git(repo, "cat-file -p master:" + row + "tags/%verbatim").output, tags);

  auto store = Store::Open(TestOptions(repo));
  EXPECT_EQ(store->db().ReadField("VM", "tags", kRef), tags);
  EXPECT_EQ(store->db().ReadField("VM", "other_config", kRef), other_config);
}

TEST(StoreDuplicates, WriteFieldAndCreateRowWithDuplicatesCommit) {
  TempDir dir;
  std::string repo = dir / "repo.git";
  {
    auto store = Store::Create(TestOptions(repo), StoreTestSchema());
    store->db().CreateRow("VM",
                          {{"uuid", "uuid-1"},
                           {"name__label", "a"},
                           {"tags", "('a' 'a')"},
                           {"other_config", "(('x' '1') ('x' '2'))"}},
                          kRef);
    ASSERT_NE(store->Commit(), "");
    store->db().WriteField("VM", kRef, "tags", "('b' 'a' 'b')");
    ASSERT_NE(store->Commit(), "");
  }
  ExpectFsckClean(repo);
  auto store = Store::Open(TestOptions(repo));
  EXPECT_EQ(store->db().ReadField("VM", "tags", kRef), "('b' 'a' 'b')");
  EXPECT_EQ(store->db().ReadField("VM", "other_config", kRef), "(('x' '1') ('x' '2'))");
  auto first = store->LoadAt("master~1");
  EXPECT_EQ(first->ReadField("VM", "tags", kRef), "('a' 'a')");
  // Filters compare the canonical text of what was written, duplicates kept.
  EXPECT_EQ(store->db().ReadFieldWhere("VM", "_ref", "tags", "('b' 'a' 'b')"),
            std::vector<std::string>{kRef});
}

// ---- 2. A failed import leaves nothing behind. ----

// An image whose import fails half-way: its progress callback throws once
// the tree writer has written 1,000 rows.
std::unique_ptr<Database> Vms(int n, const std::string& label = "vm") {
  auto db = std::make_unique<Database>(StoreTestSchema());
  for (int i = 0; i < n; ++i) {
    db->LoadRow("VM", VmRef(i),
                {{"uuid", "u" + std::to_string(i)}, {"name__label", label}});
  }
  db->FinishLoad();
  return db;
}
std::unique_ptr<Database> ThousandVms() { return Vms(1000); }
const ProgressFn kFailingProgress = [](size_t, size_t) {
  throw Error(ErrorKind::kIo, "interrupted");
};

void ExpectImportFails(const std::string& repo) {
  try {
    Store::Import(TestOptions(repo), ThousandVms(), "import", kFailingProgress);
    ADD_FAILURE() << "the import should have failed";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "interrupted");
  }
}

TEST(StoreImportFailure, RemovesTheDirectoriesItCreated) {
  TempDir dir;
  ExpectImportFails(dir / "a/b/repo.git");
  EXPECT_FALSE(fs::exists(dir / "a"));
  EXPECT_TRUE(fs::is_empty(dir.path()));

  // The same import without the failure works there afterwards.
  Store::Import(TestOptions(dir / "a/b/repo.git"), ThousandVms(), "import");
  EXPECT_EQ(Store::Open(TestOptions(dir / "a/b/repo.git"))->db().RowCount("VM"), 1000u);
}

TEST(StoreImportFailure, EmptiesAnEmptyDirectoryItWasGiven) {
  TempDir dir;
  fs::create_directory(dir / "repo.git");
  ExpectImportFails(dir / "repo.git");
  EXPECT_TRUE(fs::is_directory(dir / "repo.git"));
  EXPECT_TRUE(fs::is_empty(dir / "repo.git"));
}

// Every file under `root` with its size and contents.
std::string Snapshot(const std::string& root) {
  std::string out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    out += e.path().string();
    if (e.is_regular_file()) out += " " + ReadFile(e.path().string());
    out += "\n";
  }
  return out;
}

TEST(StoreImportFailure, LeavesAnExistingRepositoryAsItWas) {
  TempDir dir;
  std::string repo = dir / "repo.git";
  {
    auto store = Store::Create(TestOptions(repo), StoreTestSchema());
    AddVm(store->db(), 1, "kept");
    store->Commit();
  }
  std::string master = Git(repo, "rev-parse master").output;
  std::string before = Snapshot(repo);
  ExpectImportFails(repo);
  EXPECT_EQ(Git(repo, "rev-parse master").output, master);
  EXPECT_EQ(Snapshot(repo), before);
  ExpectFsckClean(repo);
  EXPECT_EQ(Store::Open(TestOptions(repo))->db().ReadField("VM", "name__label", VmRef(1)),
            "kept");
}

// ---- 3. xapi's generation count survives import and export. ----

int64_t ManifestGeneration(const std::string& state_db) {
  StateDbManifest manifest;
  ParseStateDb(state_db, nullptr, &manifest);
  return manifest.generation_count;
}

TEST(StoreGeneration, ImportKeepsTheFixturesGenerationCount) {
  StateDbManifest manifest;
  auto image = ReadStateDbFile(DataPath("state-5.82.xml"), nullptr, &manifest);
  ASSERT_EQ(manifest.generation_count, kFixtureGeneration);
  TempDir dir;
  std::string repo = dir / "repo.git";
  auto store = Store::Import(TestOptions(repo), std::move(image), "import", nullptr,
                             {.generation_count = manifest.generation_count});
  ExpectFsckClean(repo);
  EXPECT_EQ(Git(repo, "cat-file -p master:meta/generation").output, "2194689\n");
  EXPECT_EQ(store->GenerationAt("master"), kFixtureGeneration);

  std::string exported = FormatStateDb(*store->LoadAt("master"), store->GenerationAt("master"));
  EXPECT_GE(ManifestGeneration(exported), kFixtureGeneration);

  // Every later commit counts one more, and so does the next export.
  std::string vm = store->db().ReadRefs("VM").at(0);
  store->db().WriteField("VM", vm, "name__label", "renamed");
  std::string commit = store->Commit();
  ASSERT_NE(commit, "");
  EXPECT_EQ(store->GenerationAt(commit), kFixtureGeneration + 1);
  EXPECT_EQ(store->GenerationAt("master~1"), kFixtureGeneration);
  std::string later = FormatStateDb(*store->LoadAt("master"), store->GenerationAt("master"));
  EXPECT_GT(ManifestGeneration(later), ManifestGeneration(exported));
  store.reset();
  // Kept in the repository, not in memory.
  EXPECT_EQ(Store::Open(TestOptions(repo))->GenerationAt("master"), kFixtureGeneration + 1);
}

TEST(StoreGeneration, NeverGoesBackOnMaster) {
  TempDir dir;
  std::string repo = dir / "repo.git";
  auto import = [&](int64_t generation) {
    Store::Import(TestOptions(repo), Vms(2, "g" + std::to_string(generation)), "import",
                  nullptr, {.generation_count = generation});
  };
  {
    auto created = Store::Create(TestOptions(repo), StoreTestSchema());
    AddVm(created->db(), 1, "before the import");
  }
  import(100);
  auto store = Store::Open(TestOptions(repo));
  EXPECT_EQ(store->GenerationAt("master"), 100);
  std::string imported = store->Head();
  for (int i = 0; i < 3; ++i) {
    store->db().WriteField("VM", VmRef(1), "name__label", "w" + std::to_string(i));
    store->Commit();
  }
  EXPECT_EQ(store->GenerationAt("master"), 103);
  // A commit restoring an older tree (a revert) counts on, whatever its
  // meta/ holds.
  std::string old_tree = Git(repo, "rev-parse " + imported + "~1^{tree}").output.substr(0, 40);
  store->UpdateMaster([&](const std::string& head) {
    Store::MasterMove move;  // no rows: the image is left as it is
    move.commit = store->WriteTreeCommit(head, old_tree, "revert");
    return move;
  });
  EXPECT_EQ(store->GenerationAt("master"), 104);
  EXPECT_EQ(store->db().ReadField("VM", "name__label", VmRef(1)), "w2");  // image unchanged
  EXPECT_EQ(store->LoadAt("master")->ReadField("VM", "name__label", VmRef(1)),
            "before the import");
  store.reset();

  import(50);  // a smaller count on top: still one more
  EXPECT_EQ(Store::Open(TestOptions(repo))->GenerationAt("master"), 105);
  import(0);  // none recorded: one more
  EXPECT_EQ(Store::Open(TestOptions(repo))->GenerationAt("master"), 106);
  import(1000);  // a larger one is taken
  EXPECT_EQ(Store::Open(TestOptions(repo))->GenerationAt("master"), 1000);
  ExpectFsckClean(repo);
}

TEST(StoreGeneration, WithoutAnImportedCountItCountsCommits) {
  TempDir dir;
  std::string repo = dir / "repo.git";
  auto store = Store::Create(TestOptions(repo), StoreTestSchema());
  AddVm(store->db(), 1, "a");
  store->Commit();
  EXPECT_EQ(store->GenerationAt("master"), 2);
  EXPECT_EQ(Git(repo, "ls-tree --name-only master:meta").output, "format\nschema.json\n");
}

TEST(StoreGeneration, RefusesACountItCannotStore) {
  TempDir dir;
  for (int64_t bad : {int64_t{-1}, int64_t{1'000'000'000'000'000'000}}) {
    try {
      Store::Import(TestOptions(dir / "repo.git"), Vms(1), "import", nullptr,
                    {.generation_count = bad});
      ADD_FAILURE() << "accepted generation " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    }
    EXPECT_FALSE(fs::exists(dir / "repo.git"));
  }
}

TEST(StoreGeneration, CliImportThenExportKeepsIt) {
  TempDir dir;
  std::string repo = dir / "repo.git";
  std::string cli = ShellQuote(BinaryPath("xapi-gitdb")) + " --repo " + ShellQuote(repo) + " ";
  auto imported = test::Run(cli + "import " + ShellQuote(DataPath("state-5.82.xml")));
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  auto exported = test::Run(cli + "export -o " + ShellQuote(dir / "out.xml"));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_GE(ManifestGeneration(ReadFile(dir / "out.xml")), kFixtureGeneration);
}

}  // namespace
}  // namespace xgdb::test
