// xapi's own database test sequence (ocaml/database/database_test.ml, spec
// remote-db-protocol.md section 5, items 1-32), one test per scenario, each
// sent through the real socket: an HttpServer on a unix socket whose handler
// runs rpc::Dispatcher::HandleOn on a Store, with bodies built the way xapi's
// client builds them (v1 XML and v2 JSON; every socket scenario runs in both)
// and answers decoded independently of the server's reply encoder.
//
// xapi runs these in-process against Test_schemas.schema (our
// vectors/fixture-schema.json), in one sequence. Here every test starts from
// an empty database and first makes the state the sequence would have
// reached, so each scenario can fail on its own. Where xapi's helper accepts
// "success or error X", so do we; where the spec says "must fail", the exact
// wire failure is asserted.
#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rpc/call.h"
#include "rpc/dispatcher.h"
#include "rpc/v1_codec.h"
#include "rpc/v2_codec.h"
#include "rpc/xml_value.h"
#include "server/client.h"
#include "server/http_server.h"
#include "support/paths.h"
#include "xgdb/database.h"
#include "xgdb/error.h"
#include "xgdb/schema.h"
#include "xgdb/store.h"

namespace xgdb {
namespace {

using rpc::Call;
using rpc::CallName;
using rpc::ProtocolVersion;
using rpc::Reply;
using rpc::ReplyShape;
using server::Answer;
using server::Connection;

// ---------------------------------------------------------------------------
// Decoding answers, written from the spec's wire shapes (2.x and 3.x), not
// from the server's encoder.

struct WireAnswer {
  int status = 0;
  bool failed = false;              // a 200 carrying an in-band failure
  std::string failure;              // v1 spelling: "dbcache_notfound"
  std::vector<std::string> params;  // the failure's parameters
  Reply reply;                      // on success
  std::string body;                 // as received, for messages
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// v1: A[ S("success"), RESULT ] or A[ S("failure"), A[ S(name), A[params] ] ].
void DecodeV1(CallName name, const std::string& body, WireAnswer* out) {
  using rpc::XmlToArray;
  using rpc::XmlToString;
  rpc::XmlNode root = rpc::ParseXml(body);
  const auto& top = XmlToArray(root);
  if (top.size() != 2) throw Error(ErrorKind::kBadRequest, "answer is not a pair");
  std::string status = XmlToString(top[0]);
  if (status == "failure") {
    const auto& f = XmlToArray(top[1]);
    if (f.size() != 2) throw Error(ErrorKind::kBadRequest, "failure is not a pair");
    out->failed = true;
    out->failure = XmlToString(f[0]);
    for (const auto& p : XmlToArray(f[1])) out->params.push_back(XmlToString(p));
    return;
  }
  if (status != "success") throw Error(ErrorKind::kBadRequest, "status " + status);
  const rpc::XmlNode& v = top[1];
  auto strings = [](const rpc::XmlNode& n) {
    std::vector<std::string> s;
    for (const auto& e : XmlToArray(n)) s.push_back(XmlToString(e));
    return s;
  };
  auto record = [&](const rpc::XmlNode& n) {
    const auto& parts = XmlToArray(n);
    if (parts.size() != 2) throw Error(ErrorKind::kBadRequest, "record is not a pair");
    Record r;
    for (const auto& kv : XmlToArray(parts[0])) {
      auto p = strings(kv);
      if (p.size() != 2) throw Error(ErrorKind::kBadRequest, "field is not a pair");
      r.fields.emplace_back(p[0], p[1]);
    }
    for (const auto& kv : XmlToArray(parts[1])) {
      const auto& p = XmlToArray(kv);
      if (p.size() != 2) throw Error(ErrorKind::kBadRequest, "set-ref is not a pair");
      r.set_refs.emplace_back(XmlToString(p[0]), strings(p[1]));
    }
    return r;
  };
  Reply& r = out->reply;
  switch (rpc::ReplyShapeOf(name)) {
    case ReplyShape::kOption: {
      auto s = strings(v);
      if (s.size() > 1) throw Error(ErrorKind::kBadRequest, "option of two");
      if (!s.empty()) r.option = s[0];
      break;
    }
    case ReplyShape::kFlag: r.flag = rpc::XmlToBool(v); break;
    case ReplyShape::kList: r.list = strings(v); break;
    case ReplyShape::kText: r.text = XmlToString(v); break;
    case ReplyShape::kRecord: r.record = record(v); break;
    case ReplyShape::kRecords:
      for (const auto& e : XmlToArray(v)) {
        const auto& p = XmlToArray(e);
        if (p.size() != 2) throw Error(ErrorKind::kBadRequest, "records entry is not a pair");
        r.records.emplace_back(XmlToString(p[0]), record(p[1]));
      }
      break;
    case ReplyShape::kUnit:
      if (!XmlToString(v).empty()) throw Error(ErrorKind::kBadRequest, "unit is not empty");
      break;
  }
}

// v2: ["Read_refs", RESULT...] on success, ["Dbcache_notfound", p1, ...] on
// failure. Key order matters (descending field names), hence ordered_json.
void DecodeV2(CallName name, const std::string& body, WireAnswer* out) {
  using J = nlohmann::ordered_json;
  J j = J::parse(body);
  std::string head = j.at(0).get<std::string>();
  if (head != rpc::Capitalized(rpc::WireName(name))) {
    out->failed = true;
    out->failure = Lower(head);
    for (size_t i = 1; i < j.size(); ++i) out->params.push_back(j[i].get<std::string>());
    return;
  }
  auto record = [](const J& fields, const J& setrefs) {
    Record r;
    for (const auto& [k, v] : fields.items()) r.fields.emplace_back(k, v.get<std::string>());
    for (const auto& [k, v] : setrefs.items())
      r.set_refs.emplace_back(k, v.get<std::vector<std::string>>());
    return r;
  };
  Reply& r = out->reply;
  switch (rpc::ReplyShapeOf(name)) {
    case ReplyShape::kOption: {
      auto s = j.at(1).get<std::vector<std::string>>();
      if (s.size() > 1) throw Error(ErrorKind::kBadRequest, "option of two");
      if (!s.empty()) r.option = s[0];
      break;
    }
    case ReplyShape::kFlag: r.flag = j.at(1).get<bool>(); break;
    case ReplyShape::kList: r.list = j.at(1).get<std::vector<std::string>>(); break;
    case ReplyShape::kText: r.text = j.at(1).get<std::string>(); break;
    case ReplyShape::kRecord: r.record = record(j.at(1), j.at(2)); break;
    case ReplyShape::kRecords:
      for (const auto& [ref, rec] : j.at(1).items())
        r.records.emplace_back(ref, record(rec.at(0), rec.at(1)));
      break;
    case ReplyShape::kUnit:
      if (!j.at(1).is_null()) throw Error(ErrorKind::kBadRequest, "unit is not null");
      break;
  }
}

// ---------------------------------------------------------------------------
// Assertions on answers.

std::string Describe(const WireAnswer& a) {
  return "status " + std::to_string(a.status) + ", body: " + a.body;
}

::testing::AssertionResult Succeeded(const WireAnswer& a) {
  if (a.status == 200 && !a.failed) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected success, got " << Describe(a);
}

// The failure `name` whose parameters start with `params` (all of them when
// `exact`; xapi's `_` leaves the rest unchecked).
::testing::AssertionResult FailedWith(const WireAnswer& a, const std::string& name,
                                      const std::vector<std::string>& params, bool exact = true) {
  bool ok = a.status == 200 && a.failed && a.failure == name &&
            (exact ? a.params == params
                   : a.params.size() >= params.size() &&
                         std::equal(params.begin(), params.end(), a.params.begin()));
  if (ok) return ::testing::AssertionSuccess();
  std::string want = name + "(";
  for (const auto& p : params) want += "\"" + p + "\",";
  want += exact ? ")" : "_)";
  return ::testing::AssertionFailure() << "expected failure " << want << ", got " << Describe(a);
}

::testing::AssertionResult MissingRow(const WireAnswer& a, const std::string& table,
                                      const std::string& ref) {
  return FailedWith(a, "dbcache_notfound", {"missing row", table, ref});
}
::testing::AssertionResult MissingTable(const WireAnswer& a, const std::string& table) {
  return FailedWith(a, "dbcache_notfound", {"missing table", table, ""});
}
::testing::AssertionResult MissingField(const WireAnswer& a, const std::string& field) {
  return FailedWith(a, "dbcache_notfound", {"missing field", field}, /*exact=*/false);
}
::testing::AssertionResult MissingUuid(const WireAnswer& a, const std::string& table,
                                       const std::string& uuid) {
  return FailedWith(a, "read_missing_uuid", {table, "", uuid});
}

// xapi's expect_* helpers: the named failure, or no failure at all.
::testing::AssertionResult SucceededOr(::testing::AssertionResult failure_check,
                                       const WireAnswer& a) {
  if (Succeeded(a)) return ::testing::AssertionSuccess();
  return failure_check;
}

std::vector<std::string> SetRefs(const Record& r, const std::string& field) {
  for (const auto& [name, refs] : r.set_refs)
    if (name == field) return refs;
  ADD_FAILURE() << "no set-ref entry " << field;
  return {};
}

bool HasField(const Record& r, const std::string& field) {
  for (const auto& [name, value] : r.fields)
    if (name == field) return true;
  return false;
}

FilterExpr Constant(bool value) {
  FilterExpr e;
  e.op = value ? FilterExpr::Op::kTrue : FilterExpr::Op::kFalse;
  return e;
}

// ---------------------------------------------------------------------------
// The server and a client that speaks v1 or v2.

enum class Wire { kV1, kV2 };

std::string WireLabel(const ::testing::TestParamInfo<Wire>& info) {
  return info.param == Wire::kV1 ? "v1" : "v2";
}

// The rows of xapi's sequence.
const FieldList kVm1 = {{"uuid", "uuid1"},
                        {"name__description", ""},
                        {"other_config", "()"},
                        {"tags", "()"},
                        {"name__label", "thevmname"}};
const FieldList kVbdWaz = {{"uuid", "whatever"}, {"VM", "ref1"}, {"type", "user"}};

class ScenarioTest : public ::testing::TestWithParam<Wire> {
 protected:
  void SetUp() override { StartServer(Schema::LoadFile(test::DataPath("vectors/fixture-schema.json"))); }
  void TearDown() override {
    conn_.reset();
    server_.reset();
  }

  void StartServer(std::shared_ptr<const Schema> schema) {
    conn_.reset();
    server_.reset();
    store_.reset();
    StoreOptions so;
    so.path = dir_ / ("repo" + std::to_string(generation_++));
    so.fsync = false;
    store_ = Store::Create(so, std::move(schema));
    server::ServerOptions o;
    o.unix_socket = dir_ / ("db" + std::to_string(generation_) + ".sock");
    socket_ = o.unix_socket;
    server_ = std::make_unique<server::HttpServer>(
        o, server::Synchronous([this](const server::Request& r) {
          std::lock_guard<std::mutex> lock(mu_);
          return rpc::Dispatcher::HandleOn(store_->db(), r.version, r.body);
        }));
    server_->Start();
  }

  // Sends one call as xapi's client would (framed), decodes the answer. A
  // 500 closes the connection (spec 1.6), so the next call reconnects.
  WireAnswer Send(const Call& call) {
    bool v1 = GetParam() == Wire::kV1;
    if (!conn_) conn_ = std::make_unique<Connection>(Connection::Unix(socket_));
    Answer raw = conn_->Call(v1 ? "/remote_db_access" : "/post_remote_db_access_v2",
                             v1 ? rpc::EncodeV1Request(call) : rpc::EncodeV2Request(call));
    WireAnswer a;
    a.status = raw.status;
    a.body = raw.body;
    if (raw.status != 200) {
      // Spec 1.6: "500 Internal Error", connection: close, an HTML body.
      EXPECT_NE(std::string::npos, raw.raw.find("connection: close\r\n")) << raw.raw;
      EXPECT_NE(std::string::npos, raw.raw.find("content-type: text/html\r\n")) << raw.raw;
      EXPECT_TRUE(conn_->ClosedWithin(2000)) << "a 500 must close the connection";
      conn_.reset();
      return a;
    }
    if (v1) DecodeV1(call.name, raw.body, &a);
    else DecodeV2(call.name, raw.body, &a);
    return a;
  }

  WireAnswer Strings(CallName name, std::vector<std::string> args) {
    Call c;
    c.name = name;
    c.args = std::move(args);
    return Send(c);
  }
  WireAnswer GetTableFromRef(const std::string& ref) {
    return Strings(CallName::kGetTableFromRef, {ref});
  }
  WireAnswer IsValidRef(const std::string& ref) { return Strings(CallName::kIsValidRef, {ref}); }
  WireAnswer ReadRefs(const std::string& t) { return Strings(CallName::kReadRefs, {t}); }
  WireAnswer DeleteRow(const std::string& t, const std::string& ref) {
    return Strings(CallName::kDeleteRow, {t, ref});
  }
  WireAnswer CreateRow(const std::string& t, const FieldList& fields, const std::string& ref) {
    Call c;
    c.name = CallName::kCreateRow;
    c.args = {t, ref};
    c.fields = fields;
    return Send(c);
  }
  WireAnswer ReadField(const std::string& t, const std::string& field, const std::string& ref) {
    return Strings(CallName::kReadField, {t, field, ref});
  }
  WireAnswer WriteField(const std::string& t, const std::string& ref, const std::string& field,
                        const std::string& value) {
    return Strings(CallName::kWriteField, {t, ref, field, value});
  }
  WireAnswer ReadRecord(const std::string& t, const std::string& ref) {
    return Strings(CallName::kReadRecord, {t, ref});
  }
  WireAnswer GetByUuid(const std::string& t, const std::string& uuid) {
    return Strings(CallName::kDbGetByUuid, {t, uuid});
  }
  WireAnswer GetByUuidOpt(const std::string& t, const std::string& uuid) {
    return Strings(CallName::kDbGetByUuidOpt, {t, uuid});
  }
  WireAnswer ReadFieldWhere(const std::string& t, const std::string& ret,
                            const std::string& where_field, const std::string& where_value) {
    return Strings(CallName::kReadFieldWhere, {t, ret, where_field, where_value});
  }
  WireAnswer WithFilter(CallName name, const std::string& t, const FilterExpr& e) {
    Call c;
    c.name = name;
    c.args = {t};
    c.expr = e;
    return Send(c);
  }
  WireAnswer Structured(const std::string& key, const std::string& value, const std::string& t,
                        const std::string& field, const std::string& ref, StructuredOp op) {
    Call c;
    c.name = CallName::kProcessStructuredField;
    c.args = {key, value, t, field, ref};
    c.op = op;
    return Send(c);
  }

  // The state xapi's sequence has after scenario 7: VM ref1 (uuid1).
  void CreateVm1() { ASSERT_TRUE(Succeeded(CreateRow("VM", kVm1, "ref1"))); }
  // After scenario 22: VBD waz of VM ref1.
  void CreateVbdWaz() { ASSERT_TRUE(Succeeded(CreateRow("VBD", kVbdWaz, "waz"))); }
  std::string FieldOf(const std::string& t, const std::string& field, const std::string& ref) {
    WireAnswer a = ReadField(t, field, ref);
    EXPECT_TRUE(Succeeded(a));
    return a.reply.text;
  }
  std::vector<std::string> VbdsOfRef1() {
    WireAnswer a = ReadRecord("VM", "ref1");
    EXPECT_TRUE(Succeeded(a));
    return SetRefs(a.reply.record, "VBDs");
  }

  // check_many_to_many on foo:1 and bar:1; returns foo:1.bars once bar:1
  // is deleted.
  std::string RunCheckManyToMany() {
    EXPECT_TRUE(Succeeded(CreateRow("foo", {}, "foo:1")));
    EXPECT_TRUE(Succeeded(CreateRow("bar", {}, "bar:1")));
    EXPECT_TRUE(Succeeded(WriteField("foo", "foo:1", "bars", "('bar:1')")));
    EXPECT_EQ("('foo:1')", FieldOf("bar", "foos", "bar:1"));
    EXPECT_TRUE(Succeeded(WriteField("foo", "foo:1", "bars", "()")));
    EXPECT_EQ("()", FieldOf("bar", "foos", "bar:1"));
    EXPECT_TRUE(Succeeded(WriteField("foo", "foo:1", "bars", "('bar:1')")));
    EXPECT_EQ("('foo:1')", FieldOf("bar", "foos", "bar:1"));
    EXPECT_TRUE(Succeeded(DeleteRow("bar", "bar:1")));
    EXPECT_FALSE(IsValidRef("bar:1").reply.flag);
    return FieldOf("foo", "bars", "foo:1");
  }

  test::TempDir dir_;
  int generation_ = 0;
  std::string socket_;
  std::mutex mu_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<server::HttpServer> server_;
  std::unique_ptr<Connection> conn_;
};

INSTANTIATE_TEST_SUITE_P(Wire, ScenarioTest, ::testing::Values(Wire::kV1, Wire::kV2), WireLabel);

// ---------------------------------------------------------------------------
// The scenarios, numbered as in spec section 5.

// xapi's Test_schemas.many_to_many: foo.bars <-> bar.foos, registered from
// BOTH tables (its ForeignMap has an entry under "foo" and one under "bar"),
// so either end drives the other. Our top-level "many_to_many" list cannot say
// that (see the second test below), but per-column relations can: each end is
// declared a primary pointing at the other.
constexpr char kManyToManySchema[] = R"JSON({
  "schema_major_vsn": 1, "schema_minor_vsn": 1,
  "tables": [
    {"name": "foo", "persistent": true, "columns": [
      {"name": "_ref", "type": "String", "persistent": true, "default": null, "empty": ""},
      {"name": "bars", "type": "Set", "persistent": true, "default": "()", "empty": "()",
       "relation": {"side": "m2m_primary", "table": "bar", "field": "foos"}}]},
    {"name": "bar", "persistent": true, "columns": [
      {"name": "_ref", "type": "String", "persistent": true, "default": null, "empty": ""},
      {"name": "foos", "type": "Set", "persistent": true, "default": "()", "empty": "()",
       "relation": {"side": "m2m_primary", "table": "foo", "field": "bars"}}]}
  ]
})JSON";

// The same tables with the relation given the documented top-level way,
// both directions listed as xapi registers them.
constexpr char kManyToManyListSchema[] = R"JSON({
  "schema_major_vsn": 1, "schema_minor_vsn": 1,
  "tables": [
    {"name": "foo", "persistent": true, "columns": [
      {"name": "_ref", "type": "String", "persistent": true, "default": null, "empty": ""},
      {"name": "bars", "type": "Set", "persistent": true, "default": "()", "empty": "()"}]},
    {"name": "bar", "persistent": true, "columns": [
      {"name": "_ref", "type": "String", "persistent": true, "default": null, "empty": ""},
      {"name": "foos", "type": "Set", "persistent": true, "default": "()", "empty": "()"}]}
  ],
  "one_to_many": [],
  "many_to_many": [
    {"table": "foo", "field": "bars", "other_table": "bar", "other_field": "foos"},
    {"table": "bar", "field": "foos", "other_table": "foo", "other_field": "bars"}
  ]
})JSON";


TEST_P(ScenarioTest, Scenario01_ManyToManySetsMirrorEachOtherAndDeleteClearsTheOtherEnd) {
  StartServer(Schema::FromJson(kManyToManySchema));
  EXPECT_EQ("()", RunCheckManyToMany());
}

// xapi's test schema registers the relation from both tables: listed both
// ways, each end drives the other, so deleting bar:1 also clears foo.bars.
TEST_P(ScenarioTest, Scenario01_TopLevelManyToManyListWithBothDirectionsDeleteOfBarClearsFooBars) {
  StartServer(Schema::FromJson(kManyToManyListSchema));
  EXPECT_EQ("()", RunCheckManyToMany());
}

TEST_P(ScenarioTest, Scenario02_CleanUpDeleteRowIsMissingRowOrSuccess) {
  // On an empty database: "missing row" (xapi also accepts success).
  WireAnswer vm = DeleteRow("VM", "ref1");
  EXPECT_TRUE(SucceededOr(MissingRow(vm, "VM", "ref1"), vm));
  WireAnswer vbd = DeleteRow("VBD", "waz");
  EXPECT_TRUE(SucceededOr(MissingRow(vbd, "VBD", "waz"), vbd));
  // Left over from an earlier run: the clean-up removes them.
  CreateVm1();
  CreateVbdWaz();
  EXPECT_TRUE(Succeeded(DeleteRow("VM", "ref1")));
  EXPECT_TRUE(Succeeded(DeleteRow("VBD", "waz")));
  EXPECT_FALSE(IsValidRef("ref1").reply.flag);
  EXPECT_FALSE(IsValidRef("waz").reply.flag);
}

TEST_P(ScenarioTest, Scenario03_UnknownRefHasNoTableAndIsNotValid) {
  CreateVm1();
  WireAnswer t = GetTableFromRef("foo");
  ASSERT_TRUE(Succeeded(t));
  EXPECT_EQ(std::nullopt, t.reply.option);
  WireAnswer v = IsValidRef("foo");
  ASSERT_TRUE(Succeeded(v));
  EXPECT_FALSE(v.reply.flag);
}

TEST_P(ScenarioTest, Scenario04_ReadRefsOfKnownTableSucceedsOfMisspeltTableIsMissingTable) {
  WireAnswer a = ReadRefs("VM");
  ASSERT_TRUE(Succeeded(a));
  EXPECT_TRUE(a.reply.list.empty());
  EXPECT_TRUE(MissingTable(ReadRefs("Vm"), "Vm"));
}

TEST_P(ScenarioTest, Scenario05_DeleteRowOfUnknownRefMustFailMissingRow) {
  CreateVm1();
  EXPECT_TRUE(MissingRow(DeleteRow("VM", "foo"), "VM", "foo"));
  EXPECT_TRUE(IsValidRef("ref1").reply.flag);
}

TEST_P(ScenarioTest, Scenario06_CreateRowWithoutNameLabelMustFailMissingDefault) {
  FieldList fields = {{"uuid", "uuid1"}, {"name__description", ""}, {"other_config", "()"},
                      {"tags", "()"}};
  EXPECT_TRUE(FailedWith(CreateRow("VM", fields, "ref1"), "dbcache_notfound",
                         {"missing default value in datamodel for new field", "name__label"},
                         /*exact=*/false));
  EXPECT_FALSE(IsValidRef("ref1").reply.flag);
  EXPECT_TRUE(MissingUuid(GetByUuid("VM", "uuid1"), "VM", "uuid1"));
}

TEST_P(ScenarioTest, Scenario07_CreateRowMakesTheRowValidAndListed) {
  CreateVm1();
  EXPECT_TRUE(IsValidRef("ref1").reply.flag);
  EXPECT_EQ(std::optional<std::string>("VM"), GetTableFromRef("ref1").reply.option);
  std::vector<std::string> refs = ReadRefs("VM").reply.list;
  EXPECT_NE(refs.end(), std::find(refs.begin(), refs.end(), "ref1"));
}

TEST_P(ScenarioTest, Scenario08_IdenticalCreateRowAgainIsIdempotentSuccess) {
  CreateVm1();
  EXPECT_TRUE(Succeeded(CreateRow("VM", kVm1, "ref1")));
  EXPECT_EQ(std::vector<std::string>{"ref1"}, ReadRefs("VM").reply.list);
  EXPECT_EQ("thevmname", FieldOf("VM", "name__label", "ref1"));
}

TEST_P(ScenarioTest, Scenario09_CreateRowOfExistingRefWithOtherUuidIsHttp500AndChangesNothing) {
  CreateVm1();
  FieldList changed = kVm1;
  changed[0].second = "uuid1unique";
  // Integrity_violation("VM","uuid","uuid1") has no wire encoding: 500.
  WireAnswer a = CreateRow("VM", changed, "ref1");
  EXPECT_EQ(500, a.status) << a.body;
  EXPECT_EQ("uuid1", FieldOf("VM", "uuid", "ref1"));
  EXPECT_EQ("ref1", GetByUuid("VM", "uuid1").reply.text);
  EXPECT_TRUE(MissingUuid(GetByUuid("VM", "uuid1unique"), "VM", "uuid1unique"));
  EXPECT_EQ(std::vector<std::string>{"ref1"}, ReadRefs("VM").reply.list);
}

TEST_P(ScenarioTest, Scenario10_CreateRowOfNewRefWithUsedUuidMustFailUniqueness) {
  CreateVm1();
  EXPECT_TRUE(FailedWith(CreateRow("VM", kVm1, "ref1unique"), "uniqueness_constraint_violation",
                         {"VM", "uuid", "uuid1"}));
  EXPECT_FALSE(IsValidRef("ref1unique").reply.flag);
  EXPECT_EQ("ref1", GetByUuid("VM", "uuid1").reply.text);
}

TEST_P(ScenarioTest, Scenario11_DbGetByUuidFindsRefAndUnknownUuidIsReadMissingUuid) {
  CreateVm1();
  WireAnswer a = GetByUuid("VM", "uuid1");
  ASSERT_TRUE(Succeeded(a));
  EXPECT_EQ("ref1", a.reply.text);
  EXPECT_TRUE(MissingUuid(GetByUuid("VM", "bar"), "VM", "bar"));
}

TEST_P(ScenarioTest, Scenario12_DbGetByUuidOptGivesSomeRefOrNone) {
  CreateVm1();
  WireAnswer some = GetByUuidOpt("VM", "uuid1");
  ASSERT_TRUE(Succeeded(some));
  EXPECT_EQ(std::optional<std::string>("ref1"), some.reply.option);
  WireAnswer none = GetByUuidOpt("VM", "bar");
  ASSERT_TRUE(Succeeded(none));
  EXPECT_EQ(std::nullopt, none.reply.option);
}

TEST_P(ScenarioTest, Scenario13_DbGetByNameLabelListsMatchingRefsOnly) {
  CreateVm1();
  WireAnswer none = Strings(CallName::kDbGetByNameLabel, {"VM", "notavmname"});
  ASSERT_TRUE(Succeeded(none));
  EXPECT_TRUE(none.reply.list.empty());
  WireAnswer one = Strings(CallName::kDbGetByNameLabel, {"VM", "thevmname"});
  ASSERT_TRUE(Succeeded(one));
  EXPECT_EQ(std::vector<std::string>{"ref1"}, one.reply.list);
}

TEST_P(ScenarioTest, Scenario14_ReadFieldGivesStoredTextAndSchemaDefault) {
  CreateVm1();
  EXPECT_EQ("thevmname", FieldOf("VM", "name__label", "ref1"));
  EXPECT_EQ("OpaqueRef:NULL", FieldOf("VM", "protection_policy", "ref1"));
}

TEST_P(ScenarioTest, Scenario15_ReadFieldFailuresCheckTheRowBeforeTheField) {
  CreateVm1();
  EXPECT_TRUE(MissingRow(ReadField("VM", "name__label", "foo"), "VM", "foo"));
  EXPECT_TRUE(MissingField(ReadField("VM", "name_label", "ref1"), "name_label"));
  EXPECT_TRUE(MissingRow(ReadField("VM", "name_label", "foo"), "VM", "foo"));
}

TEST_P(ScenarioTest, Scenario16_ReadFieldWhereReturnsTheMatchingRowsField) {
  CreateVm1();
  WireAnswer a = ReadFieldWhere("VM", "name__label", "uuid", "uuid1");
  ASSERT_TRUE(Succeeded(a));
  EXPECT_EQ(std::vector<std::string>{"thevmname"}, a.reply.list);
}

TEST_P(ScenarioTest, Scenario17_ReadFieldWhereFailsOnMissingTableReturnOrWhereField) {
  CreateVm1();
  EXPECT_TRUE(MissingTable(ReadFieldWhere("Vm", "name__label", "uuid", "uuid1"), "Vm"));
  EXPECT_TRUE(MissingField(ReadFieldWhere("VM", "wibble", "name__label", "thevmname"), "wibble"));
  EXPECT_TRUE(MissingField(ReadFieldWhere("VM", "name__label", "wibble", ""), "wibble"));
}

TEST_P(ScenarioTest, Scenario18_WritingTheUuidMovesTheUuidIndex) {
  CreateVm1();
  EXPECT_TRUE(MissingUuid(GetByUuid("VM", "uuid2"), "VM", "uuid2"));
  ASSERT_TRUE(Succeeded(WriteField("VM", "ref1", "uuid", "uuid2")));
  WireAnswer a = GetByUuid("VM", "uuid2");
  ASSERT_TRUE(Succeeded(a));
  EXPECT_EQ("ref1", a.reply.text);
  EXPECT_EQ(std::optional<std::string>("ref1"), GetByUuidOpt("VM", "uuid2").reply.option);
  EXPECT_TRUE(MissingUuid(GetByUuid("VM", "uuid1"), "VM", "uuid1"));
}

TEST_P(ScenarioTest, Scenario19_WriteFieldFailsOnMissingTableRowOrColumnThenWritesSucceed) {
  CreateVm1();
  EXPECT_TRUE(MissingTable(WriteField("Vm", "", "", ""), "Vm"));
  EXPECT_TRUE(MissingRow(WriteField("VM", "foo", "name__label", ""), "VM", "foo"));
  EXPECT_TRUE(FailedWith(WriteField("VM", "ref1", "wibble", ""), "dbcache_notfound",
                         {"missing column", "VM", "wibble"}));
  EXPECT_TRUE(Succeeded(WriteField("VM", "ref1", "name__description", "description")));
  EXPECT_TRUE(Succeeded(WriteField("VM", "ref1", "name__label", "newlabel")));
  EXPECT_EQ("description", FieldOf("VM", "name__description", "ref1"));
  EXPECT_EQ("newlabel", FieldOf("VM", "name__label", "ref1"));
  EXPECT_FALSE(IsValidRef("foo").reply.flag);
}

TEST_P(ScenarioTest, Scenario20_ReadRecordFailsOnMissingTableOrRow) {
  CreateVm1();
  EXPECT_TRUE(MissingTable(ReadRecord("Vm", "foo"), "Vm"));
  EXPECT_TRUE(MissingRow(ReadRecord("VM", "foo"), "VM", "foo"));
}

TEST_P(ScenarioTest, Scenario21_ReadRecordHasNameLabelAndEmptyVbdsSetRefs) {
  CreateVm1();
  WireAnswer a = ReadRecord("VM", "ref1");
  ASSERT_TRUE(Succeeded(a));
  EXPECT_TRUE(HasField(a.reply.record, "name__label"));
  EXPECT_TRUE(SetRefs(a.reply.record, "VBDs").empty());
}

TEST_P(ScenarioTest, Scenario22_CreatingAVbdAddsItToItsVmsVbds) {
  CreateVm1();
  CreateVbdWaz();
  EXPECT_EQ(std::vector<std::string>{"waz"}, VbdsOfRef1());
}

TEST_P(ScenarioTest, Scenario23_DeletingTheVbdEmptiesVbdsAndRecreatingRefillsIt) {
  CreateVm1();
  CreateVbdWaz();
  ASSERT_TRUE(Succeeded(DeleteRow("VBD", "waz")));
  EXPECT_TRUE(VbdsOfRef1().empty());
  CreateVbdWaz();
  EXPECT_FALSE(VbdsOfRef1().empty());
}

TEST_P(ScenarioTest, Scenario24_PointingTheVbdElsewhereRemovesItFromVbds) {
  CreateVm1();
  CreateVbdWaz();
  ASSERT_TRUE(Succeeded(WriteField("VBD", "waz", "VM", "overwritten")));
  EXPECT_TRUE(VbdsOfRef1().empty());
  EXPECT_EQ("overwritten", FieldOf("VBD", "VM", "waz"));
}

TEST_P(ScenarioTest, Scenario25_ReadRecordsWhereTrueGivesTheOneRowFalseNone) {
  CreateVm1();
  EXPECT_TRUE(MissingTable(WithFilter(CallName::kReadRecordsWhere, "Vm", Constant(true)), "Vm"));
  WireAnswer all = WithFilter(CallName::kReadRecordsWhere, "VM", Constant(true));
  ASSERT_TRUE(Succeeded(all));
  ASSERT_EQ(1u, all.reply.records.size());
  EXPECT_EQ("ref1", all.reply.records[0].first);
  EXPECT_TRUE(HasField(all.reply.records[0].second, "name__label"));
  WireAnswer none = WithFilter(CallName::kReadRecordsWhere, "VM", Constant(false));
  ASSERT_TRUE(Succeeded(none));
  EXPECT_TRUE(none.reply.records.empty());
}

TEST_P(ScenarioTest, Scenario26_FindRefsWithFilterTrueGivesTheOneRefFalseNone) {
  CreateVm1();
  EXPECT_TRUE(MissingTable(WithFilter(CallName::kFindRefsWithFilter, "Vm", Constant(true)), "Vm"));
  WireAnswer all = WithFilter(CallName::kFindRefsWithFilter, "VM", Constant(true));
  ASSERT_TRUE(Succeeded(all));
  EXPECT_EQ(std::vector<std::string>{"ref1"}, all.reply.list);
  WireAnswer none = WithFilter(CallName::kFindRefsWithFilter, "VM", Constant(false));
  ASSERT_TRUE(Succeeded(none));
  EXPECT_TRUE(none.reply.list.empty());
}

TEST_P(ScenarioTest, Scenario27_ProcessStructuredFieldFailsOnMissingTableFieldOrRow) {
  CreateVm1();
  EXPECT_TRUE(MissingTable(Structured("", "", "Vm", "wibble", "foo", StructuredOp::kAddSet), "Vm"));
  EXPECT_TRUE(MissingField(Structured("", "", "VM", "wibble", "ref1", StructuredOp::kAddSet),
                           "wibble"));
  EXPECT_TRUE(MissingRow(Structured("", "", "VM", "name__label", "foo", StructuredOp::kAddSet),
                         "VM", "foo"));
  EXPECT_EQ("thevmname", FieldOf("VM", "name__label", "ref1"));
}

TEST_P(ScenarioTest, Scenario28_AddSetAddsOnceAndIsIdempotent) {
  CreateVm1();
  ASSERT_TRUE(Succeeded(Structured("foo", "", "VM", "tags", "ref1", StructuredOp::kAddSet)));
  EXPECT_EQ("('foo')", FieldOf("VM", "tags", "ref1"));
  ASSERT_TRUE(Succeeded(Structured("foo", "", "VM", "tags", "ref1", StructuredOp::kAddSet)));
  EXPECT_EQ("('foo')", FieldOf("VM", "tags", "ref1"));
}

TEST_P(ScenarioTest, Scenario29_AddMapTwiceKeepsOnePairSecondIsSuccessOrDuplicateKey) {
  CreateVm1();
  ASSERT_TRUE(Succeeded(Structured("foo", "bar", "VM", "other_config", "ref1", StructuredOp::kAddMap)));
  EXPECT_EQ("(('foo' 'bar'))", FieldOf("VM", "other_config", "ref1"));
  WireAnswer again = Structured("foo", "bar", "VM", "other_config", "ref1", StructuredOp::kAddMap);
  EXPECT_TRUE(SucceededOr(
      FailedWith(again, "duplicate_key_of", {"VM", "other_config", "ref1", "foo"}), again));
  EXPECT_EQ("(('foo' 'bar'))", FieldOf("VM", "other_config", "ref1"));
}

TEST_P(ScenarioTest, Scenario31_PerformanceSequenceReducedAsSmokeTest) {
  constexpr int kChecks = 500, kVbds = 300, kMixed = 300;
  CreateVm1();
  for (int i = 0; i < kChecks; ++i) {
    WireAnswer a = IsValidRef(i % 2 ? "ref1" : "waz:" + std::to_string(i));
    ASSERT_TRUE(Succeeded(a));
    ASSERT_EQ(i % 2 == 1, a.reply.flag) << i;
  }
  for (int i = 0; i < kVbds; ++i) {
    std::string ref = "waz:" + std::to_string(i);
    WireAnswer a = DeleteRow("VBD", ref);
    ASSERT_TRUE(SucceededOr(MissingRow(a, "VBD", ref), a));
  }
  EXPECT_TRUE(MissingRow(DeleteRow("VBD", "waz"), "VBD", "waz"));
  // VM "foo" is no row: an unknown ref, which create_row accepts.
  for (int i = 0; i < kVbds; ++i) {
    std::string n = std::to_string(i);
    ASSERT_TRUE(Succeeded(
        CreateRow("VBD", {{"uuid", "uuid:" + n}, {"VM", "foo"}, {"type", "user"}}, "waz:" + n)));
  }
  for (int i = 0; i < kMixed; ++i) {
    std::string n = std::to_string(i);
    ASSERT_TRUE(Succeeded(
        CreateRow("VBD", {{"uuid", "mix:" + n}, {"VM", "ref1"}, {"type", "user"}}, "mix:" + n)));
    WireAnswer r = ReadRecord("VBD", "waz:" + std::to_string(i % kVbds));
    ASSERT_TRUE(Succeeded(r));
    ASSERT_TRUE(Succeeded(DeleteRow("VBD", "mix:" + n)));
  }
  EXPECT_EQ(static_cast<size_t>(kVbds), ReadRefs("VBD").reply.list.size());
  EXPECT_EQ(std::nullopt, GetTableFromRef("foo").reply.option);
  EXPECT_EQ("foo", FieldOf("VBD", "VM", "waz:7"));
  EXPECT_TRUE(VbdsOfRef1().empty());
}

TEST_P(ScenarioTest, Scenario32_DeletingTheVmFreesBothUuids) {
  CreateVm1();
  ASSERT_TRUE(Succeeded(WriteField("VM", "ref1", "uuid", "uuid2")));
  ASSERT_TRUE(Succeeded(DeleteRow("VM", "ref1")));
  EXPECT_TRUE(MissingUuid(GetByUuid("VM", "uuid2"), "VM", "uuid2"));
  EXPECT_TRUE(MissingUuid(GetByUuid("VM", "uuid1"), "VM", "uuid1"));
  WireAnswer opt2 = GetByUuidOpt("VM", "uuid2");
  ASSERT_TRUE(Succeeded(opt2));
  EXPECT_EQ(std::nullopt, opt2.reply.option);
  WireAnswer opt1 = GetByUuidOpt("VM", "uuid1");
  ASSERT_TRUE(Succeeded(opt1));
  EXPECT_EQ(std::nullopt, opt1.reply.option);
  EXPECT_FALSE(IsValidRef("ref1").reply.flag);
}

// ---------------------------------------------------------------------------
// Scenario 30 looks at xapi's generation stamps in-process; nothing of it is
// on the wire (events are served by our own calls, tests/event_test.cc). The
// same facts are checked here in-process on the image: a Clone() taken at a
// "generation" and ChangedSince(clone) stand for xapi's stamps, judging every
// column, the non-persistent VBDs included.

class EventScenarioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions so;
    so.path = dir_ / "repo";
    so.fsync = false;
    store_ = Store::Create(so, Schema::LoadFile(test::DataPath("vectors/fixture-schema.json")));
  }
  Database& db() { return store_->db(); }

  // The row `ref` of `table` as ChangedSince reports it, if it does.
  static const RowDelta* Find(const std::vector<RowDelta>& d, const std::string& table,
                              const std::string& ref) {
    for (const RowDelta& r : d)
      if (r.table->name == table && r.ref == ref) return &r;
    return nullptr;
  }
  // Whether `field` of `table`/`ref` differs between `since` and now.
  bool FieldChanged(const Database& since, const std::string& table, const std::string& ref,
                    const std::string& field) {
    return since.ReadField(table, field, ref) != db().ReadField(table, field, ref);
  }

  test::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(EventScenarioTest, Scenario30_ChangesSinceAGenerationAsXapisCheckEvents) {
  const FieldList vm = {{"uuid", "vmuuid"}, {"name__description", ""}, {"other_config", "()"},
                        {"tags", "()"}, {"name__label", "a"}};
  const FieldList vbd = {{"uuid", "vbduuid"}, {"VM", "vmref"}, {"type", "user"}};

  auto g = db().Clone();
  db().CreateRow("VM", vm, "vmref");
  const RowDelta* created = Find(db().ChangedSince(*g), "VM", "vmref");
  ASSERT_NE(nullptr, created) << "created VM not reported";
  EXPECT_FALSE(created->in_base);
  EXPECT_TRUE(created->exists);

  g = db().Clone();
  db().WriteField("VM", "vmref", "name__label", "b");
  const RowDelta* written = Find(db().ChangedSince(*g), "VM", "vmref");
  ASSERT_NE(nullptr, written) << "name__label write not reported";
  EXPECT_TRUE(written->in_base && written->exists);
  EXPECT_TRUE(FieldChanged(*g, "VM", "vmref", "name__label"));

  g = db().Clone();
  db().CreateRow("VBD", vbd, "vbdref");
  EXPECT_NE(nullptr, Find(db().ChangedSince(*g), "VM", "vmref"));
  EXPECT_TRUE(FieldChanged(*g, "VM", "vmref", "VBDs"));

  g = db().Clone();
  db().WriteField("VBD", "vbdref", "VM", "moo");
  EXPECT_NE(nullptr, Find(db().ChangedSince(*g), "VM", "vmref"));
  EXPECT_TRUE(FieldChanged(*g, "VM", "vmref", "VBDs"));

  g = db().Clone();
  db().WriteField("VBD", "vbdref", "type", "Banana");
  EXPECT_EQ(nullptr, Find(db().ChangedSince(*g), "VM", "vmref"));
  EXPECT_FALSE(FieldChanged(*g, "VM", "vmref", "VBDs"));

  g = db().Clone();
  db().DeleteRow("VBD", "vbdref");
  const RowDelta* deleted = Find(db().ChangedSince(*g), "VBD", "vbdref");
  ASSERT_NE(nullptr, deleted) << "deleted VBD not reported";
  EXPECT_TRUE(deleted->in_base);
  EXPECT_FALSE(deleted->exists);

  // Created and deleted after the generation: not reported as deleted.
  g = db().Clone();
  db().CreateRow("VBD", vbd, "vbdref");
  db().DeleteRow("VBD", "vbdref");
  EXPECT_EQ(nullptr, Find(db().ChangedSince(*g), "VBD", "vbdref"));

  // Deleted after the generation, then another row created and deleted:
  // the first deletion is not masked.
  db().CreateRow("VBD", vbd, "vbdref");
  g = db().Clone();
  db().DeleteRow("VBD", "vbdref");
  db().CreateRow("VBD", {{"uuid", "vbduuid2"}, {"VM", "vmref"}, {"type", "user"}}, "vbdref2");
  db().DeleteRow("VBD", "vbdref2");
  std::vector<RowDelta> d = db().ChangedSince(*g);
  const RowDelta* still = Find(d, "VBD", "vbdref");
  ASSERT_NE(nullptr, still) << "deleted VBD masked by a later create/delete";
  EXPECT_TRUE(still->in_base && !still->exists);
  EXPECT_EQ(nullptr, Find(d, "VBD", "vbdref2"));
}

}  // namespace
}  // namespace xgdb
