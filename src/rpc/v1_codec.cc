#include "rpc/v1_codec.h"

#include "rpc/xml_value.h"
#include "xgdb/error.h"

namespace xgdb::rpc {
namespace {

[[noreturn]] void Bad(const std::string& why) {
  throw Error(ErrorKind::kBadRequest, "v1 request: " + why);
}

// An array of exactly `n` elements (xapi's unmarshall_<n>strings and
// friends raise DB_remote_marshall_error otherwise).
const std::vector<XmlNode>& ArrayOf(const XmlNode& v, size_t n, const char* what) {
  const std::vector<XmlNode>& items = XmlToArray(v);
  if (items.size() != n) Bad(std::string("wrong number of elements in ") + what);
  return items;
}

std::vector<std::string> Strings(const XmlNode& v, size_t n, const char* what) {
  std::vector<std::string> out;
  for (const XmlNode& item : ArrayOf(v, n, what)) out.push_back(XmlToString(item));
  return out;
}

FilterValue DecodeFilterValue(const XmlNode& v) {
  const std::vector<XmlNode>& items = ArrayOf(v, 2, "a filter value");
  std::string tag = XmlToString(items[0]);
  FilterValue out;
  if (!FilterValueTag(tag, &out.is_field)) Bad("unknown filter value tag " + tag);
  out.text = XmlToString(items[1]);
  return out;
}

FilterExpr DecodeFilter(const XmlNode& v) {
  const std::vector<XmlNode>& items = XmlToArray(v);
  if (items.empty() || items.size() > 3) Bad("malformed filter expression");
  std::string tag = XmlToString(items[0]);
  std::optional<FilterExpr> e = MakeFilter(
      tag, items.size() - 1, [&items](size_t i) { return DecodeFilter(items[i + 1]); },
      [&items](size_t i) { return DecodeFilterValue(items[i + 1]); });
  if (!e) Bad("unknown filter expression " + tag);
  return std::move(*e);
}

StructuredOp DecodeOp(const XmlNode& v) {
  // The v1 client sends AddMapLegacy as "addmap", so there is no name for it.
  std::string s = XmlToString(v);
  std::optional<StructuredOp> op = StructuredOpFromWire(s);
  if (!op || *op == StructuredOp::kAddMapLegacy) Bad("unknown structured op " + s);
  return *op;
}

void EncodeFilterValue(XmlWriter& w, const FilterValue& v) {
  w.BeginArray();
  w.String(v.is_field ? "field" : "literal");
  w.String(v.text);
  w.EndArray();
}

void EncodeFilter(XmlWriter& w, const FilterExpr& e) {
  w.BeginArray();
  switch (e.op) {
    case FilterExpr::Op::kTrue: w.String("true"); break;
    case FilterExpr::Op::kFalse: w.String("false"); break;
    case FilterExpr::Op::kNot:
      w.String("not");
      EncodeFilter(w, e.children.at(0));
      break;
    case FilterExpr::Op::kAnd:
    case FilterExpr::Op::kOr:
      w.String(e.op == FilterExpr::Op::kAnd ? "and" : "or");
      EncodeFilter(w, e.children.at(0));
      EncodeFilter(w, e.children.at(1));
      break;
    case FilterExpr::Op::kEq:
      w.String("eq");
      EncodeFilterValue(w, e.lhs);
      EncodeFilterValue(w, e.rhs);
      break;
  }
  w.EndArray();
}

void EncodeStrings(XmlWriter& w, const std::vector<std::string>& list) {
  w.BeginArray();
  for (const std::string& s : list) w.String(s);
  w.EndArray();
}

void EncodePairs(XmlWriter& w, const FieldList& pairs) {
  w.BeginArray();
  for (const auto& [k, v] : pairs) {
    w.BeginArray();
    w.String(k);
    w.String(v);
    w.EndArray();
  }
  w.EndArray();
}

void EncodeRecord(XmlWriter& w, const Record& r) {
  w.BeginArray();
  EncodePairs(w, r.fields);
  w.BeginArray();
  for (const auto& [field, refs] : r.set_refs) {
    w.BeginArray();
    w.String(field);
    EncodeStrings(w, refs);
    w.EndArray();
  }
  w.EndArray();
  w.EndArray();
}

void EncodeOption(XmlWriter& w, const std::optional<std::string>& o) {
  w.BeginArray();
  if (o) w.String(*o);
  w.EndArray();
}

}  // namespace

Call DecodeV1Request(std::string_view body) {
  XmlNode root = ParseXml(body);
  const std::vector<XmlNode>& message = XmlToArray(root);
  if (message.size() != 3) Bad("the message is not a 3-element array");
  std::string function = XmlToString(message[0]);
  // message[1] is ignored whatever it holds (it once carried a secret).
  const XmlNode& args = message[2];
  std::optional<CallName> name = CallNameFromWire(function);
  if (!name) Bad("unknown function " + function);
  Call call;
  call.name = *name;
  switch (ArgShapeOf(*name)) {
    case ArgShape::kStrings: {
      // A single argument is sent bare, several as an array.
      size_t n = StringArgCount(*name);
      call.args = n == 1 ? std::vector<std::string>{XmlToString(args)}
                         : Strings(args, n, "the arguments");
      break;
    }
    case ArgShape::kTableAndFilter: {
      const std::vector<XmlNode>& items = ArrayOf(args, 2, "the arguments");
      call.args = {XmlToString(items[0])};
      call.expr = DecodeFilter(items[1]);
      break;
    }
    case ArgShape::kWhere:
      call.args = Strings(args, 4, "the arguments");
      break;
    case ArgShape::kCreateRow: {
      const std::vector<XmlNode>& items = ArrayOf(args, 3, "the arguments");
      call.args = {XmlToString(items[0]), XmlToString(items[2])};
      for (const XmlNode& pair : XmlToArray(items[1])) {
        std::vector<std::string> kv = Strings(pair, 2, "a field/value pair");
        call.fields.emplace_back(std::move(kv[0]), std::move(kv[1]));
      }
      break;
    }
    case ArgShape::kStructured: {
      const std::vector<XmlNode>& items = ArrayOf(args, 5, "the arguments");
      call.args = Strings(items[0], 2, "the key/value pair");
      for (int i = 1; i <= 3; ++i) call.args.push_back(XmlToString(items[i]));
      call.op = DecodeOp(items[4]);
      break;
    }
  }
  return call;
}

std::string EncodeV1Reply(const Reply& r) {
  XmlWriter w;
  w.BeginArray();
  w.String("success");
  switch (ReplyShapeOf(r.name)) {
    case ReplyShape::kOption: EncodeOption(w, r.option); break;
    case ReplyShape::kFlag: w.Bool(r.flag); break;
    case ReplyShape::kList: EncodeStrings(w, r.list); break;
    case ReplyShape::kText: w.String(r.text); break;
    case ReplyShape::kRecord: EncodeRecord(w, r.record); break;
    case ReplyShape::kRecords:
      w.BeginArray();
      for (const auto& [ref, record] : r.records) {
        w.BeginArray();
        w.String(ref);
        EncodeRecord(w, record);
        w.EndArray();
      }
      w.EndArray();
      break;
    case ReplyShape::kUnit: w.String(""); break;
  }
  w.EndArray();
  return w.Take();
}

std::string EncodeV1Failure(const std::string& name, const std::vector<std::string>& params) {
  XmlWriter w;
  w.BeginArray();
  w.String("failure");
  w.BeginArray();
  w.String(name);
  EncodeStrings(w, params);
  w.EndArray();
  w.EndArray();
  return w.Take();
}

std::string EncodeV1Request(const Call& c) {
  XmlWriter w;
  w.BeginArray();
  w.String(WireName(c.name));
  w.String("");
  const std::vector<std::string>& a = c.args;
  switch (ArgShapeOf(c.name)) {
    case ArgShape::kStrings:
      if (StringArgCount(c.name) == 1) w.String(a.at(0));
      else EncodeStrings(w, a);
      break;
    case ArgShape::kTableAndFilter:
      w.BeginArray();
      w.String(a.at(0));
      EncodeFilter(w, c.expr);
      w.EndArray();
      break;
    case ArgShape::kWhere:
      EncodeStrings(w, a);
      break;
    case ArgShape::kCreateRow:
      w.BeginArray();
      w.String(a.at(0));
      EncodePairs(w, c.fields);
      w.String(a.at(1));
      w.EndArray();
      break;
    case ArgShape::kStructured:
      w.BeginArray();
      w.BeginArray();  // the (key, value) pair
      w.String(a.at(0));
      w.String(a.at(1));
      w.EndArray();
      for (int i = 2; i <= 4; ++i) w.String(a.at(i));
      w.String(StructuredOpWireName(c.op, /*capitalized=*/false));
      w.EndArray();
      break;
  }
  w.EndArray();
  return w.Take();
}

}  // namespace xgdb::rpc
