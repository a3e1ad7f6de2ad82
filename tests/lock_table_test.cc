// The lock service's replicated table: what each command does, that a
// retried acquire is harmless, and that a snapshot restores an equal table.
#include "lock/lock_table.h"

#include <gtest/gtest.h>

#include "lock/lock_service.h"
#include "xgdb/error.h"

namespace xgdb::lock {
namespace {

using json = nlohmann::json;

json Acquire(LockTable& t, uint64_t index, const std::string& name, const std::string& holder,
             bool shared = false, const std::string& owner = "") {
  return t.Apply(index, json{{"op", "acquire"},
                             {"name", name},
                             {"shared", shared},
                             {"holder", holder},
                             {"owner", owner},
                             {"ttl_ms", 15000}}
                            .dump());
}

json Release(LockTable& t, uint64_t index, const std::string& name, uint64_t token,
             const char* op = "release") {
  return t.Apply(index, json{{"op", op}, {"name", name}, {"token", token}}.dump());
}

json Cas(LockTable& t, uint64_t index, const std::string& key, json expect, json value) {
  return t.Apply(index, json{{"op", "cas"}, {"key", key}, {"expect", expect}, {"value", value}}
                            .dump());
}

TEST(LockTableTest, ExclusiveHasOneHolderAndTheTokenIsTheGrantsIndex) {
  LockTable t;
  json a = Acquire(t, 7, "VDI:1", "hostA");
  EXPECT_EQ(a, (json{{"granted", true}, {"token", 7}}));
  json b = Acquire(t, 8, "VDI:1", "hostB");
  EXPECT_FALSE(b["granted"]);
  EXPECT_EQ(b["holders"][0]["holder"], "hostA");
  EXPECT_EQ(Release(t, 9, "VDI:1", 7), (json{{"released", true}}));
  EXPECT_EQ(Release(t, 10, "VDI:1", 7), (json{{"released", false}}));  // twice: no harm
  EXPECT_EQ(Acquire(t, 11, "VDI:1", "hostB")["token"], 11);
  EXPECT_EQ(t.NewestToken("VDI:1"), 11u);
  EXPECT_EQ(t.NewestToken("VDI:2"), 0u);
}

TEST(LockTableTest, ARetriedAcquireAnswersTheSameGrant) {
  LockTable t;
  EXPECT_EQ(Acquire(t, 3, "SR:1", "hostA", false, "pid 12")["token"], 3);
  EXPECT_EQ(Acquire(t, 4, "SR:1", "hostA", false, "pid 12")["token"], 3);
  // The same host with another owner is another holder.
  EXPECT_FALSE(Acquire(t, 5, "SR:1", "hostA", false, "pid 13")["granted"]);
  EXPECT_EQ(t.Grants().size(), 1u);
}

TEST(LockTableTest, SharedHoldersCoexistAndExcludeExclusive) {
  LockTable t;
  EXPECT_TRUE(Acquire(t, 1, "VDI:1", "hostA", true)["granted"]);
  EXPECT_TRUE(Acquire(t, 2, "VDI:1", "hostB", true)["granted"]);
  EXPECT_FALSE(Acquire(t, 3, "VDI:1", "hostC")["granted"]);
  EXPECT_TRUE(Release(t, 4, "VDI:1", 1, "expire")["released"]);
  EXPECT_FALSE(Acquire(t, 5, "VDI:1", "hostC")["granted"]);
  EXPECT_TRUE(Release(t, 6, "VDI:1", 2)["released"]);
  EXPECT_TRUE(Acquire(t, 7, "VDI:1", "hostC")["granted"]);
  EXPECT_FALSE(Acquire(t, 8, "VDI:1", "hostA", true)["granted"]);
}

TEST(LockTableTest, CompareAndSetIsAddIfAbsentAndDelete) {
  LockTable t;
  EXPECT_EQ(Cas(t, 1, "activating", nullptr, "True"), (json{{"ok", true}, {"value", "True"}}));
  EXPECT_EQ(Cas(t, 2, "activating", nullptr, "True"), (json{{"ok", false}, {"value", "True"}}));
  EXPECT_EQ(Cas(t, 3, "activating", "False", nullptr), (json{{"ok", false}, {"value", "True"}}));
  EXPECT_EQ(Cas(t, 4, "activating", "True", nullptr), (json{{"ok", true}, {"value", nullptr}}));
  EXPECT_FALSE(t.Value("activating"));
}

TEST(LockTableTest, MalformedCommandsChangeNothing) {
  LockTable t;
  EXPECT_TRUE(t.Apply(1, "not json").contains("error"));
  EXPECT_TRUE(t.Apply(2, R"({"op":"acquire","name":"x"})").contains("error"));
  EXPECT_TRUE(t.Apply(3, R"({"op":"fly"})").contains("error"));
  EXPECT_TRUE(t.Grants().empty());
}

TEST(LockTableTest, SnapshotRestoresAnEqualTable) {
  LockTable t;
  Acquire(t, 1, "VDI:1", "hostA", true);
  Acquire(t, 2, "VDI:1", "hostB", true);
  Acquire(t, 3, "VM:1", "hostC");
  Cas(t, 4, "paused", nullptr, "True");
  LockTable copy;
  copy.Restore(t.Snapshot());
  EXPECT_EQ(copy.Snapshot(), t.Snapshot());
  EXPECT_EQ(copy.Grants().size(), 3u);
  EXPECT_EQ(copy.NewestToken("VM:1"), 3u);
  EXPECT_EQ(copy.applied_index(), 4u);
  EXPECT_THROW(copy.Restore("{\"format\":1}"), Error);
  EXPECT_EQ(copy.Grants().size(), 3u);  // a bad snapshot changes nothing
}

TEST(LockTableTest, VotersAreTheMasterThenOthersByUuid) {
  EXPECT_EQ(ChooseVoters({"b", "a"}, "b"), (std::vector<std::string>{"b"}));
  EXPECT_EQ(ChooseVoters({"d", "c", "b", "a"}, "c"), (std::vector<std::string>{"c", "a", "b"}));
  EXPECT_EQ(ChooseVoters({"h", "g", "f", "e", "d", "c", "b", "a"}, "a"),
            (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(ChooseVoters({"c", "b", "a"}, "unknown"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(LockTableTest, MemberIdsComeFromUuidsAndDiffer) {
  EXPECT_EQ(MemberIdOf("3a180545-5d4f-4d6e-885f-65cb3b59bd4e"), 0x3a1805455d4f4d6eULL);
  EXPECT_NE(MemberIdOf("612c3bfd-c073-4ea4-ba9b-bf278d330ab7"),
            MemberIdOf("ca4ae8e0-6a98-48a7-a47c-72c63386bcb5"));
  EXPECT_NE(MemberIdOf("00000000-0000-0000-0000-000000000000"), 0u);
}

}  // namespace
}  // namespace xgdb::lock
