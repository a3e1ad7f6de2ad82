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
  if (tag == "field") out.is_field = true;
  else if (tag != "literal") Bad("unknown filter value tag " + tag);
  out.text = XmlToString(items[1]);
  return out;
}

FilterExpr DecodeFilter(const XmlNode& v) {
  const std::vector<XmlNode>& items = XmlToArray(v);
  if (items.empty() || items.size() > 3) Bad("malformed filter expression");
  std::string tag = XmlToString(items[0]);
  FilterExpr e;
  if (items.size() == 1 && tag == "true") {
    e.op = FilterExpr::Op::kTrue;
  } else if (items.size() == 1 && tag == "false") {
    e.op = FilterExpr::Op::kFalse;
  } else if (items.size() == 2 && tag == "not") {
    e.op = FilterExpr::Op::kNot;
    e.children.push_back(DecodeFilter(items[1]));
  } else if (items.size() == 3 && (tag == "and" || tag == "or")) {
    e.op = tag == "and" ? FilterExpr::Op::kAnd : FilterExpr::Op::kOr;
    e.children.push_back(DecodeFilter(items[1]));
    e.children.push_back(DecodeFilter(items[2]));
  } else if (items.size() == 3 && tag == "eq") {
    e.op = FilterExpr::Op::kEq;
    e.lhs = DecodeFilterValue(items[1]);
    e.rhs = DecodeFilterValue(items[2]);
  } else {
    Bad("unknown filter expression " + tag);
  }
  return e;
}

StructuredOp DecodeOp(const XmlNode& v) {
  // The v1 client sends AddMapLegacy as "addmap", so there is no name for it.
  std::string s = XmlToString(v);
  if (s == "addset") return StructuredOp::kAddSet;
  if (s == "removeset") return StructuredOp::kRemoveSet;
  if (s == "addmap") return StructuredOp::kAddMap;
  if (s == "removemap") return StructuredOp::kRemoveMap;
  Bad("unknown structured op " + s);
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

const char* OpName(StructuredOp op) {
  switch (op) {
    case StructuredOp::kAddSet: return "addset";
    case StructuredOp::kRemoveSet: return "removeset";
    case StructuredOp::kRemoveMap: return "removemap";
    case StructuredOp::kAddMap:
    case StructuredOp::kAddMapLegacy: return "addmap";  // as xapi's client does
  }
  return "addmap";
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
  switch (*name) {
    case CallName::kGetTableFromRef:
    case CallName::kIsValidRef:
    case CallName::kReadRefs:
      call.args = {XmlToString(args)};
      break;
    case CallName::kFindRefsWithFilter:
    case CallName::kReadRecordsWhere: {
      const std::vector<XmlNode>& items = ArrayOf(args, 2, "the arguments");
      call.args = {XmlToString(items[0])};
      call.expr = DecodeFilter(items[1]);
      break;
    }
    case CallName::kReadFieldWhere:
    case CallName::kWriteField:
      call.args = Strings(args, 4, "the arguments");
      break;
    case CallName::kDbGetByUuid:
    case CallName::kDbGetByUuidOpt:
    case CallName::kDbGetByNameLabel:
    case CallName::kDeleteRow:
    case CallName::kReadRecord:
      call.args = Strings(args, 2, "the arguments");
      break;
    case CallName::kReadField:
      call.args = Strings(args, 3, "the arguments");
      break;
    case CallName::kCreateRow: {
      const std::vector<XmlNode>& items = ArrayOf(args, 3, "the arguments");
      call.args = {XmlToString(items[0]), XmlToString(items[2])};
      for (const XmlNode& pair : XmlToArray(items[1])) {
        std::vector<std::string> kv = Strings(pair, 2, "a field/value pair");
        call.fields.emplace_back(std::move(kv[0]), std::move(kv[1]));
      }
      break;
    }
    case CallName::kProcessStructuredField: {
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
  switch (r.name) {
    case CallName::kGetTableFromRef:
    case CallName::kDbGetByUuidOpt:
      EncodeOption(w, r.option);
      break;
    case CallName::kIsValidRef: w.Bool(r.flag); break;
    case CallName::kReadRefs:
    case CallName::kFindRefsWithFilter:
    case CallName::kReadFieldWhere:
    case CallName::kDbGetByNameLabel:
      EncodeStrings(w, r.list);
      break;
    case CallName::kDbGetByUuid:
    case CallName::kReadField:
      w.String(r.text);
      break;
    case CallName::kReadRecord: EncodeRecord(w, r.record); break;
    case CallName::kReadRecordsWhere:
      w.BeginArray();
      for (const auto& [ref, record] : r.records) {
        w.BeginArray();
        w.String(ref);
        EncodeRecord(w, record);
        w.EndArray();
      }
      w.EndArray();
      break;
    case CallName::kCreateRow:
    case CallName::kDeleteRow:
    case CallName::kWriteField:
    case CallName::kProcessStructuredField:
      w.String("");  // unit
      break;
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
  switch (c.name) {
    case CallName::kGetTableFromRef:
    case CallName::kIsValidRef:
    case CallName::kReadRefs:
      w.String(a.at(0));
      break;
    case CallName::kFindRefsWithFilter:
    case CallName::kReadRecordsWhere:
      w.BeginArray();
      w.String(a.at(0));
      EncodeFilter(w, c.expr);
      w.EndArray();
      break;
    case CallName::kCreateRow:
      w.BeginArray();
      w.String(a.at(0));
      EncodePairs(w, c.fields);
      w.String(a.at(1));
      w.EndArray();
      break;
    case CallName::kProcessStructuredField:
      w.BeginArray();
      w.BeginArray();  // the (key, value) pair
      w.String(a.at(0));
      w.String(a.at(1));
      w.EndArray();
      for (int i = 2; i <= 4; ++i) w.String(a.at(i));
      w.String(OpName(c.op));
      w.EndArray();
      break;
    default:
      EncodeStrings(w, a);
      break;
  }
  w.EndArray();
  return w.Take();
}

}  // namespace xgdb::rpc
