// The replicator's parts on real repositories: master derived from heads
// (derive.h), thin packs between two copies of a repository (thin_pack.h),
// the peer messages (peer_message.h) and the tree (topology.h). The daemons
// replicating for real: replicator_test.cc.
#include <git2.h>

#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "merge_test_util.h"
#include "replica/derive.h"
#include "replica/peer_message.h"
#include "replica/quarantine.h"
#include "replica/thin_pack.h"
#include "replica/topology.h"
#include "store_test_util.h"
#include "support/paths.h"

namespace xgdb::test {
namespace {

using replica::DeriveMaster;
using replica::Heads;

void Label(Database& db, int vm, const std::string& label) {
  db.WriteField("VM", VmRef(vm), "name__label", label);
}

DbEdit Vms(int n) {
  return [n](Database& db) {
    for (int i = 0; i < n; ++i) AddVm(db, i, "vm " + std::to_string(i));
  };
}

std::string Copy(const std::string& from, const std::string& to) {
  EXPECT_EQ(Run("cp -a " + ShellQuote(from) + " " + ShellQuote(to)).exit_code, 0);
  return to;
}

class DeriveTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(DeriveTest, OneHeadAheadOfTheOthersIsMaster) {
  Fork f = MakeFork(dir_ / "r", StoreTestSchema(), Vms(3), [](Database& db) { Label(db, 0, "a"); },
                    [](Database&) {});
  auto repo = OpenRepo(f.path);
  replica::DerivedMaster d = DeriveMaster(repo.get(), {{"h1", f.base}, {"h2", f.ours}});
  EXPECT_EQ(d.commit, f.ours);
  EXPECT_EQ(d.frontier, std::vector<std::string>{f.ours});
}

TEST_F(DeriveTest, SameHeadsGiveTheSameMasterOnEveryCopy) {
  Fork f = MakeFork(dir_ / "r", StoreTestSchema(), Vms(3), [](Database& db) { Label(db, 0, "a"); },
                    [](Database& db) { Label(db, 1, "b"); });
  std::string copy = Copy(f.path, dir_ / "copy");
  auto repo = OpenRepo(f.path);
  auto other = OpenRepo(copy);
  // The uuids map to the heads the other way round on the copy: only the
  // set of heads counts.
  replica::DerivedMaster a = DeriveMaster(repo.get(), {{"h1", f.ours}, {"h2", f.theirs}});
  replica::DerivedMaster b = DeriveMaster(other.get(), {{"h1", f.theirs}, {"h2", f.ours}});
  EXPECT_EQ(a.commit, b.commit);
  EXPECT_NE(a.commit, f.ours);
  EXPECT_TRUE(a.conflicts.empty());
  std::unique_ptr<Database> merged = LoadCommit(f, a.commit);
  EXPECT_EQ(merged->ReadField("VM", "name__label", VmRef(0)), "a");
  EXPECT_EQ(merged->ReadField("VM", "name__label", VmRef(1)), "b");
}

// Two hosts each add a key to one map (add_to_map: in front): both keys
// land, in one order, without a conflict, and every copy derives the same
// master commit.
TEST_F(DeriveTest, KeysAddedToOneMapOnTwoHostsLandInOneOrderEverywhere) {
  auto add = [](const std::string& key) {
    return [key](Database& db) {
      db.ProcessStructuredField(key, "1", "VM", "other_config", VmRef(0), StructuredOp::kAddMap);
    };
  };
  Fork f = MakeFork(dir_ / "r", StoreTestSchema(),
                    [](Database& db) {
                      Vms(1)(db);
                      db.WriteField("VM", VmRef(0), "other_config", "(('old' '0') ('base' '0'))");
                    },
                    add("from-a"), add("from-b"));
  std::string copy = Copy(f.path, dir_ / "copy");
  auto repo = OpenRepo(f.path);
  auto other = OpenRepo(copy);
  replica::DerivedMaster a = DeriveMaster(repo.get(), {{"h1", f.ours}, {"h2", f.theirs}});
  replica::DerivedMaster b = DeriveMaster(other.get(), {{"h1", f.theirs}, {"h2", f.ours}});
  EXPECT_TRUE(a.conflicts.empty());
  EXPECT_EQ(a.commit, b.commit);
  EXPECT_EQ(LoadCommit(f, a.commit)->ReadField("VM", "other_config", VmRef(0)),
            "(('from-a' '1') ('from-b' '1') ('old' '0') ('base' '0'))");
}

TEST_F(DeriveTest, ConcurrentChangesToOneFieldKeepTheLaterCommitsAndSayWhat) {
  Fork f = MakeFork(dir_ / "r", StoreTestSchema(), Vms(2), [](Database& db) { Label(db, 0, "ours"); },
                    [](Database& db) { Label(db, 0, "theirs"); });
  auto repo = OpenRepo(f.path);
  replica::DerivedMaster d = DeriveMaster(repo.get(), {{"h1", f.ours}, {"h2", f.theirs}});
  ASSERT_EQ(d.conflicts.size(), 1u);
  // The rule: the later commit wins; in the same second, the larger id.
  auto time_of = [&](const std::string& id) {
    return std::stoll(Git(f.path, "show -s --format=%ct " + id).output);
  };
  std::string first = std::min(f.ours, f.theirs), second = std::max(f.ours, f.theirs);
  std::string winner = time_of(first) > time_of(second) ? first : second;
  std::string kept = winner == f.ours ? "ours" : "theirs";
  std::string lost = winner == f.ours ? "theirs" : "ours";
  EXPECT_EQ(LoadCommit(f, d.commit)->ReadField("VM", "name__label", VmRef(0)), kept);
  EXPECT_EQ(d.conflicts[0], "Conflict: VM " + VmRef(0) + " name__label kept '" + kept +
                                "' over '" + lost + "'");
  EXPECT_NE(Git(f.path, "show -s --format=%B " + d.commit).output.find(d.conflicts[0]),
            std::string::npos);
  // Either side may be "ours" (a fold of three heads merges in id order):
  // the same commit, which the quarantine check accepts.
  EXPECT_EQ(replica::MergeHeads(repo.get(), std::max(f.ours, f.theirs), std::min(f.ours, f.theirs),
                                nullptr),
            d.commit);
  replica::HostRefCache cache;
  EXPECT_FALSE(replica::FindViolation(repo.get(), "h", d.commit, {f.ours, f.theirs}, &cache));
}

// The commit `of` again, with `message` and committer time `when` (seconds).
std::string Recommit(const Fork& f, const std::string& of, const std::string& message, int when) {
  std::string date = "@" + std::to_string(when) + " +0000";
  CommandResult r = Run("GIT_COMMITTER_DATE=" + ShellQuote(date) + " GIT_AUTHOR_DATE=" +
                        ShellQuote(date) + " git --git-dir=" + ShellQuote(f.path) +
                        " commit-tree " + of + "^{tree} -p " + f.base + " -m " +
                        ShellQuote(message));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output.substr(0, 40);
}

TEST_F(DeriveTest, ChangesUnderANewerLockTokenWinOverLaterOnes) {
  Fork f = MakeFork(dir_ / "r", StoreTestSchema(), Vms(2), [](Database& db) { Label(db, 0, "new holder"); },
                    [](Database& db) { Label(db, 0, "old holder"); });
  auto repo = OpenRepo(f.path);
  // Without tokens the later commit wins: the old holder's, made after.
  std::string early = Recommit(f, f.ours, "new holder's change", 1800000000);
  std::string late = Recommit(f, f.theirs, "old holder's change", 1800000100);
  replica::DerivedMaster plain = DeriveMaster(repo.get(), {{"h1", early}, {"h2", late}});
  EXPECT_EQ(LoadCommit(f, plain.commit)->ReadField("VM", "name__label", VmRef(0)), "old holder");
  // Under one lock, the newer grant wins whatever the times (the old holder
  // had lost the lock while it was cut off), the same way on every host.
  early = Recommit(f, f.ours, "new holder's change\n\nLock-Token: 90 SR:1\n", 1800000000);
  late = Recommit(f, f.theirs, "old holder's change\n\nLock-Token: 12 SR:1\n", 1800000100);
  replica::DerivedMaster fenced = DeriveMaster(repo.get(), {{"h1", early}, {"h2", late}});
  EXPECT_EQ(LoadCommit(f, fenced.commit)->ReadField("VM", "name__label", VmRef(0)), "new holder");
  ASSERT_EQ(fenced.conflicts.size(), 1u);
  EXPECT_NE(fenced.conflicts[0].find("kept 'new holder' over 'old holder'"), std::string::npos)
      << fenced.conflicts[0];
  EXPECT_EQ(DeriveMaster(repo.get(), {{"h1", late}, {"h2", early}}).commit, fenced.commit);
  // Tokens of different locks do not decide: the time rule again.
  late = Recommit(f, f.theirs, "old holder's change\n\nLock-Token: 12 SR:2\n", 1800000100);
  replica::DerivedMaster other = DeriveMaster(repo.get(), {{"h1", early}, {"h2", late}});
  EXPECT_EQ(LoadCommit(f, other.commit)->ReadField("VM", "name__label", VmRef(0)), "old holder");
}

// ---- Thin packs ----

class ThinPackTest : public ::testing::Test {
 protected:
  // A sender with `vms` VMs and a receiver copied from it; then one field
  // changed on the sender. Returns {old head, new head}.
  std::pair<std::string, std::string> OneFieldAhead(int vms) {
    {
      auto store = Store::Create(TestOptions(sender_), StoreTestSchema());
      Vms(vms)(store->db());
      store->Commit("setup");
    }
    Copy(sender_, receiver_);
    auto store = Store::Open(TestOptions(sender_));
    std::string old = store->Head();
    Label(store->db(), 7, "changed");
    store->Commit("one field");
    return {old, store->Head()};
  }
  std::string Pack(const std::string& want, const std::string& have,
                   replica::PackStats* stats = nullptr) {
    auto repo = OpenRepo(sender_);
    return replica::BuildThinPack(repo.get(), {want}, {have}, stats);
  }
  std::set<std::string> Packs() {
    std::set<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(receiver_ + "/objects/pack")) {
      out.insert(e.path().filename().string());
    }
    return out;
  }
  void Receive(const std::string& pack, const std::vector<std::string>& required) {
    auto store = Store::Open(TestOptions(receiver_));
    auto repo = OpenRepo(receiver_);
    replica::ReceivePack(*store, repo.get(), pack, required);
  }

  TempDir dir_;
  std::string sender_ = dir_ / "sender", receiver_ = dir_ / "receiver";
};

TEST_F(ThinPackTest, OneFieldChangeIsASmallPackTheReceiverCompletes) {
  auto [old, now] = OneFieldAhead(2000);
  replica::PackStats stats;
  std::string pack = Pack(now, old, &stats);
  EXPECT_EQ(stats.commits, 1u);
  EXPECT_GT(stats.deltas, 0u);
  // Whole trees of a 2,000-row table would be tens of KB.
  EXPECT_LT(pack.size(), 2048u) << pack.size();
  RecordProperty("pack_bytes", static_cast<int>(pack.size()));
  Receive(pack, {now});
  EXPECT_EQ(Git(receiver_, "cat-file -t " + now).output, "commit\n");
  ExpectFsckClean(receiver_);
  EXPECT_EQ(Git(receiver_, "ls-tree -r " + now).output, Git(sender_, "ls-tree -r " + now).output);
}

TEST_F(ThinPackTest, NothingToSendIsAnEmptyPack) {
  auto [old, now] = OneFieldAhead(10);
  EXPECT_EQ(Pack(now, now), "");
  EXPECT_EQ(Pack(old, now), "");
}

TEST_F(ThinPackTest, TruncatedOrCorruptPackIsRefusedAndLeavesNothing) {
  auto [old, now] = OneFieldAhead(50);
  std::string pack = Pack(now, old);
  std::set<std::string> before = Packs();
  std::string corrupt = pack;
  corrupt[corrupt.size() / 2] ^= 0x5a;
  for (const std::string& bad : {pack.substr(0, pack.size() - 7), corrupt, std::string("PACK")}) {
    try {
      Receive(bad, {now});
      ADD_FAILURE() << "accepted a bad pack of " << bad.size() << " bytes";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
    }
    EXPECT_EQ(Packs(), before);
  }
  EXPECT_NE(Git(receiver_, "cat-file -t " + now).exit_code, 0);
  ExpectFsckClean(receiver_);
}

TEST_F(ThinPackTest, PackWhoseBasesTheReceiverLacksIsRefused) {
  auto [old, now] = OneFieldAhead(50);
  // A receiver that never had `old`: a fresh repository of its own.
  std::filesystem::remove_all(receiver_);
  Store::Create(TestOptions(receiver_), StoreTestSchema());
  try {
    Receive(Pack(now, old), {now});
    ADD_FAILURE() << "accepted a thin pack without its bases";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
  }
}

TEST_F(ThinPackTest, PackWithoutTheClaimedCommitIsRefused) {
  auto [old, now] = OneFieldAhead(10);
  std::string pack = Pack(now, old);
  std::string elsewhere = std::string(40, 'b');
  EXPECT_THROW(Receive(pack, {now, elsewhere}), Error);
  EXPECT_THROW(Receive("", {elsewhere}), Error);
}

TEST_F(ThinPackTest, TreeNamesGitWouldRefuseAreRefused) {
  auto [old, now] = OneFieldAhead(10);
  // A commit on `now` whose root also holds an entry named `name`, written
  // as raw objects (libgit2's own checks would refuse to build it).
  auto commit_with = [&](const std::string& name) {
    auto repo = OpenRepo(sender_);
    git_odb* raw = nullptr;
    git_repository_odb(&raw, repo.get());
    store::OdbPtr odb(raw);
    git_oid blob, tree, commit, parent_tree;
    git_odb_write(&blob, odb.get(), "x", 1, GIT_OBJECT_BLOB);
    git_oid parent = store::ParseOidHex(now);
    git_commit* pc = nullptr;
    git_commit_lookup(&pc, repo.get(), &parent);
    parent_tree = *git_commit_tree_id(pc);
    git_commit_free(pc);
    git_tree* root = nullptr;
    git_tree_lookup(&root, repo.get(), &parent_tree);
    std::string bytes;
    bool placed = false;
    auto entry = [&](const std::string& mode, const std::string& n, const git_oid& id) {
      bytes += mode + " " + n + std::string(1, '\0') +
               std::string(reinterpret_cast<const char*>(id.id), GIT_OID_RAWSZ);
    };
    for (size_t i = 0; i < git_tree_entrycount(root); ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(root, i);
      if (!placed && name < git_tree_entry_name(e)) {
        entry("100644", name, blob);
        placed = true;
      }
      entry(git_tree_entry_filemode(e) == GIT_FILEMODE_TREE ? "40000" : "100644",
            git_tree_entry_name(e), *git_tree_entry_id(e));
    }
    if (!placed) entry("100644", name, blob);
    git_tree_free(root);
    git_odb_write(&tree, odb.get(), bytes.data(), bytes.size(), GIT_OBJECT_TREE);
    std::string c = "tree " + store::OidHex(tree) + "\nparent " + now +
                    "\nauthor t <t@t> 1 +0000\ncommitter t <t@t> 1 +0000\n\nbad\n";
    git_odb_write(&commit, odb.get(), c.data(), c.size(), GIT_OBJECT_COMMIT);
    return store::OidHex(commit);
  };
  for (const std::string& name : {std::string(".git"), std::string(".GIT"), std::string("..")}) {
    std::string bad = commit_with(name);
    try {
      Receive(Pack(bad, old), {bad});
      ADD_FAILURE() << "accepted a tree naming " << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
      EXPECT_NE(std::string(e.what()).find("a tree names"), std::string::npos) << e.what();
    }
  }
  EXPECT_NE(Git(receiver_, "cat-file -t " + now).exit_code, 0);  // nothing of it written
}

// ---- Peer messages and the tree ----

// A lying peer's merge: parents of a real fork, but a tree that is not
// their merge (here, one side's tree). Every host would write the true
// merge, so the forged one is found; the true one passes.
TEST_F(DeriveTest, AMergeThatIsNotTheMergeOfItsParentsIsFound) {
  Fork f = MakeFork(dir_ / "r", StoreTestSchema(), Vms(2), [](Database& db) { Label(db, 0, "a"); },
                    [](Database& db) { Label(db, 1, "b"); });
  auto repo = OpenRepo(f.path);
  std::string honest = DeriveMaster(repo.get(), {{"h1", f.ours}, {"h2", f.theirs}}).commit;
  replica::HostRefCache cache;
  EXPECT_FALSE(replica::FindViolation(repo.get(), "h2", honest, {f.ours, f.theirs}, &cache));
  std::string first = std::min(f.ours, f.theirs), second = std::max(f.ours, f.theirs);
  CommandResult forged = test::Run(
      "GIT_AUTHOR_NAME='xapi-gitdb merge' GIT_COMMITTER_NAME='xapi-gitdb merge' git --git-dir=" +
      ShellQuote(f.path) + " commit-tree " + f.ours + "^{tree} -p " + first + " -p " + second +
      " -m 'Merge " + first + " and " + second + "'");
  ASSERT_EQ(forged.exit_code, 0) << forged.output;
  std::string lie = forged.output.substr(0, 40);
  std::optional<replica::Violation> v =
      replica::FindViolation(repo.get(), "h2", lie, {f.ours, f.theirs}, &cache);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->commit, lie);
  EXPECT_EQ(v->host, "h2");
  EXPECT_NE(v->reason.find("is not the merge of its parents"), std::string::npos) << v->reason;
  EXPECT_NE(v->reason.find(honest), std::string::npos) << v->reason;
}

TEST(PeerMessageTest, AForwardCarriesItsBodyBeforeThePack) {
  replica::PeerMessage m;
  m.call = "forward";
  m.from = "0e6f-host";
  m.protocol = "v1";
  m.body = "<methodCall>\n\x01\xff</methodCall>";  // any bytes, newlines too
  m.pack = std::string("PACK\0\n", 6);
  m.status = 200;
  replica::PeerMessage back = replica::DecodePeerMessage(replica::EncodePeerMessage(m));
  EXPECT_EQ(back.call, "forward");
  EXPECT_EQ(back.protocol, "v1");
  EXPECT_EQ(back.body, m.body);
  EXPECT_EQ(back.pack, m.pack);
  EXPECT_EQ(back.status, 200);
  for (const char* bad : {R"({"call":"forward","from":"a"})",
                          R"({"call":"forward","from":"a","protocol":"v3"})",
                          R"({"call":"forward","from":"a","protocol":"v2","body_bytes":9})",
                          R"({"from":"a","status":42})", R"({"from":"a","body_bytes":-1})"}) {
    EXPECT_THROW(replica::DecodePeerMessage(std::string(bad) + "\nabc"), Error) << bad;
  }
}

TEST(PeerMessageTest, RoundTripsAndRefusesWhatCouldEscapeTheRepository) {
  replica::PeerMessage m;
  m.call = "push";
  m.from = "0e6f-host";
  m.heads = {{"0e6f-host", std::string(40, 'a')}};
  m.pack = std::string("PACK\0\n\x01", 7);
  m.time_ms = 1796000000123;
  replica::PeerMessage back = replica::DecodePeerMessage(replica::EncodePeerMessage(m));
  EXPECT_EQ(back.time_ms, m.time_ms);
  EXPECT_EQ(back.call, m.call);
  EXPECT_EQ(back.heads, m.heads);
  EXPECT_EQ(back.pack, m.pack);
  for (const char* bad : {
           R"({"call":"push","from":"a","heads":{"../../x":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}})",
           R"({"call":"push","from":"a","heads":{"b":"not an id"}})",
           R"({"call":"push","from":"a/b"})", R"({"call":"rm","from":"a"})", R"([1,2])",
           R"(no json)", R"({"from":"a","time_ms":"noon"})", R"({"from":"a","time_ms":-5})"}) {
    EXPECT_THROW(replica::DecodePeerMessage(std::string(bad) + "\n"), Error) << bad;
  }
  EXPECT_THROW(replica::DecodePeerMessage(R"({"call":"push","from":"a"})"), Error);  // no newline
  nlohmann::json many = {{"call", "push"}, {"from", "a"}, {"heads", nlohmann::json::object()}};
  for (int i = 0; i < 5000; ++i) many["heads"]["h" + std::to_string(i)] = std::string(40, 'a');
  EXPECT_THROW(replica::DecodePeerMessage(many.dump() + "\n"), Error);
}

TEST(TopologyTest, SixtyFourHostsAreThreeLevelsAndChildrenReattachWhenAParentDies) {
  std::vector<std::string> hosts;
  for (int i = 0; i < 64; ++i) hosts.push_back("host-" + std::string(i < 10 ? "0" : "") + std::to_string(i));
  auto depth = [&](const std::vector<std::string>& live, std::string h) {
    int d = 0;
    while (!(h = replica::LinksOf(live, h, 4).parent).empty()) ++d;
    return d;
  };
  int deepest = 0;
  for (const std::string& h : hosts) {
    deepest = std::max(deepest, depth(hosts, h));
    for (const std::string& c : replica::LinksOf(hosts, h, 4).children) {
      EXPECT_EQ(replica::LinksOf(hosts, c, 4).parent, h);
    }
  }
  EXPECT_EQ(deepest, 3);
  // host-01 dies: its children find a live parent by the same rule.
  std::vector<std::string> children = replica::LinksOf(hosts, "host-01", 4).children;
  ASSERT_FALSE(children.empty());
  std::vector<std::string> live = hosts;
  live.erase(live.begin() + 1);
  for (const std::string& c : children) {
    std::string parent = replica::LinksOf(live, c, 4).parent;
    EXPECT_NE(parent, "host-01");
    EXPECT_FALSE(parent.empty());
  }
}

}  // namespace
}  // namespace xgdb::test
