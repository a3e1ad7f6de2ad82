// The wire side of tests/scenario_test.cc: a server on a unix socket over a
// Store, a client that sends requests the way xapi's client builds them (v1
// and v2), and a decoder of answers written from the spec's answer shapes,
// independent of the server's reply encoder. Included by that one file only.
#ifndef XGDB_TESTS_SCENARIO_WIRE_H_
#define XGDB_TESTS_SCENARIO_WIRE_H_

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


}  // namespace
}  // namespace xgdb

#endif  // XGDB_TESTS_SCENARIO_WIRE_H_
