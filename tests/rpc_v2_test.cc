// v2 (JSON) layer: yojson's reading and printing (spec 3.2), rpclib's
// decoding rules (3.3: case-insensitive names, records, arity), requests and
// replies (3.4, 3.5), failures.
#include <gtest/gtest.h>

#include "rpc/call.h"
#include "rpc/error_codec.h"
#include "rpc/json_value.h"
#include "rpc/v2_codec.h"
#include "support/vectors.h"
#include "xgdb/error.h"

namespace xgdb::rpc {
namespace {

bool Refused(const std::string& body) {
  try {
    DecodeV2Request(body);
  } catch (const Error& e) {
    return e.kind() == ErrorKind::kBadRequest;
  }
  return false;
}

std::string ArgOf(const std::string& json_string) {
  return DecodeV2Request("[\"Read_refs\"," + json_string + "]").args.at(0);
}

TEST(JsonDialect, StringEscapesDecode) {
  EXPECT_EQ(ArgOf(R"("a\"b\\c\/d\b\f\n\r\t")"), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(ArgOf(R"("\u0041\u00e9\u20AC")"), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(ArgOf(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");  // surrogate pair
  EXPECT_EQ(ArgOf(R"("a\u0001b")"), "a\x01" "b");  // the database refuses it later
  // Raw bytes are kept as they are, even invalid UTF-8 and control bytes.
  EXPECT_EQ(ArgOf("\"caf\xC3\xA9 \xFF\x01\""), "caf\xC3\xA9 \xFF\x01");
}

TEST(JsonDialect, WhitespaceAndCommentsAccepted) {
  Call c = DecodeV2Request(" \t\r\n[ \"Read_refs\" /* c */ , // line\n \"VM\" ] \n");
  EXPECT_EQ(c.args.at(0), "VM");
}

TEST(JsonDialect, MalformedJsonRefused) {
  EXPECT_TRUE(Refused(""));
  EXPECT_TRUE(Refused("   "));
  EXPECT_TRUE(Refused("[\"Read_refs\",\"VM\"] x"));
  EXPECT_TRUE(Refused("[\"Read_refs\",\"VM\""));
  EXPECT_TRUE(Refused("[\"Read_refs\",\"VM\",]"));
  EXPECT_TRUE(Refused("[\"Read_refs\",'VM']"));
  EXPECT_TRUE(Refused(R"(["Read_refs","\x41"])"));
  EXPECT_TRUE(Refused(R"(["Read_refs","\u12"])"));
  EXPECT_TRUE(Refused(R"(["Read_refs","\ud83d"])"));       // lone high surrogate
  EXPECT_TRUE(Refused(R"(["Read_refs","\ud83d\u0041"])"));
  EXPECT_TRUE(Refused("[\"Read_refs\",\"VM\"]/* open"));
  std::string deep(100000, '[');
  EXPECT_TRUE(Refused(deep));
}

TEST(JsonPrinter, PrintsLikeYojson) {
  JsonWriter w;
  w.BeginArray();
  w.String("\"\\/\b\f\n\r\t\x01\x1b\x1f\x7f caf\xC3\xA9 \xFF");
  w.Null();
  w.Bool(true);
  w.BeginObject();
  w.EndObject();
  w.BeginObject();
  w.Key("k");
  w.BeginArray();
  w.EndArray();
  w.Key("k");
  w.String("");
  w.EndObject();
  w.EndArray();
  EXPECT_EQ(w.Take(),
            "[\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001b\\u001f\\u007f caf\xC3\xA9 \xFF\","
            "null,true,{},{\"k\":[],\"k\":\"\"}]");
}

TEST(V2Requests, NamesAreCaseInsensitive) {
  EXPECT_EQ(DecodeV2Request(R"(["get_table_from_ref","r"])").name, CallName::kGetTableFromRef);
  EXPECT_EQ(DecodeV2Request(R"(["IS_VALID_REF","r"])").name, CallName::kIsValidRef);
  Call c = DecodeV2Request(
      R"(["PROCESS_STRUCTURED_FIELD",["x",""],"VM","tags","OpaqueRef:vm2","addset"])");
  EXPECT_EQ(c.op, StructuredOp::kAddSet);
  c = DecodeV2Request(R"(["Find_refs_with_filter","VM",["NOT",["eQ",["FIELD","a"],["literal","b"]]]])");
  EXPECT_EQ(c.expr.op, FilterExpr::Op::kNot);
  EXPECT_TRUE(c.expr.children.at(0).lhs.is_field);
  EXPECT_EQ(DecodeV2Request(R"(["Read_records_where","VM","tRuE"])").expr.op,
            FilterExpr::Op::kTrue);
}

TEST(V2Requests, AddMapLegacyIsAcceptedOnInput) {
  Call c = DecodeV2Request(
      R"(["Process_structured_field",["k","v"],"VM","other_config","OpaqueRef:vm1","AddMapLegacy"])");
  EXPECT_EQ(c.op, StructuredOp::kAddMapLegacy);
  // ... but our client, like xapi's, sends it as AddMap.
  EXPECT_NE(EncodeV2Request(c).find("\"AddMap\"]"), std::string::npos);
}

TEST(V2Requests, WhereRecordKeys) {
  Call c = DecodeV2Request(
      R"(["Read_field_where",{"TABLE":"VM","Return":"_ref","where_field":"uuid","extra":[1,{"a":null}],"where_value":"x","where_value":"y"}])");
  EXPECT_EQ(c.args, (std::vector<std::string>{"VM", "_ref", "uuid", "y"}));  // last one wins
  EXPECT_TRUE(Refused(R"(["Read_field_where",{"table":"VM","return":"_ref","where_field":"uuid"}])"));
  EXPECT_TRUE(Refused(
      R"(["Read_field_where",{"table":1,"return":"_ref","where_field":"uuid","where_value":"x"}])"));
  EXPECT_TRUE(Refused(R"(["Read_field_where",["VM","_ref","uuid","x"]])"));
  // An integer beyond int64 cannot become an Rpc.t, even where it is ignored.
  EXPECT_TRUE(Refused(
      R"(["Read_field_where",{"table":"VM","return":"r","where_field":"f","where_value":"x","n":99999999999999999999}])"));
}

TEST(V2Requests, CreateRowFieldsKeepOrderAndDuplicates) {
  Call c = DecodeV2Request(R"(["Create_row","VM",{"b":"1","A":"2","b":"3"},"OpaqueRef:x"])");
  EXPECT_EQ(c.args, (std::vector<std::string>{"VM", "OpaqueRef:x"}));
  EXPECT_EQ(c.fields, (FieldList{{"b", "1"}, {"A", "2"}, {"b", "3"}}));
  EXPECT_TRUE(Refused(R"(["Create_row","VM",[["b","1"]],"OpaqueRef:x"])"));
  EXPECT_TRUE(Refused(R"(["Create_row","VM",{"b":null},"OpaqueRef:x"])"));
}

TEST(V2Requests, WrongShapesAreRefused) {
  EXPECT_TRUE(Refused(R"(["Read_set_ref",{"table":"VM","return":"_ref","where_field":"uuid","where_value":"x"}])"));
  EXPECT_TRUE(Refused(R"(["Read_refs","VM","extra"])"));
  EXPECT_TRUE(Refused(R"(["Read_refs"])"));
  EXPECT_TRUE(Refused(R"("Read_refs")"));
  EXPECT_TRUE(Refused(R"({"method":"Read_refs","params":["VM"],"id":1})"));
  EXPECT_TRUE(Refused(R"(["Read_refs",1])"));
  EXPECT_TRUE(Refused(R"(["Read_refs",null])"));
  EXPECT_TRUE(Refused(R"(["Read_refs",["VM"]])"));
  EXPECT_TRUE(Refused(R"([["Read_refs"],"VM"])"));
  EXPECT_TRUE(Refused(R"(["Find_refs_with_filter","VM",["True"]])"));  // needs a bare string
  EXPECT_TRUE(Refused(R"(["Find_refs_with_filter","VM",["Not","True","False"]])"));
  EXPECT_TRUE(Refused(R"(["Find_refs_with_filter","VM",["Eq",["Field","a"],"b"]])"));
  EXPECT_TRUE(Refused(R"(["Process_structured_field",["k"],"VM","tags","r","AddSet"])"));
  EXPECT_TRUE(Refused(R"(["Process_structured_field",{"k":"v"},"VM","tags","r","AddSet"])"));
  EXPECT_TRUE(Refused(R"(["Process_structured_field",["k","v"],"VM","tags","r",["AddSet"]])"));
  EXPECT_TRUE(Refused(R"(["Process_structured_field",["k","v"],"VM","tags","r","Merge"])"));
}

TEST(V2Requests, ReencodesEveryClientVectorByteForByte) {
  int checked = 0;
  for (const test::VectorCase& c : test::LoadVectorCases("v2.jsonl")) {
    if (c.id.rfind("raw-", 0) == 0) continue;
    for (const test::VectorStep& s : c.steps) {
      EXPECT_EQ(EncodeV2Request(DecodeV2Request(s.request)), s.request) << c.id;
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(V2Replies, EncodesResultShapes) {
  Reply r;
  r.name = CallName::kDbGetByUuidOpt;
  EXPECT_EQ(EncodeV2Reply(r), R"(["Db_get_by_uuid_opt",[]])");
  r.name = CallName::kIsValidRef;
  EXPECT_EQ(EncodeV2Reply(r), R"(["Is_valid_ref",false])");
  r.name = CallName::kWriteField;
  EXPECT_EQ(EncodeV2Reply(r), R"(["Write_field",null])");
  r.name = CallName::kReadRecordsWhere;
  EXPECT_EQ(EncodeV2Reply(r), R"(["Read_records_where",{}])");
  Record rec;
  rec.fields = {{"uuid", "u"}, {"VBDs", "('a')"}};
  rec.set_refs = {{"VBDs", {"a"}}};
  r.records = {{"OpaqueRef:b", rec}, {"OpaqueRef:a", Record{}}};
  EXPECT_EQ(EncodeV2Reply(r),
            R"j(["Read_records_where",{"OpaqueRef:b":[{"uuid":"u","VBDs":"('a')"},{"VBDs":["a"]}],)j"
            R"j("OpaqueRef:a":[{},{}]}])j");
  r.name = CallName::kReadRecord;
  r.record = rec;
  EXPECT_EQ(EncodeV2Reply(r), R"j(["Read_record",{"uuid":"u","VBDs":"('a')"},{"VBDs":["a"]}])j");
}

TEST(V2Errors, EveryInBandKindHasXapisTuple) {
  auto body = [](const Error& e) {
    RpcResult r = ErrorResult(ProtocolVersion::kV2, e);
    EXPECT_EQ(r.status, 200);
    return r.body;
  };
  EXPECT_EQ(body(Error(ErrorKind::kNotFound, "x", {"missing table", "Vm", ""})),
            R"(["Dbcache_notfound","missing table","Vm",""])");
  EXPECT_EQ(body(Error(ErrorKind::kDuplicateKey, "x", {"VM", "other_config", "r", "k1"})),
            R"(["Duplicate_key_of","VM","other_config","r","k1"])");
  EXPECT_EQ(body(Error(ErrorKind::kUniqueness, "x", {"VM", "uuid", "u"})),
            R"(["Uniqueness_constraint_violation","VM","uuid","u"])");
  EXPECT_EQ(body(Error(ErrorKind::kReadMissingUuid, "x", {"VM", "", "no-such-uuid"})),
            R"(["Read_missing_uuid","VM","","no-such-uuid"])");
  EXPECT_EQ(body(Error(ErrorKind::kTooManyValues, "x",
                       {"VM", "", "aaaaaaaa-0000-0000-0000-000000000001"})),
            R"(["Too_many_values","VM","","aaaaaaaa-0000-0000-0000-000000000001"])");
  RpcResult r = ErrorResult(ProtocolVersion::kV2, Error(ErrorKind::kInvalidValue, "bad utf8"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "");
}

}  // namespace
}  // namespace xgdb::rpc
