// The durability contract of `xapi-gitdb serve`, with the real binary and a
// real kill -9: with group commit every write acknowledged more than one
// commit interval (plus a margin for the commit itself) before the crash is
// in the repository afterwards; with --sync every acknowledged write is; a
// SIGTERM commits everything and exits 0; `git fsck` is clean throughout.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server/client.h"
#include "support/daemon.h"
#include "support/paths.h"
#include "xgdb/error.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"
#include "xgdb/store.h"

namespace xgdb::server {
namespace {

using Clock = std::chrono::steady_clock;
using test::TempDir;

using Daemon = test::DaemonProcess;

std::string CreateVm(int i) {
  std::string n = std::to_string(i);
  std::string uuid = "dddddddd-0000-0000-0000-" + std::string(12 - n.size(), '0') + n;
  auto pair = [](const std::string& k, const std::string& v) {
    return "<value><array><data><value>" + k + "</value><value>" + v +
           "</value></data></array></value>";
  };
  return "<value><array><data><value>create_row</value><value/><value><array><data>"
         "<value>VM</value><value><array><data>" +
         pair("uuid", uuid) + pair("name__label", "durable " + n) +
         pair("name__description", "d") + pair("tags", "()") + pair("other_config", "()") +
         "</data></array></value><value>OpaqueRef:d" + n +
         "</value></data></array></value></data></array></value>";
}

const char kSuccess[] = "<value><array><data><value>success</value><value/></data></array></value>";

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions so;
    so.path = repo_;
    Store::Import(so,
                  ParseStateDb(test::ReadFile(test::DataPath("vectors/fixture-state.db")),
                               Schema::LoadFile(test::DataPath("vectors/fixture-schema.json"))),
                  "fixture");
  }

  struct Ack {
    int index;
    Clock::time_point at;
  };

  // Creates rows one after another for `duration`; returns what was acked.
  std::vector<Ack> WriteFor(std::chrono::milliseconds duration) {
    std::vector<Ack> acks;
    Connection c = Connection::Unix(socket_);
    auto end = Clock::now() + duration;
    for (int i = 0; Clock::now() < end; ++i) {
      Answer a = c.Call("/remote_db_access", CreateVm(i));
      if (a.body != kSuccess) {
        ADD_FAILURE() << a.raw;
        break;
      }
      acks.push_back({i, Clock::now()});
    }
    return acks;
  }

  // The refs the repository's master holds now.
  std::vector<bool> PresentAfterRestart(size_t n) {
    StoreOptions so;
    so.path = repo_;
    std::unique_ptr<Store> store = Store::Open(so);
    std::vector<bool> present(n);
    for (size_t i = 0; i < n; ++i) {
      present[i] = store->db().IsValidRef("OpaqueRef:d" + std::to_string(i));
    }
    return present;
  }

  void ExpectFsckClean() {
    test::CommandResult r = test::Run("git -C " + test::ShellQuote(repo_) + " fsck --no-progress");
    EXPECT_EQ(0, r.exit_code) << r.output;
  }

  TempDir dir_;
  std::string repo_ = dir_ / "repo";
  std::string socket_ = dir_ / "db.sock";
  std::string log_ = dir_ / "daemon.log";
};

TEST_F(DurabilityTest, GroupCommitLosesAtMostTheLastInterval) {
  const int interval_ms = 50;
  std::vector<Ack> acks;
  Clock::time_point killed;
  {
    Daemon d(repo_, socket_, log_, {"--commit-interval-ms", std::to_string(interval_ms)});
    acks = WriteFor(std::chrono::milliseconds(1500));
    killed = Clock::now();
    d.Kill(SIGKILL);
  }
  ASSERT_GT(acks.size(), 20u);
  std::vector<bool> present = PresentAfterRestart(acks.size());
  // The commit itself (pack, fsync, ref update) takes time beyond the
  // interval; 500 ms covers a slow disk without making the check empty.
  const auto must_be_durable = killed - std::chrono::milliseconds(interval_ms + 500);
  size_t checked = 0, lost_recent = 0, lost = 0;
  for (const Ack& a : acks) {
    if (a.at < must_be_durable) {
      ++checked;
      if (!present[a.index] && lost++ == 0) {
        ADD_FAILURE() << "acknowledged write " << a.index << " lost; acked "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(killed - a.at)
                             .count()
                      << " ms before the kill";
      }
    } else if (!present[a.index]) {
      ++lost_recent;
    }
  }
  EXPECT_EQ(0u, lost) << "of " << checked << " that had to be durable";
  EXPECT_GT(checked, acks.size() / 3);
  std::printf("group commit: %zu writes acked, %zu checked durable, %zu recent ones lost\n",
              acks.size(), checked, lost_recent);
  ExpectFsckClean();

  // The restarted daemon serves what was committed.
  Daemon again(repo_, socket_, log_, {});
  Connection c = Connection::Unix(socket_);
  Answer a = c.Call("/remote_db_access_v2", "[\"Read_field\",\"VM\",\"name__label\",\"OpaqueRef:d0\"]");
  EXPECT_EQ("[\"Read_field\",\"durable 0\"]", a.body);
}

TEST_F(DurabilityTest, SyncModeLosesNothingAcknowledged) {
  std::vector<Ack> acks;
  {
    Daemon d(repo_, socket_, log_, {"--commit-interval-ms", "20", "--sync"});
    acks = WriteFor(std::chrono::milliseconds(1000));
    d.Kill(SIGKILL);
  }
  ASSERT_GT(acks.size(), 5u);
  std::vector<bool> present = PresentAfterRestart(acks.size() + 1);
  for (const Ack& a : acks) EXPECT_TRUE(present[a.index]) << "acknowledged write " << a.index;
  ExpectFsckClean();
}

TEST_F(DurabilityTest, SigtermCommitsWhatIsPendingAndExitsZero) {
  std::vector<Ack> acks;
  int status;
  {
    // An interval far longer than the test: only the shutdown commits.
    Daemon d(repo_, socket_, log_, {"--commit-interval-ms", "600000"});
    acks = WriteFor(std::chrono::milliseconds(200));
    status = d.Kill(SIGTERM);
  }
  EXPECT_EQ(0, status) << test::ReadFile(log_);
  ASSERT_FALSE(acks.empty());
  std::vector<bool> present = PresentAfterRestart(acks.size());
  for (const Ack& a : acks) EXPECT_TRUE(present[a.index]) << a.index;
  EXPECT_NE(0, ::access(socket_.c_str(), F_OK)) << "socket file left behind";
  ExpectFsckClean();
}

}  // namespace
}  // namespace xgdb::server
