// Events from git diffs and the in-memory stream (docs/events.md): tokens,
// add/mod/del on every kind of field, coalescing, set-ref-induced mods,
// class filters, resyncs, inject, merges and many waiters, on a real
// repository on disk.
#include <git2.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "event/event_diff.h"
#include "event/event_hub.h"
#include "event/subscription.h"
#include "event/token.h"
#include "store/layout.h"
#include "task/task_manager.h"
#include "support/paths.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::event {
namespace {

using nlohmann::json;

// VM: stored string/set/map columns, a non-persistent column and the derived
// side of VBD.VM; session: a non-persistent table; secret: no events.
std::shared_ptr<const Schema> EventSchema() {
  static const char* kJson = R"JSON({
  "schema_major_vsn": 5, "schema_minor_vsn": 1,
  "tables": [
    {"name": "VBD", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "VM", "type": "string", "persistent": true, "empty": "OpaqueRef:NULL", "default": null,
       "relation": {"table": "VM", "field": "VBDs", "kind": "one-to-many", "side": "ref"}},
      {"name": "device", "type": "string", "persistent": true, "empty": "", "default": ""}]},
    {"name": "VM", "persistent": true, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "name__label", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "tags", "type": "set", "persistent": true, "empty": "()", "default": "()"},
      {"name": "other_config", "type": "map", "persistent": true, "empty": "()", "default": "()"},
      {"name": "current_operations", "type": "map", "persistent": false, "empty": "()", "default": "()"},
      {"name": "VBDs", "type": "set", "persistent": false, "empty": "()", "default": "()", "issetref": true,
       "relation": {"table": "VBD", "field": "VM", "kind": "one-to-many", "side": "set"}}]},
    {"name": "secret", "persistent": true, "gen_events": false, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null}]},
    {"name": "session", "persistent": false, "columns": [
      {"name": "_ref", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "uuid", "type": "string", "persistent": true, "empty": "", "default": null},
      {"name": "last_active", "type": "string", "persistent": true, "empty": "", "default": ""}]}
  ],
  "one_to_many": [{"table": "VBD", "field": "VM", "other_table": "VM", "other_field": "VBDs"}],
  "many_to_many": []
})JSON";
  static auto schema = Schema::FromJson(kJson);
  return schema;
}

std::string Ref(const char* kind, int i) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "OpaqueRef:%02x%06d-%s-4000-8000-000000000000", i * 37 % 256, i,
                kind);
  return buf;
}

struct Fixture {
  test::TempDir dir;
  std::unique_ptr<Store> store;
  std::unique_ptr<EventHub> hub;

  explicit Fixture(EventHubOptions options = {}) {
    StoreOptions o;
    o.path = dir / "repo";
    o.host_name = "host-a";
    o.fsync = false;
    store = Store::Create(o, EventSchema());
    hub = std::make_unique<EventHub>(*store, options);
  }
  Database& db() { return store->db(); }

  void AddVm(int i, const std::string& label = "vm") {
    db().CreateRow("VM", {{"uuid", "vm-" + std::to_string(i)}, {"name__label", label}}, Ref("vm", i));
  }
  void AddVbd(int i, const std::string& vm) {
    db().CreateRow("VBD", {{"uuid", "vbd-" + std::to_string(i)}, {"VM", vm}}, Ref("vbd", i));
  }
  void AddSession(int i) {
    db().CreateRow("session", {{"uuid", "s-" + std::to_string(i)}}, Ref("session", i));
  }

  // Event_from with timeout 0: the parsed result.
  json From(const std::string& token, std::vector<std::string> classes = {"*"}) {
    json out;
    hub->From(classes, token, 0, [&](rpc::RpcResult r) { out = json::parse(r.body); });
    EXPECT_EQ(out[0], "Event_from") << out.dump();
    return out[1];
  }
};

// "class op ref" of each event, sorted.
std::vector<std::string> Summary(const json& result) {
  std::vector<std::string> out;
  for (const json& e : result["events"]) {
    out.push_back(e["class"].get<std::string>() + " " + e["operation"].get<std::string>() + " " +
                  e["ref"].get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

const json* EventFor(const json& result, const std::string& ref) {
  for (const json& e : result["events"]) {
    if (e["ref"] == ref) return &e;
  }
  return nullptr;
}

TEST(EventToken, FormatParseAndStringOrder) {
  Position p{42, std::string(40, 'a'), 1732451234567890ull};
  std::string t = FormatToken(p);
  EXPECT_EQ(t, "00000000000000000042." + std::string(40, 'a') + ",00001732451234567890");
  EXPECT_EQ(*ParseToken(t), p);
  EXPECT_FALSE(ParseToken("").has_value());

  // Generation first: 9 < 10 as strings, whatever the commit ids.
  Position a{9, std::string(40, 'f'), 500}, b{10, std::string(40, '0'), 1};
  EXPECT_LT(FormatToken(a), FormatToken(b));
  // Same commit: the stream stamp decides.
  Position c = a;
  c.stamp = 501;
  EXPECT_LT(FormatToken(a), FormatToken(c));
  EXPECT_LT(std::string(""), FormatToken(a));

  for (const char* bad : {"x", "00000000000000000042", "0000000000000000042.aaaa,1",
                          "00000000000002194689,00000000000000000012"}) {
    EXPECT_THROW(ParseToken(bad), Error) << bad;
  }
  std::string upper = t;
  upper[25] = 'A';
  EXPECT_THROW(ParseToken(upper), Error);
}

TEST(EventSubscription, ClassesAreLowerCasedAndSplitAtFirstSlash) {
  Subscriptions s = Subscriptions::Parse({"VM", "session/OpaqueRef:a/b", "nosuch"});
  EXPECT_TRUE(s.Matches("vm", "OpaqueRef:x"));
  EXPECT_TRUE(s.Matches("session", "OpaqueRef:a/b"));
  EXPECT_FALSE(s.Matches("session", "OpaqueRef:a"));
  EXPECT_FALSE(s.Matches("vbd", "OpaqueRef:x"));
  EXPECT_TRUE(s.MatchesTable("session"));
  EXPECT_FALSE(s.WantsWholeTable("session"));
  EXPECT_THROW(Subscriptions::Parse({"/x"}), Error);
  EXPECT_THROW(Subscriptions::Parse({"vm/"}), Error);
}

TEST(EventFrom, EmptyTokenGivesEveryObjectAsAddWithCounts) {
  Fixture f;
  f.AddVm(1, "one");
  f.AddVm(2, "two");
  f.store->Commit();
  f.AddSession(1);  // in memory only
  f.db().CreateRow("secret", {{"uuid", "sec"}}, Ref("secret", 1));
  json r = f.From("");
  EXPECT_EQ(Summary(r), (std::vector<std::string>{"session add " + Ref("session", 1),
                                                  "vm add " + Ref("vm", 1),
                                                  "vm add " + Ref("vm", 2)}));
  const json* e = EventFor(r, Ref("vm", 2));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ((*e)["snapshot"]["name__label"], "two");
  EXPECT_EQ((*e)["snapshot"]["uuid"], "vm-2");
  EXPECT_EQ(r["valid_ref_counts"],
            json({{"vbd", 0}, {"vm", 2}, {"secret", 1}, {"session", 1}}));
  EXPECT_EQ(r["token"].get<std::string>().substr(21, 40), f.store->Head());
}

TEST(EventFrom, AddModDelOnEveryKindOfField) {
  Fixture f;
  f.AddVm(1);
  f.AddVm(2);
  f.AddSession(1);
  f.store->Commit();
  std::string t = f.From("")["token"];
  std::string vm1 = Ref("vm", 1), vm2 = Ref("vm", 2);

  struct Step {
    const char* what;
    std::function<void()> change;
    bool commit;
    std::string expect;  // the one event
    std::string field, value;  // expected in the snapshot
  };
  std::vector<Step> steps = {
      {"string field", [&] { f.db().WriteField("VM", vm1, "name__label", "renamed"); }, true,
       "vm mod " + vm1, "name__label", "renamed"},
      {"set element", [&] {
         f.db().ProcessStructuredField("blue", "", "VM", "tags", vm1, StructuredOp::kAddSet);
       }, true, "vm mod " + vm1, "tags", "('blue')"},
      {"map entry", [&] {
         f.db().ProcessStructuredField("k", "v", "VM", "other_config", vm2, StructuredOp::kAddMap);
       }, true, "vm mod " + vm2, "other_config", "(('k' 'v'))"},
      {"map entry removed", [&] {
         f.db().ProcessStructuredField("k", "", "VM", "other_config", vm2, StructuredOp::kRemoveMap);
       }, true, "vm mod " + vm2, "other_config", "()"},
      {"non-persistent field", [&] {
         f.db().WriteField("VM", vm1, "current_operations", "(('op1' 'start'))");
       }, false, "vm mod " + vm1, "current_operations", "(('op1' 'start'))"},
      {"row created", [&] { f.AddVm(3, "three"); }, true, "vm add " + Ref("vm", 3), "name__label",
       "three"},
      {"row deleted", [&] { f.db().DeleteRow("VM", vm2); }, true, "vm del " + vm2, "", ""},
      {"non-persistent row created", [&] { f.AddSession(2); }, false,
       "session add " + Ref("session", 2), "uuid", "s-2"},
      {"non-persistent row written", [&] {
         f.db().WriteField("session", Ref("session", 1), "last_active", "now");
       }, false, "session mod " + Ref("session", 1), "last_active", "now"},
      {"non-persistent row deleted", [&] { f.db().DeleteRow("session", Ref("session", 1)); },
       false, "session del " + Ref("session", 1), "", ""},
  };
  for (const Step& s : steps) {
    s.change();
    if (s.commit) {
      ASSERT_NE(f.store->Commit(), "") << s.what;
    }
    json r = f.From(t);
    EXPECT_EQ(Summary(r), std::vector<std::string>{s.expect}) << s.what;
    const json& e = r["events"][0];
    if (s.field.empty()) {
      EXPECT_FALSE(e.contains("snapshot")) << s.what;
    } else {
      EXPECT_EQ(e["snapshot"][s.field], s.value) << s.what;
    }
    EXPECT_GT(r["token"].get<std::string>(), t) << s.what;
    t = r["token"];
    EXPECT_TRUE(f.From(t)["events"].empty()) << s.what << ": reported twice";
  }
}

TEST(EventFrom, CoalescesPerObject) {
  Fixture f;
  f.AddVm(1);
  f.AddVm(2);
  f.store->Commit();
  std::string t = f.From("")["token"];

  // Created then modified (two commits): one add with the newest record.
  f.AddVm(3, "first");
  f.store->Commit();
  f.db().WriteField("VM", Ref("vm", 3), "name__label", "second");
  f.store->Commit();
  // Created then deleted (committed in between): nothing.
  f.AddVm(4);
  f.store->Commit();
  f.db().DeleteRow("VM", Ref("vm", 4));
  f.store->Commit();
  // Modified then deleted: del.
  f.db().WriteField("VM", Ref("vm", 1), "name__label", "gone soon");
  f.store->Commit();
  f.db().DeleteRow("VM", Ref("vm", 1));
  f.store->Commit();
  // Modified twice: one mod.
  f.db().WriteField("VM", Ref("vm", 2), "name__label", "a");
  f.store->Commit();
  f.db().WriteField("VM", Ref("vm", 2), "current_operations", "(('x' 'y'))");
  // Non-persistent row created and deleted: nothing.
  f.AddSession(9);
  f.From(t);  // the stream stamps the creation...
  f.db().DeleteRow("session", Ref("session", 9));  // ...and then the deletion

  json r = f.From(t);
  EXPECT_EQ(Summary(r), (std::vector<std::string>{"vm add " + Ref("vm", 3),
                                                  "vm del " + Ref("vm", 1),
                                                  "vm mod " + Ref("vm", 2)}));
  EXPECT_EQ((*EventFor(r, Ref("vm", 3)))["snapshot"]["name__label"], "second");
  EXPECT_EQ((*EventFor(r, Ref("vm", 2)))["snapshot"]["current_operations"], "(('x' 'y'))");
}

TEST(EventDiff, SetRefFieldsMakeTheirTargetsMod) {
  Fixture f;
  std::string vm1 = Ref("vm", 1), vm2 = Ref("vm", 2), vbd = Ref("vbd", 1);
  f.AddVm(1);
  f.AddVm(2);
  std::string a = f.store->Commit();
  f.AddVbd(1, vm1);
  std::string b = f.store->Commit();
  f.db().WriteField("VBD", vbd, "VM", vm2);
  std::string c = f.store->Commit();
  f.db().DeleteRow("VBD", vbd);
  std::string d = f.store->Commit();

  CommitReader reader(f.store->path());
  auto ops = [&](const std::string& from, const std::string& to) {
    std::vector<std::string> out;
    for (const GitChange& g : DiffCommits(*f.store, reader, f.db().schema(), from, to)) {
      static const char* kNames[] = {"add", "mod", "del", "induced"};
      out.push_back(g.table->name + " " + kNames[static_cast<int>(g.op)] + " " + g.ref);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(ops(a, b), (std::vector<std::string>{"VBD add " + vbd, "VM induced " + vm1}));
  EXPECT_EQ(ops(b, c), (std::vector<std::string>{"VBD mod " + vbd, "VM induced " + vm1,
                                                 "VM induced " + vm2}));
  EXPECT_EQ(ops(c, d), (std::vector<std::string>{"VBD del " + vbd, "VM induced " + vm2}));
  EXPECT_EQ(ops(a, d), std::vector<std::string>{});  // created and deleted: nothing
  EXPECT_EQ(ops(d, d), std::vector<std::string>{});

  // Through Event_from with a token made at `a` on a fresh hub (so the
  // in-memory stream has seen nothing and only git can tell): both VMs mod.
  EventHub fresh(*f.store);
  Position at_a{f.store->GenerationAt(a), a, fresh.source().stream().stamp()};
  json r;
  fresh.From({"vm"}, FormatToken(at_a), 0, [&](rpc::RpcResult res) { r = json::parse(res.body)[1]; });
  EXPECT_TRUE(r["events"].empty()) << r.dump();  // a..d: VBD born and gone, VMs as before
  Position at_b{f.store->GenerationAt(b), b, fresh.source().stream().stamp()};
  fresh.From({"vm"}, FormatToken(at_b), 0, [&](rpc::RpcResult res) { r = json::parse(res.body)[1]; });
  // b..d: the VBD left vm1; vm2 got it and lost it again, so its record at
  // d equals the one at b: a state diff reports vm1 only.
  EXPECT_EQ(Summary(r), std::vector<std::string>{"vm mod " + vm1});
  Position at_c{f.store->GenerationAt(c), c, fresh.source().stream().stamp()};
  fresh.From({"vm"}, FormatToken(at_c), 0, [&](rpc::RpcResult res) { r = json::parse(res.body)[1]; });
  EXPECT_EQ(Summary(r), std::vector<std::string>{"vm mod " + vm2});
}

TEST(EventFrom, UncommittedChangesComeFromTheStreamAndAreNotAddedTwice) {
  Fixture f;
  f.AddVm(1);
  f.store->Commit();
  std::string t = f.From("")["token"];
  // Not committed yet: the new VBD and its VM (derived VBDs changed).
  f.AddVbd(1, Ref("vm", 1));
  json r = f.From(t);
  EXPECT_EQ(Summary(r), (std::vector<std::string>{"vbd add " + Ref("vbd", 1),
                                                  "vm mod " + Ref("vm", 1)}));
  EXPECT_EQ((*EventFor(r, Ref("vm", 1)))["snapshot"]["VBDs"], "('" + Ref("vbd", 1) + "')");
  // Once committed, git reports them again, but never as a second add.
  f.store->Commit();
  json again = f.From(r["token"]);
  for (const json& e : again["events"]) EXPECT_EQ(e["operation"], "mod") << again.dump();
  EXPECT_TRUE(f.From(again["token"])["events"].empty());
}

TEST(EventFrom, ClassFilters) {
  Fixture f;
  f.AddVm(1);
  f.AddVm(2);
  f.AddSession(1);
  f.store->Commit();
  std::string t = f.From("")["token"];
  f.db().WriteField("VM", Ref("vm", 1), "name__label", "x");
  f.db().WriteField("VM", Ref("vm", 2), "name__label", "y");
  f.db().WriteField("session", Ref("session", 1), "last_active", "z");
  f.db().CreateRow("secret", {{"uuid", "sec"}}, Ref("secret", 1));
  f.store->Commit();

  EXPECT_EQ(Summary(f.From(t, {"VM"})),
            (std::vector<std::string>{"vm mod " + Ref("vm", 1), "vm mod " + Ref("vm", 2)}));
  EXPECT_EQ(Summary(f.From(t, {"vm/" + Ref("vm", 2)})),
            std::vector<std::string>{"vm mod " + Ref("vm", 2)});
  EXPECT_EQ(Summary(f.From(t, {"Session"})),
            std::vector<std::string>{"session mod " + Ref("session", 1)});
  EXPECT_TRUE(f.From(t, {"nosuch", "secret"})["events"].empty());
  EXPECT_EQ(f.From(t, {"*"})["events"].size(), 3u);
  EXPECT_EQ(f.From("", {"vm/" + Ref("vm", 1)})["events"].size(), 1u);
  EXPECT_THROW(f.hub->From({"/vm"}, t, 0, [](rpc::RpcResult) {}), Error);
}

TEST(EventFrom, TimeoutAnswersEmptyWithTheSameToken) {
  Fixture f;
  f.AddVm(1);
  f.store->Commit();
  f.hub->Start();
  std::string t = f.From("")["token"];
  f.AddSession(1);  // another class changes meanwhile
  std::promise<json> answer;
  f.hub->From({"vm"}, t, 0.2, [&](rpc::RpcResult r) { answer.set_value(json::parse(r.body)[1]); });
  json r = answer.get_future().get();
  EXPECT_TRUE(r["events"].empty());
  EXPECT_EQ(r["token"], t);
  EXPECT_EQ(r["valid_ref_counts"]["session"], 1);
}

TEST(EventFrom, UnknownCommitOrOldStampResyncs) {
  Fixture f;
  f.AddVm(1);
  f.AddSession(1);
  f.store->Commit();
  std::string t = f.From("")["token"];
  Position p = *ParseToken(t);

  Position other = p;
  other.commit = std::string(40, 'e');  // another host's commit
  json r = f.From(FormatToken(other));
  EXPECT_EQ(Summary(r), (std::vector<std::string>{"session add " + Ref("session", 1),
                                                  "vm add " + Ref("vm", 1)}));
  Position before_start = p;
  before_start.stamp = 1;  // issued before this process's stream began
  EXPECT_EQ(Summary(f.From(FormatToken(before_start))).size(), 2u);
  EXPECT_TRUE(f.From(t)["events"].empty());

  EXPECT_THROW(f.hub->From({"*"}, "garbage", 0, [](rpc::RpcResult) {}), Error);
}

TEST(EventFrom, StreamCutResyncsOldTokens) {
  EventHubOptions o;
  o.max_stream_log = 4;
  Fixture f(o);
  f.AddSession(1);
  std::string t = f.From("")["token"];
  for (int i = 0; i < 10; ++i) {
    f.db().WriteField("session", Ref("session", 1), "last_active", std::to_string(i));
    f.From(t);  // one stamp per change
  }
  f.AddVm(1);
  f.store->Commit();
  // The log no longer reaches back to `t`: everything, as add.
  EXPECT_EQ(Summary(f.From(t)), (std::vector<std::string>{"session add " + Ref("session", 1),
                                                          "vm add " + Ref("vm", 1)}));
}

TEST(EventInject, TokenSortsBelowTheAnswerThatReportsIt) {
  Fixture f;
  f.AddVm(1);
  f.AddVm(2);
  f.store->Commit();
  std::string before = f.From("")["token"];
  std::string injected = f.hub->Inject("vm", Ref("vm", 1));
  EXPECT_GT(injected, before);

  json r = f.From(injected);
  EXPECT_EQ(Summary(r), std::vector<std::string>{"vm mod " + Ref("vm", 1)});
  EXPECT_GT(r["token"].get<std::string>(), injected);
  EXPECT_EQ(Summary(f.From(before)), std::vector<std::string>{"vm mod " + Ref("vm", 1)});
  // A commit after the inject: tokens still sort.
  f.db().WriteField("VM", Ref("vm", 2), "name__label", "later");
  f.store->Commit();
  json later = f.From(r["token"]);
  EXPECT_EQ(Summary(later), std::vector<std::string>{"vm mod " + Ref("vm", 2)});
  EXPECT_GT(later["token"].get<std::string>(), r["token"].get<std::string>());

  EXPECT_THROW(f.hub->Inject("vbd", Ref("vm", 1)), Error);
  EXPECT_THROW(f.hub->Inject("vm", "OpaqueRef:nosuch"), Error);
}

// A commit with two parents made with libgit2 (what a task merge writes):
// master's first parent is the store's commit, the second a side branch
// that changed another VM.
TEST(EventFrom, EventsAfterAMergeCommit) {
  Fixture f;
  std::string vm1 = Ref("vm", 1), vm2 = Ref("vm", 2);
  f.AddVm(1);
  f.AddVm(2);
  std::string a = f.store->Commit();
  std::string t = f.From("")["token"];
  f.db().WriteField("VM", vm1, "name__label", "on master");
  std::string b = f.store->Commit();

  git_libgit2_init();
  git_repository* repo = nullptr;
  ASSERT_EQ(git_repository_open_bare(&repo, f.store->path().c_str()), 0);
  auto commit_of = [&](const std::string& hex) {
    git_oid id;
    git_oid_fromstr(&id, hex.c_str());
    git_commit* c = nullptr;
    EXPECT_EQ(git_commit_lookup(&c, repo, &id), 0);
    return c;
  };
  git_commit* ca = commit_of(a);
  git_commit* cb = commit_of(b);
  const char* label = "from the side";
  git_oid blob;
  ASSERT_EQ(git_blob_create_from_buffer(&blob, repo, label, strlen(label)), 0);
  std::string path = store::RowDir("VM", vm2) + "/name__label";
  git_tree_update upd = {GIT_TREE_UPDATE_UPSERT, blob, GIT_FILEMODE_BLOB, path.c_str()};
  git_signature* sig = nullptr;
  git_signature_now(&sig, "side", "side@test");
  auto commit_on = [&](git_commit* base, std::vector<const git_commit*> parents) {
    git_oid tree_id, id;
    git_tree* base_tree = nullptr;
    git_commit_tree(&base_tree, base);
    EXPECT_EQ(git_tree_create_updated(&tree_id, repo, base_tree, 1, &upd), 0);
    git_tree_free(base_tree);
    git_tree* tree = nullptr;
    git_tree_lookup(&tree, repo, &tree_id);
    EXPECT_EQ(git_commit_create(&id, repo, nullptr, sig, sig, nullptr, "m", tree, parents.size(),
                                parents.data()), 0);
    git_tree_free(tree);
    return id;
  };
  git_oid side = commit_on(ca, {ca});
  git_commit* cs = nullptr;
  git_commit_lookup(&cs, repo, &side);
  git_oid merge = commit_on(cb, {cb, cs});
  git_reference* ref = nullptr;
  ASSERT_EQ(git_reference_create(&ref, repo, "refs/heads/master", &merge, 1, "merge"), 0);
  char hex[41];
  git_oid_tostr(hex, sizeof hex, &merge);
  git_reference_free(ref);
  git_commit_free(cs);
  git_commit_free(ca);
  git_commit_free(cb);
  git_signature_free(sig);
  git_repository_free(repo);
  git_libgit2_shutdown();

  json r = f.From(t);
  EXPECT_EQ(Summary(r), (std::vector<std::string>{"vm mod " + vm1, "vm mod " + vm2}));
  Position p = *ParseToken(r["token"]);
  EXPECT_EQ(p.commit, hex);
  EXPECT_EQ(p.generation, f.store->GenerationAt(b) + 1);  // one more than its longest parent
  EXPECT_EQ(p.generation, f.store->GenerationAt(hex));
  EXPECT_GT(r["token"].get<std::string>(), t);
  EXPECT_TRUE(f.From(r["token"])["events"].empty());
}

// The same through the task module: a task's write merged into master
// after master moved on (a real two-parent merge commit).
TEST(EventFrom, EventsAfterATaskMerge) {
  Fixture f;
  std::string vm1 = Ref("vm", 1), vm2 = Ref("vm", 2);
  f.AddVm(1);
  f.AddVm(2);
  f.store->Commit();
  std::string t = f.From("")["token"];
  task::TaskManager tasks(*f.store);
  std::string id = tasks.Begin();
  tasks.Run(id, [&](Database& db) { db.WriteField("VM", vm2, "name__label", "by the task"); });
  f.db().WriteField("VM", vm1, "name__label", "on master");
  f.store->Commit();
  task::CommitOutcome outcome = tasks.Commit(id);
  ASSERT_EQ(f.store->GetCommit(outcome.commit).parents.size(), 2u) << outcome.kind;

  json r = f.From(t);
  EXPECT_EQ(Summary(r), (std::vector<std::string>{"vm mod " + vm1, "vm mod " + vm2}));
  EXPECT_EQ((*EventFor(r, vm2))["snapshot"]["name__label"], "by the task");
  Position p = *ParseToken(r["token"]);
  EXPECT_EQ(p.commit, outcome.commit);
  EXPECT_EQ(p.generation, f.store->GenerationAt(outcome.commit));
  EXPECT_GT(r["token"].get<std::string>(), t);
}

TEST(EventHub, HundredsOfWaitersAllWokenByOneCommit) {
  Fixture f;
  f.AddVm(1);
  f.store->Commit();
  f.hub->Start();
  std::string t = f.From("")["token"];
  constexpr int kWaiters = 400;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<json> answers;
  for (int i = 0; i < kWaiters; ++i) {
    f.hub->From({i % 2 ? "vm" : "*"}, t, 60, [&](rpc::RpcResult r) {
      std::lock_guard<std::mutex> lock(mu);
      answers.push_back(json::parse(r.body)[1]);
      cv.notify_all();
    });
  }
  EXPECT_EQ(f.hub->waiting(), static_cast<size_t>(kWaiters));
  f.db().WriteField("VM", Ref("vm", 1), "name__label", "wake up");
  f.store->Commit();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return answers.size() == kWaiters; }));
  for (const json& a : answers) {
    ASSERT_EQ(Summary(a), std::vector<std::string>{"vm mod " + Ref("vm", 1)});
    EXPECT_EQ(a["events"][0]["snapshot"]["name__label"], "wake up");
    EXPECT_GT(a["token"].get<std::string>(), t);
  }
  EXPECT_EQ(f.hub->waiting(), 0u);
}

TEST(EventHub, StopAnswersEveryWaiter) {
  Fixture f;
  f.hub->Start();
  std::string t = f.From("")["token"];
  std::atomic<int> answered{0};
  for (int i = 0; i < 5; ++i) {
    f.hub->From({"*"}, t, 3600, [&](rpc::RpcResult r) {
      EXPECT_EQ(json::parse(r.body)[1]["token"], t);
      ++answered;
    });
  }
  f.hub->Stop();
  EXPECT_EQ(answered, 5);
  f.hub->From({"*"}, t, 3600, [&](rpc::RpcResult) { ++answered; });  // after Stop: at once
  EXPECT_EQ(answered, 6);
}

}  // namespace
}  // namespace xgdb::event
