// One writer per repository, read-only opens beside it, what dead
// processes leave behind, and who may read the repository (issue: "One
// writer per repository, read-only tools beside it").
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "store_test_util.h"
#include "xgdb/store.h"

namespace xgdb::test {
namespace {

namespace fs = std::filesystem;

void AddVbd(Database& db, int i, int vm) {
  db.CreateRow("VBD", {{"uuid", "uuid-vbd-" + std::to_string(i)}, {"VM", VmRef(vm)}},
               "OpaqueRef:vbd-" + std::to_string(i));
}

// A repository with three VMs, two VBDs on VM 1, and a few commits.
std::string MakeRepo(const TempDir& dir) {
  std::string path = dir / "repo.git";
  auto store = Store::Create(TestOptions(path), StoreTestSchema());
  for (int i = 1; i <= 3; ++i) AddVm(store->db(), i, "vm " + std::to_string(i));
  store->Commit();
  AddVbd(store->db(), 1, 1);
  AddVbd(store->db(), 2, 1);
  store->Commit();
  store->db().WriteField("VM", VmRef(2), "name__label", "renamed");
  store->Commit();
  return path;
}

int Threads() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/task")) ++n;
  return static_cast<int>(n);
}

TEST(StoreLock, ASecondWriterIsRefusedNamingTheHolder) {
  TempDir dir;
  std::string path = MakeRepo(dir);
  auto first = Store::Open(TestOptions(path));
  for (auto open : {+[](const std::string& p) { Store::Open(TestOptions(p)); },
                    +[](const std::string& p) {
                      Store::Import(TestOptions(p), std::make_unique<Database>(StoreTestSchema()),
                                    "import");
                    }}) {
    try {
      open(path);
      ADD_FAILURE() << "a second writer opened the repository";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kBusy);
      EXPECT_NE(std::string(e.what()).find("process " + std::to_string(getpid())),
                std::string::npos)
          << e.what();
    }
  }
  // The first writer was not disturbed, and its going frees the repository.
  first->db().WriteField("VM", VmRef(1), "name__label", "still mine");
  EXPECT_NE(first->Commit(), "");
  first.reset();
  EXPECT_EQ(Store::Open(TestOptions(path))->db().ReadField("VM", "name__label", VmRef(1)),
            "still mine");
}

TEST(StoreLock, HolderNamesThePidAndWhereItServes) {
  TempDir dir;
  std::string path = MakeRepo(dir);
  EXPECT_FALSE(Store::Holder(path).has_value());
  StoreOptions options = TestOptions(path);
  options.served_at = "/run/xapi-gitdb.sock";
  auto store = Store::Open(options);
  std::optional<RepositoryHolder> holder = Store::Holder(path);
  ASSERT_TRUE(holder.has_value());
  EXPECT_EQ(holder->pid, getpid());
  EXPECT_EQ(holder->served_at, "/run/xapi-gitdb.sock");
  store.reset();
  EXPECT_FALSE(Store::Holder(path).has_value());
}

TEST(StoreLock, ReadOnlyOpenBesideAWriterReadsAndWritesNothing) {
  TempDir dir;
  std::string path = MakeRepo(dir);
  auto writer = Store::Open(TestOptions(path));
  const std::string before = WithoutSpares(Snapshot(path));
  const int threads = Threads();
  StoreOptions options = TestOptions(path);
  options.read_only = true;
  auto reader = Store::Open(options);
  EXPECT_EQ(Threads(), threads);  // no committer, repacker or spare maker
  EXPECT_EQ(reader->Head(), writer->Head());
  EXPECT_EQ(reader->Log("master", 1).size(), 1u);
  EXPECT_EQ(reader->ReadRowAt("master", VmRef(2))->table, "VM");
  EXPECT_EQ(reader->Diff("master~1", "master").size(), 1u);
  EXPECT_EQ(reader->LoadAt("master")->TotalRows(), 5u);
  EXPECT_THROW(reader->db(), Error);
  EXPECT_THROW(reader->Commit(), Error);
  EXPECT_THROW(reader->MoveRef("refs/heads/x", reader->Head(), "", "no"), Error);
  reader.reset();
  EXPECT_EQ(WithoutSpares(Snapshot(path)), before);
}

// What `xapi-gitdb get` prints without loading the image equals what the
// loaded image says, for every column (derived set sides included).
TEST(StoreLock, RowsReadFromGitEqualTheLoadedImage) {
  TempDir dir;
  std::string path = MakeRepo(dir);
  StoreOptions options = TestOptions(path);
  options.read_only = true;
  auto store = Store::Open(options);
  for (const std::string rev : {"master", "master~1", "master~2"}) {
    auto image = store->LoadAt(rev);
    image->ForEachRow([&](const Table& t, const std::string& ref,
                          const std::vector<std::string>& values) {
      if (!t.persistent) return;
      std::optional<StoredRow> row = store->ReadRowAt(rev, ref);
      ASSERT_TRUE(row.has_value()) << rev << " " << ref;
      EXPECT_EQ(row->table, t.name);
      ASSERT_EQ(row->fields.size(), values.size());
      for (const Column& c : t.columns) {
        EXPECT_EQ(row->fields[c.index].first, c.name);
        EXPECT_EQ(row->fields[c.index].second, values[c.index]) << rev << " " << ref << " " << c.name;
      }
      std::string uuid = values[t.FindColumn("uuid")->index];
      std::optional<StoredRow> by_uuid = store->FindUuidAt(rev, uuid);
      ASSERT_TRUE(by_uuid.has_value()) << uuid;
      EXPECT_EQ(by_uuid->ref, ref);
    });
  }
  EXPECT_FALSE(store->ReadRowAt("master", "OpaqueRef:nothing").has_value());
  EXPECT_FALSE(store->FindUuidAt("master", "no-such-uuid").has_value());
  EXPECT_FALSE(store->ReadRowAt("master", VmRef(1), "VBD").has_value());  // wrong table
}

TEST(StoreLock, LocksAndTemporariesOfADeadWriterAreCleared) {
  TempDir dir;
  std::string path = MakeRepo(dir);
  const std::string head = Store::Open(TestOptions(path))->Head();
  // What a writer killed mid-update leaves (libgit2's and ours alike).
  WriteFile(path + "/refs/heads/master.lock", "");
  fs::create_directories(path + "/refs/heads/tasks");
  WriteFile(path + "/refs/heads/tasks/7.lock", "");
  WriteFile(path + "/objects/pack/tmp_xgdb_999_1", "half a pack");
  auto store = Store::Open(TestOptions(path));
  EXPECT_EQ(store->Head(), head);
  EXPECT_FALSE(fs::exists(path + "/refs/heads/master.lock"));
  EXPECT_FALSE(fs::exists(path + "/refs/heads/tasks/7.lock"));
  EXPECT_FALSE(fs::exists(path + "/objects/pack/tmp_xgdb_999_1"));
  store->db().WriteField("VM", VmRef(1), "name__label", "after");
  EXPECT_NE(store->Commit(), "");
  ExpectFsckClean(path);
}

// The repository holds secrets (the secret table): nobody but its owner
// may read anything in it.
TEST(StoreLock, TheRepositoryIsItsOwnersOnly) {
  TempDir dir;
  std::string path = MakeRepo(dir);
  auto store = Store::Open(TestOptions(path));
  store->MoveRef("refs/heads/tasks/1", store->Head(), "", "a branch");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
  for (const auto& e : fs::recursive_directory_iterator(path)) {
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 077, 0u) << e.path() << " is mode " << std::oct << (st.st_mode & 0777);
  }
  store.reset();
  // One made readable by hand is closed again when opened.
  ::chmod(path.c_str(), 0755);
  Store::Open(TestOptions(path));
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

}  // namespace
}  // namespace xgdb::test
