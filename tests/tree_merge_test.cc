// The three-way merge engine on real repositories written by the Store:
// what merges cleanly, what conflicts (and how the error reads), symmetry,
// deterministic merge commits, and that the cost follows the change.
#include "merge/tree_merge.h"

#include <gtest/gtest.h>

#include <chrono>

#include "merge/merge.h"
#include "merge_test_util.h"
#include "store/image_loader.h"
#include "store/layout.h"

namespace xgdb::test {
namespace {

using merge::MergeOutcome;

void Nothing(Database&) {}

// Three VMs: "vm-1" with a tag and a map key, "vm-2", "vm-3".
void ThreeVms(Database& db) {
  for (int i = 1; i <= 3; ++i) AddVm(db, i, "vm-" + std::to_string(i));
  db.WriteField("VM", VmRef(1), "tags", "('base')");
  db.WriteField("VM", VmRef(1), "other_config", "(('k' 'base') ('gone' 'x'))");
}

std::string Field(const Database& db, int vm, const std::string& field) {
  return db.ReadField("VM", field, VmRef(vm));
}

// Merges and returns the merged database (the merge must be clean).
std::unique_ptr<Database> MergedDb(const Fork& f) {
  MergeOutcome out = MergeFork(f);
  EXPECT_EQ(out.kind, MergeOutcome::Kind::kMerged);
  return LoadCommit(f, out.commit);
}

// The kConflict error of a merge that must fail.
Error ConflictOf(const Fork& f) {
  try {
    MergeFork(f);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "merge did not fail";
  return Error(ErrorKind::kIo, "");
}

TEST(TreeMerge, DisjointFieldsOfOneRowMerge) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                    [](Database& db) { db.WriteField("VM", VmRef(1), "name__label", "ours"); },
                    [](Database& db) { db.WriteField("VM", VmRef(1), "power_state", "Running"); });
  auto db = MergedDb(f);
  EXPECT_EQ(Field(*db, 1, "name__label"), "ours");
  EXPECT_EQ(Field(*db, 1, "power_state"), "Running");
  EXPECT_EQ(Field(*db, 2, "name__label"), "vm-2");
}

TEST(TreeMerge, DifferentRowsMerge) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                    [](Database& db) { db.WriteField("VM", VmRef(1), "name__label", "one"); },
                    [](Database& db) { db.WriteField("VM", VmRef(2), "name__label", "two"); });
  auto db = MergedDb(f);
  EXPECT_EQ(Field(*db, 1, "name__label"), "one");
  EXPECT_EQ(Field(*db, 2, "name__label"), "two");
  EXPECT_EQ(Field(*db, 3, "name__label"), "vm-3");
}

TEST(TreeMerge, MapKeysAndSetElementsMergePerMember) {
  TempDir dir;
  Fork f = MakeFork(
      dir / "r.git", StoreTestSchema(), ThreeVms,
      [](Database& db) {
        db.WriteField("VM", VmRef(1), "tags", "('base' 'ours')");
        db.WriteField("VM", VmRef(1), "other_config", "(('k' 'base') ('gone' 'x') ('a' '1'))");
        db.WriteField("VM", VmRef(2), "tags", "('new on ours')");  // set created on ours
      },
      [](Database& db) {
        db.WriteField("VM", VmRef(1), "tags", "('theirs')");  // removes 'base'
        db.WriteField("VM", VmRef(1), "other_config", "(('k' 'base') ('b/slash' '2'))");
      });
  auto db = MergedDb(f);
  EXPECT_EQ(Field(*db, 1, "tags"), "('ours' 'theirs')");
  EXPECT_EQ(Field(*db, 1, "other_config"), "(('a' '1') ('b/slash' '2') ('k' 'base'))");
  EXPECT_EQ(Field(*db, 2, "tags"), "('new on ours')");
}

// Members keep xapi's order through a merge (docs/merge.md, "Member
// order"), the same whichever side is ours.
std::string MergedField(const Fork& f, bool swap, const std::string& ref, const std::string& field,
                        std::string* tree) {
  store::RepoPtr repo = OpenRepo(f.path);
  git_oid b = TreeOfCommit(repo.get(), f.base), o = TreeOfCommit(repo.get(), f.ours),
          t = TreeOfCommit(repo.get(), f.theirs);
  auto r = swap ? merge::MergeTrees(repo.get(), b, t, o) : merge::MergeTrees(repo.get(), b, o, t);
  EXPECT_TRUE(r.conflicts.empty());
  *tree = store::OidHex(r.tree);
  git_tree* raw = nullptr;
  EXPECT_EQ(git_tree_lookup(&raw, repo.get(), &r.tree), 0);
  store::TreePtr root(raw);
  return store::LoadImage(repo.get(), root.get(), nullptr)->ReadField("VM", field, ref);
}

void ExpectMergedOrder(const DbEdit& base, const DbEdit& ours, const DbEdit& theirs,
                       const std::string& field, const std::string& expected,
                       const std::string& ref = VmRef(1)) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(),
                    [&](Database& db) {
                      ThreeVms(db);
                      base(db);
                    },
                    ours, theirs);
  std::string xy, yx;
  EXPECT_EQ(MergedField(f, false, ref, field, &xy), expected);
  EXPECT_EQ(MergedField(f, true, ref, field, &yx), expected);
  EXPECT_EQ(xy, yx);
}

TEST(TreeMerge, MembersBothSidesAddedComeFirstInTheirOrder) {
  auto write = [](const std::string& text) {
    return [text](Database& db) { db.WriteField("VM", VmRef(1), "other_config", text); };
  };
  // add_to_map on both sides: the new keys first, then the old ones as they were.
  ExpectMergedOrder(write("(('m' '1') ('b' '2'))"), write("(('z' '9') ('m' '1') ('b' '2'))"),
                    write("(('y' '8') ('x' '7') ('m' '1') ('b' '2'))"), "other_config",
                    "(('y' '8') ('x' '7') ('z' '9') ('m' '1') ('b' '2'))");
  // One side reordered the old keys, the other added one and removed one.
  ExpectMergedOrder(write("(('m' '1') ('b' '2') ('c' '3'))"),
                    write("(('c' '3') ('b' '2') ('m' '1'))"),
                    write("(('n' '0') ('m' '1') ('b' '2'))"), "other_config",
                    "(('n' '0') ('b' '2') ('m' '1'))");
}

TEST(TreeMerge, VerbatimTextGivesWayToTheMergedMembers) {
  // create_row keeps a set's exact text (write_field prints it canonically).
  auto create = [](const std::string& tags) {
    return [tags](Database& db) {
      db.CreateRow("VM", {{"uuid", "u-9"}, {"name__label", "nine"}, {"tags", tags}}, VmRef(9));
    };
  };
  // Alone, the exact text survives a merge (the row is taken whole).
  ExpectMergedOrder(Nothing, create("( \"b\"  'a' )"), Nothing, "tags", "( \"b\"  'a' )",
                    VmRef(9));
  // Both sides created the row: its members merge and print canonically.
  ExpectMergedOrder(Nothing, create("( \"b\"  'a' )"), create("('a' 'c')"), "tags",
                    "('a' 'c' 'b')", VmRef(9));
}

TEST(TreeMerge, EmptiedSetOrMapDisappears) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                    [](Database& db) { db.WriteField("VM", VmRef(1), "tags", "()"); },
                    [](Database& db) { db.WriteField("VM", VmRef(1), "other_config", "(('k' 'base'))"); });
  MergeOutcome out = MergeFork(f);
  auto db = LoadCommit(f, out.commit);
  EXPECT_EQ(Field(*db, 1, "tags"), "()");
  EXPECT_EQ(Field(*db, 1, "other_config"), "(('k' 'base'))");
  std::string row = Store::ObjectPath("VM", VmRef(1));
  EXPECT_NE(Git(f.path, "cat-file -e " + out.commit + ":" + row + "tags").exit_code, 0);
  EXPECT_EQ(Git(f.path, "fsck --strict").exit_code, 0);
}

TEST(TreeMerge, RowCreatedOrDeletedOnOneSideMerges) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                    [](Database& db) {
                      AddVm(db, 4, "made by ours");
                      db.DeleteRow("VM", VmRef(3));
                    },
                    [](Database& db) {
                      AddVm(db, 5, "made by theirs");
                      db.DeleteRow("VM", VmRef(2));
                      db.CreateRow("VBD", {{"uuid", "vbd-1"}, {"VM", VmRef(1)}}, "OpaqueRef:vbd-1");
                    });
  auto db = MergedDb(f);
  EXPECT_EQ(db->ReadRefs("VM").size(), 3u);  // 1, 4, 5
  EXPECT_EQ(Field(*db, 4, "name__label"), "made by ours");
  EXPECT_EQ(Field(*db, 5, "name__label"), "made by theirs");
  EXPECT_FALSE(db->IsValidRef(VmRef(2)));
  EXPECT_FALSE(db->IsValidRef(VmRef(3)));
  EXPECT_EQ(Field(*db, 1, "VBDs"), "('OpaqueRef:vbd-1')");  // relation rebuilt on load
}

TEST(TreeMerge, IdenticalChangesOnBothSidesMergeCleanly) {
  TempDir dir;
  DbEdit same = [](Database& db) {
    db.WriteField("VM", VmRef(1), "name__label", "same");
    db.WriteField("VM", VmRef(1), "other_config", "(('k' 'new') ('gone' 'x'))");
    db.DeleteRow("VM", VmRef(2));
    AddVm(db, 7, "twin");
  };
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                    [&](Database& db) {
                      same(db);
                      db.WriteField("VM", VmRef(3), "power_state", "Paused");
                    },
                    same);
  auto db = MergedDb(f);
  EXPECT_EQ(Field(*db, 1, "name__label"), "same");
  EXPECT_EQ(Field(*db, 1, "other_config"), "(('k' 'new') ('gone' 'x'))");  // xapi's order
  EXPECT_EQ(Field(*db, 3, "power_state"), "Paused");
  EXPECT_EQ(Field(*db, 7, "name__label"), "twin");
  EXPECT_FALSE(db->IsValidRef(VmRef(2)));
}

TEST(TreeMerge, SameFieldChangedDifferentlyConflicts) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                    [](Database& db) { db.WriteField("VM", VmRef(1), "name__label", "a"); },
                    [](Database& db) { db.WriteField("VM", VmRef(1), "name__label", "b"); });
  Error e = ConflictOf(f);
  EXPECT_EQ(e.kind(), ErrorKind::kConflict);
  EXPECT_EQ(std::string(e.what()),
            "conflict: VM " + VmRef(1) + " name__label changed on both sides ('a' vs 'b')");
  EXPECT_EQ(e.args(), (std::vector<std::string>{"VM", VmRef(1), "name__label", ""}));
  EXPECT_EQ(Git(f.path, "rev-parse master").output, f.ours + "\n");  // target untouched
}

TEST(TreeMerge, SameMapKeyChangedDifferentlyConflicts) {
  TempDir dir;
  std::string long_key(300, 'k');  // stored under a hashed entry name
  Fork f = MakeFork(
      dir / "r.git", StoreTestSchema(),
      [&](Database& db) {
        ThreeVms(db);
        db.WriteField("VM", VmRef(2), "other_config", "(('" + long_key + "' 'v0') ('x/y' '0'))");
      },
      [&](Database& db) {
        db.WriteField("VM", VmRef(1), "other_config", "(('k' 'ours') ('gone' 'x'))");
        db.WriteField("VM", VmRef(2), "other_config", "(('" + long_key + "' 'v1') ('x/y' '0'))");
      },
      [&](Database& db) {
        db.WriteField("VM", VmRef(1), "other_config", "(('k' 'theirs'))");
        db.WriteField("VM", VmRef(2), "other_config", "(('" + long_key + "' 'v2'))");
      });
  store::RepoPtr repo = OpenRepo(f.path);
  auto result = merge::MergeTrees(repo.get(), TreeOfCommit(repo.get(), f.base),
                                  TreeOfCommit(repo.get(), f.ours),
                                  TreeOfCommit(repo.get(), f.theirs));
  ASSERT_EQ(result.conflicts.size(), 2u);
  // 'gone' removed by theirs only and 'x/y' removed by theirs only: clean.
  const merge::Conflict& a = result.conflicts[0];  // rows in bucket order
  const merge::Conflict& b = result.conflicts[1];
  const merge::Conflict& k = a.ref == VmRef(1) ? a : b;
  const merge::Conflict& l = a.ref == VmRef(1) ? b : a;
  EXPECT_EQ(k.kind, merge::Conflict::Kind::kMapKey);
  EXPECT_EQ(k.Describe(),
            "VM " + VmRef(1) + " other_config key 'k' changed on both sides ('ours' vs 'theirs')");
  EXPECT_EQ(l.key, long_key);  // the raw name, not "%H..."
  EXPECT_EQ(l.ours, "'v1'");
  EXPECT_EQ(l.theirs, "'v2'");
  Error e = merge::ConflictError(result.conflicts);
  EXPECT_EQ(e.kind(), ErrorKind::kConflict);
  EXPECT_EQ(std::string(e.what()).rfind("conflict: VM ", 0), 0u) << e.what();
}

TEST(TreeMerge, MapKeyRemovedOnOneSideChangedOnOtherConflicts) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                    [](Database& db) { db.WriteField("VM", VmRef(1), "other_config", "(('gone' 'x'))"); },
                    [](Database& db) {
                      db.WriteField("VM", VmRef(1), "other_config", "(('k' 'changed') ('gone' 'x'))");
                    });
  Error e = ConflictOf(f);
  EXPECT_EQ(std::string(e.what()), "conflict: VM " + VmRef(1) +
                                       " other_config key 'k' changed on both sides (removed vs "
                                       "'changed')");
  EXPECT_EQ(e.args(), (std::vector<std::string>{"VM", VmRef(1), "other_config", "k"}));
}

TEST(TreeMerge, DeleteAgainstModifyConflictsBothWays) {
  for (bool ours_deletes : {true, false}) {
    TempDir dir;
    DbEdit del = [](Database& db) { db.DeleteRow("VM", VmRef(2)); };
    DbEdit mod = [](Database& db) { db.WriteField("VM", VmRef(2), "name__label", "kept"); };
    Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms, ours_deletes ? del : mod,
                      ours_deletes ? mod : del);
    Error e = ConflictOf(f);
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
    std::string expected = "conflict: VM " + VmRef(2) +
                           " deleted on one side and changed on the other (ours " +
                           (ours_deletes ? "deleted the row" : "changed name__label") +
                           ", theirs " + (ours_deletes ? "changed name__label" : "deleted the row") +
                           ")";
    EXPECT_EQ(std::string(e.what()), expected);
    EXPECT_EQ(e.args(), (std::vector<std::string>{"VM", VmRef(2), "name__label", ""}));
  }
}

TEST(TreeMerge, SameRefCreatedDifferentlyConflicts) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                    [](Database& db) { AddVm(db, 9, "ours' nine"); },
                    [](Database& db) { AddVm(db, 9, "theirs' nine"); });
  Error e = ConflictOf(f);
  EXPECT_EQ(std::string(e.what()),
            "conflict: VM " + VmRef(9) + " name__label changed on both sides ('ours' nine' vs "
                                         "'theirs' nine')");
}

TEST(TreeMerge, LongRefIsNamedByItsRawName) {
  TempDir dir;
  std::string ref = "OpaqueRef:" + std::string(250, 'z');
  Fork f = MakeFork(
      dir / "r.git", StoreTestSchema(),
      [&](Database& db) {
        db.CreateRow("VM", {{"uuid", "u-long"}, {"name__label", "x"}}, ref);
      },
      [&](Database& db) { db.WriteField("VM", ref, "name__label", "a"); },
      [&](Database& db) { db.WriteField("VM", ref, "name__label", "b"); });
  Error e = ConflictOf(f);
  EXPECT_EQ(std::string(e.what()), "conflict: VM " + ref + " name__label changed on both sides ('a' vs 'b')");
}

TEST(TreeMerge, MetaChangesTakenFromOneSideConflictOnBoth) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms, Nothing,
                    [](Database& db) { db.WriteField("VM", VmRef(1), "name__label", "t"); });
  store::RepoPtr repo = OpenRepo(f.path);
  git_repository* r = repo.get();
  // A tree like `root` with meta/extra holding `text`.
  auto with_meta = [&](const std::string& commit, const std::string& text) {
    git_oid root = TreeOfCommit(r, commit), blob, out;
    git_blob_create_from_buffer(&blob, r, text.data(), text.size());
    git_tree* raw = nullptr;
    git_tree_lookup(&raw, r, &root);
    store::TreePtr tree(raw);
    git_tree_update u{};
    u.action = GIT_TREE_UPDATE_UPSERT;
    u.id = blob;
    u.filemode = GIT_FILEMODE_BLOB;
    u.path = "meta/extra";
    store::Check(git_tree_create_updated(&out, r, tree.get(), 1, &u), "update");
    return out;
  };
  git_oid base = TreeOfCommit(r, f.base);
  auto one = merge::MergeTrees(r, base, TreeOfCommit(r, f.ours), with_meta(f.theirs, "x"));
  ASSERT_TRUE(one.conflicts.empty());
  EXPECT_EQ(Git(f.path, "cat-file -p " + store::OidHex(one.tree) + ":meta/extra").output, "x");
  auto both = merge::MergeTrees(r, base, with_meta(f.ours, "y"), with_meta(f.theirs, "x"));
  ASSERT_EQ(both.conflicts.size(), 1u);
  EXPECT_EQ(both.conflicts[0].Describe(), "meta/extra changed on both sides");
}

TEST(TreeMerge, MergeIsSymmetric) {
  TempDir dir;
  Fork f = MakeFork(
      dir / "r.git", StoreTestSchema(), ThreeVms,
      [](Database& db) {
        db.WriteField("VM", VmRef(1), "name__label", "ours");
        db.WriteField("VM", VmRef(1), "tags", "('base' 'o')");
        AddVm(db, 4, "four");
        db.DeleteRow("VM", VmRef(3));
      },
      [](Database& db) {
        db.WriteField("VM", VmRef(1), "power_state", "Running");
        db.WriteField("VM", VmRef(1), "tags", "('t')");
        db.WriteField("VM", VmRef(1), "other_config", "(('k' 'base') ('gone' 'x') ('n' '1'))");
        AddVm(db, 5, "five");
        db.WriteField("VM", VmRef(2), "name__label", "two");
      });
  store::RepoPtr repo = OpenRepo(f.path);
  git_oid b = TreeOfCommit(repo.get(), f.base), o = TreeOfCommit(repo.get(), f.ours),
          t = TreeOfCommit(repo.get(), f.theirs);
  auto xy = merge::MergeTrees(repo.get(), b, o, t);
  auto yx = merge::MergeTrees(repo.get(), b, t, o);
  ASSERT_TRUE(xy.conflicts.empty());
  ASSERT_TRUE(yx.conflicts.empty());
  EXPECT_EQ(store::OidHex(xy.tree), store::OidHex(yx.tree));
  EXPECT_NE(store::OidHex(xy.tree), store::OidHex(o));
}

TEST(TreeMerge, UpToDateAndFastForward) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms, Nothing,
                    [](Database& db) { db.WriteField("VM", VmRef(1), "name__label", "t"); });
  ASSERT_EQ(f.ours, f.base);  // ours made no commit
  MergeOutcome ff = MergeFork(f);
  EXPECT_EQ(ff.kind, MergeOutcome::Kind::kFastForward);
  EXPECT_EQ(ff.commit, f.theirs);
  store::RepoPtr repo = OpenRepo(f.path);
  MergeOutcome up = merge::MergeCommits(repo.get(), f.theirs, f.base);
  EXPECT_EQ(up.kind, MergeOutcome::Kind::kUpToDate);
  EXPECT_EQ(up.commit, f.theirs);
}

TEST(TreeMerge, NewTableOnBothSidesAndEmptiedBucketMerge) {
  TempDir dir;
  const std::string r1 = "OpaqueRef:ab000000-0000-4000-8000-000000000001";
  const std::string r2 = "OpaqueRef:ab000000-0000-4000-8000-000000000002";
  Fork f = MakeFork(
      dir / "r.git", StoreTestSchema(),
      [&](Database& db) {
        ThreeVms(db);
        db.CreateRow("VM", {{"uuid", "u-r1"}, {"name__label", "r1"}}, r1);
      },
      [&](Database& db) {  // empties bucket "ab"; creates table VBD
        db.DeleteRow("VM", r1);
        db.CreateRow("VBD", {{"uuid", "vbd-o"}, {"VM", VmRef(1)}}, "OpaqueRef:vbd-o");
      },
      [&](Database& db) {  // adds to bucket "ab"; creates table VBD too
        db.CreateRow("VM", {{"uuid", "u-r2"}, {"name__label", "r2"}}, r2);
        db.CreateRow("VBD", {{"uuid", "vbd-t"}, {"VM", VmRef(2)}}, "OpaqueRef:vbd-t");
      });
  auto db = MergedDb(f);
  EXPECT_FALSE(db->IsValidRef(r1));
  EXPECT_EQ(db->ReadField("VM", "name__label", r2), "r2");
  EXPECT_EQ(db->ReadRefs("VBD").size(), 2u);
  EXPECT_EQ(Field(*db, 2, "VBDs"), "('OpaqueRef:vbd-t')");
}

TEST(TreeMerge, TaskMergeCommitNamesTheActingHost) {
  TempDir dir;
  Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                    [](Database& db) { db.WriteField("VM", VmRef(1), "name__label", "o"); },
                    [](Database& db) { db.WriteField("VM", VmRef(2), "name__label", "t"); });
  merge::MergeOptions options;
  options.actor = "OpaqueRef:host-a";
  MergeOutcome out = MergeFork(f, options);
  ASSERT_EQ(out.kind, MergeOutcome::Kind::kMerged);
  std::string message = Git(f.path, "log -1 --format=%B " + out.commit).output;
  EXPECT_EQ(merge::HostTrailer(message), "OpaqueRef:host-a") << message;
  EXPECT_EQ(message.rfind("Merge " + f.theirs + " into " + f.ours + "\n", 0), 0u) << message;
  // Store commits carry their host too.
  EXPECT_EQ(merge::HostTrailer(Git(f.path, "log -1 --format=%B " + f.ours).output),
            "host-a-uuid@pool");
  EXPECT_EQ(Git(f.path, "rev-parse " + out.commit + "^1 " + out.commit + "^2").output,
            f.ours + "\n" + f.theirs + "\n");
}

// Commits `tree` with a fixed identity and time, so two repositories built
// the same way hold the same commit ids.
std::string FixedCommit(git_repository* repo, const git_oid& tree,
                        const std::vector<std::string>& parents, int64_t time) {
  git_signature* raw_sig = nullptr;
  git_signature_new(&raw_sig, "test", "test@example", time, 0);
  store::SignaturePtr sig(raw_sig);
  git_tree* raw_tree = nullptr;
  git_tree_lookup(&raw_tree, repo, &tree);
  store::TreePtr t(raw_tree);
  std::vector<store::CommitPtr> owned;
  std::vector<const git_commit*> ptrs;
  for (const std::string& p : parents) {
    git_oid id;
    git_oid_fromstr(&id, p.c_str());
    git_commit* c = nullptr;
    git_commit_lookup(&c, repo, &id);
    owned.emplace_back(c);
    ptrs.push_back(c);
  }
  git_oid id;
  store::Check(git_commit_create(&id, repo, nullptr, sig.get(), sig.get(), nullptr, "fixed\n",
                                 t.get(), ptrs.size(), ptrs.data()),
               "commit");
  return store::OidHex(id);
}

TEST(TreeMerge, MergeCommitIsTheSameOnEveryHost) {
  std::vector<std::string> ids, swapped, sorted_a, sorted_b;
  for (int host = 0; host < 2; ++host) {
    TempDir dir;
    Fork f = MakeFork(dir / "r.git", StoreTestSchema(), ThreeVms,
                      [](Database& db) { db.WriteField("VM", VmRef(1), "name__label", "o"); },
                      [](Database& db) { db.WriteField("VM", VmRef(2), "name__label", "t"); });
    store::RepoPtr repo = OpenRepo(f.path);
    git_repository* r = repo.get();
    // The Store stamps commits with the time of day: re-commit the same
    // trees at fixed times, as two hosts holding the same history would.
    std::string base = FixedCommit(r, TreeOfCommit(r, f.base), {}, 1000);
    std::string ours = FixedCommit(r, TreeOfCommit(r, f.ours), {base}, 3000);
    std::string theirs = FixedCommit(r, TreeOfCommit(r, f.theirs), {base}, 2000);
    merge::MergeOptions task;
    task.actor = "";
    MergeOutcome m = merge::MergeCommits(r, ours, theirs, task);
    ASSERT_EQ(m.kind, MergeOutcome::Kind::kMerged);
    ids.push_back(m.commit);
    swapped.push_back(merge::MergeCommits(r, theirs, ours, task).commit);
    merge::MergeOptions repl;
    repl.order = merge::ParentOrder::kSorted;
    sorted_a.push_back(merge::MergeCommits(r, ours, theirs, repl).commit);
    sorted_b.push_back(merge::MergeCommits(r, theirs, ours, repl).commit);

    auto log = Git(f.path, "log -1 --format='%an <%ae> %at %ct %P' " + m.commit);
    EXPECT_EQ(log.output, "xapi-gitdb merge <merge@xapi-gitdb> 3000 3000 " + ours + " " + theirs + "\n");
    EXPECT_EQ(Git(f.path, "fsck --strict").exit_code, 0);
  }
  EXPECT_EQ(ids[0], ids[1]);            // same inputs, two repositories: same id
  EXPECT_NE(ids[0], swapped[0]);        // task merges keep ours first
  EXPECT_EQ(sorted_a[0], sorted_b[0]);  // replication: either direction, one commit
  EXPECT_EQ(sorted_a[0], sorted_a[1]);
}

// A commit on `parent` whose tree has `values` written at `paths` (row
// fields), made directly with libgit2 so that large benchmarks need not
// reload the image for every branch.
std::string EditCommit(git_repository* repo, const std::string& parent,
                       const std::vector<std::pair<std::string, std::string>>& path_values) {
  git_oid root = TreeOfCommit(repo, parent);
  git_tree* raw = nullptr;
  git_tree_lookup(&raw, repo, &root);
  store::TreePtr tree(raw);
  std::vector<git_tree_update> updates;
  for (const auto& [path, value] : path_values) {
    git_tree_update u{};
    u.action = GIT_TREE_UPDATE_UPSERT;
    git_blob_create_from_buffer(&u.id, repo, value.data(), value.size());
    u.filemode = GIT_FILEMODE_BLOB;
    u.path = path.c_str();
    updates.push_back(u);
  }
  git_oid out;
  store::Check(git_tree_create_updated(&out, repo, tree.get(), updates.size(), updates.data()),
               "update");
  return FixedCommit(repo, out, {parent}, 5000);
}

// Scratch benchmark (docs/merge.md): merge cost for k changed fields on
// pools of 1,000 and 100,000 VM rows. Run with
//   tree_merge_test --gtest_also_run_disabled_tests --gtest_filter='*MergeCostBenchmark*'
TEST(TreeMerge, DISABLED_MergeCostBenchmark) {
  for (int rows : {1000, 100000}) {
    TempDir dir;
    std::string path = dir / "r.git";
    auto image = std::make_unique<Database>(StoreTestSchema());
    for (int i = 0; i < rows; ++i) AddVm(*image, i, "vm");
    auto t0 = std::chrono::steady_clock::now();
    std::string base;
    {
      auto store = Store::Import(TestOptions(path), std::move(image), "import");
      base = store->Head();
    }
    double import_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    store::RepoPtr repo = OpenRepo(path);
    for (int k : {1, 10, 100}) {
      std::vector<std::pair<std::string, std::string>> theirs_edits, ours_edits;
      for (int i = 0; i < k; ++i) {  // k fields on k rows spread over the table
        int row = (i * 7919) % rows;
        theirs_edits.push_back({store::RowDir("VM", VmRef(row)) + "/name__label", "t" + std::to_string(i)});
      }
      ours_edits.push_back({store::RowDir("VM", VmRef(rows - 1)) + "/power_state", "Running"});
      std::string theirs = EditCommit(repo.get(), base, theirs_edits);
      std::string ours = EditCommit(repo.get(), base, ours_edits);
      merge::MergeOptions options;
      options.actor = "OpaqueRef:bench-host";
      auto m0 = std::chrono::steady_clock::now();
      MergeOutcome out = merge::MergeCommits(repo.get(), ours, theirs, options);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - m0).count();
      ASSERT_EQ(out.kind, MergeOutcome::Kind::kMerged);
      ASSERT_EQ(out.theirs_changed.size(), size_t(k));
      printf("rows=%-7d k=%-4d merge+check %8.2f ms  trees read %5zu  blobs read %4zu  trees written %4zu  (import %.1f s)\n",
             rows, k, ms, out.stats.trees_read, out.stats.blobs_read, out.stats.trees_written, import_s);
    }
  }
}

TEST(TreeMerge, CostFollowsTheChangeNotTheTree) {
  constexpr int kRows = 20000;
  TempDir dir;
  Fork f = MakeFork(
      dir / "r.git", StoreTestSchema(),
      [](Database& db) {
        for (int i = 0; i < kRows; ++i) AddVm(db, i, "vm");
      },
      [](Database& db) { db.WriteField("VM", VmRef(10), "name__label", "ours"); },
      [](Database& db) {
        db.WriteField("VM", VmRef(11), "name__label", "t1");
        db.WriteField("VM", VmRef(12), "power_state", "Running");
        db.WriteField("VM", VmRef(10), "other_config", "(('touched' 'yes'))");
      });
  merge::MergeOptions options;
  options.actor = "OpaqueRef:some-host";  // also lists theirs' rows (no VM owner rule hit)
  MergeOutcome out = MergeFork(f, options);
  ASSERT_EQ(out.kind, MergeOutcome::Kind::kMerged);
  // Root, xapi/, xapi/VM, a bucket and a row per side along 3 changed rows,
  // plus the Merkle diff and owner lookups: tens, not tens of thousands.
  EXPECT_LE(out.stats.trees_read, 80u) << "trees read: " << out.stats.trees_read;
  EXPECT_EQ(out.theirs_changed.size(), 3u);
  auto db = LoadCommit(f, out.commit);
  EXPECT_EQ(db->RowCount("VM"), size_t{kRows});
  EXPECT_EQ(Field(*db, 10, "name__label"), "ours");
  EXPECT_EQ(Field(*db, 10, "other_config"), "(('touched' 'yes'))");
  EXPECT_EQ(Field(*db, 11, "name__label"), "t1");
  EXPECT_EQ(Field(*db, 12, "power_state"), "Running");
}

}  // namespace
}  // namespace xgdb::test
