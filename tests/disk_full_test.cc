// A full disk under a real daemon in --sync mode (issue: "faults that stop
// writes instead of losing them"): the repository lives on a small tmpfs
// that a filler file fills up. Writers get an error within a second, reads
// go on, the cause is logged once, and once space is freed the next writes
// succeed; nothing acknowledged is lost.
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/client.h"
#include "store_test_util.h"
#include "support/daemon.h"
#include "support/paths.h"

namespace xgdb::test {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

const char kVmRef[] = "OpaqueRef:0a5079bc-6dbf-f005-5e27-f64ec5b0fec5";

// A tmpfs of `megabytes` at `path`, unmounted when this goes.
class SmallDisk {
 public:
  SmallDisk(const std::string& path, int megabytes) : path_(path) {
    fs::create_directories(path);
    std::string opts = "size=" + std::to_string(megabytes) + "m,mode=0700";
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  // Writes `file` until the disk is full.
  void Fill(const std::string& file) const {
    std::ofstream out(file, std::ios::binary);
    const std::string chunk(64 * 1024, 'x');
    while (out.write(chunk.data(), chunk.size())) {
    }
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

server::Answer Call(const std::string& socket, const nlohmann::json& call) {
  return server::Connection::Unix(socket).Call("/remote_db_access_v2", call.dump(), "", false);
}

server::Answer Write(const std::string& socket, const std::string& field,
                     const std::string& value) {
  return Call(socket, {"Write_field", "VM", kVmRef, field, value});
}

std::string Read(const std::string& socket, const std::string& field) {
  server::Answer a = Call(socket, {"Read_field", "VM", field, kVmRef});
  EXPECT_EQ(a.status, 200) << a.raw;
  return nlohmann::json::parse(a.body)[1];
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(DiskFull, WritersGetAnErrorReadsGoOnAndNothingAcknowledgedIsLost) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root (CI runs as root)";
  TempDir dir;
  SmallDisk disk(dir / "disk", 16);
  ASSERT_TRUE(disk.mounted()) << "cannot mount a tmpfs at " << (dir / "disk");
  const std::string repo = dir / "disk/repo", socket = dir / "sock", log = dir / "daemon.log";
  auto import = RunCli(repo, "import " + ShellQuote(DataPath("state-5.82.xml")));
  ASSERT_EQ(import.exit_code, 0) << import.output;
  DaemonProcess daemon(repo, socket, log, {"--sync"});

  ASSERT_EQ(Write(socket, "name__label", "acknowledged before").status, 200);
  disk.Fill(dir / "disk/filler");

  // The first write that cannot be committed: an error, at once.
  Clock::time_point start = Clock::now();
  server::Answer failed = Write(socket, "name__description", "in doubt");
  const auto took = Clock::now() - start;
  EXPECT_EQ(failed.status, 500) << failed.raw;
  EXPECT_LT(took, std::chrono::seconds(1));
  // Later writes are refused without being applied; reads go on.
  EXPECT_EQ(Write(socket, "name__label", "refused").status, 500);
  EXPECT_EQ(Read(socket, "name__label"), "acknowledged before");

  fs::remove(dir / "disk/filler");
  // The committer retries on its own and says so when it succeeds.
  EXPECT_TRUE(Eventually(
      [&] { return ReadFile(log).find("writing works again") != std::string::npos; }));
  server::Answer after = Write(socket, "name__label", "acknowledged after");
  ASSERT_EQ(after.status, 200) << ReadFile(log);
  EXPECT_EQ(Read(socket, "name__label"), "acknowledged after");

  daemon.Kill(SIGKILL);  // nothing acknowledged may depend on a clean stop
  const std::string text = ReadFile(log);
  EXPECT_EQ(Count(text, "writes are refused, reads go on"), 1u) << text;  // logged once
  EXPECT_EQ(Count(text, "writing works again"), 1u) << text;
  StoreOptions options;
  options.path = repo;
  options.read_only = true;
  auto store = Store::Open(options);
  std::optional<StoredRow> row = store->ReadRowAt("master", kVmRef);
  ASSERT_TRUE(row.has_value());
  for (const auto& [name, value] : row->fields) {
    if (name == "name__label") {
      EXPECT_EQ(value, "acknowledged after");
    }
    // The write answered with an error was applied to the image before its
    // commit failed, and committed by the retry: in doubt, not lost.
    if (name == "name__description") {
      EXPECT_EQ(value, "in doubt");
    }
  }
  ExpectFsckClean(repo);
}

}  // namespace
}  // namespace xgdb::test
