#include "rpc/v2_codec.h"

#include "rpc/json_value.h"
#include "xgdb/error.h"

namespace xgdb::rpc {
namespace {

using Type = JsonValue::Type;

[[noreturn]] void Bad(const std::string& why) {
  throw Error(ErrorKind::kBadRequest, "v2 request: " + why);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

const std::string& Str(const JsonValue& v) {
  if (v.type != Type::kString) Bad("expected a string");
  return v.text;
}

// A variant value as rpclib sees it after Rpc.lowerfn: the lower-cased
// constructor and its arguments. A constructor without arguments is a bare
// string; with arguments, an array led by the name.
struct Variant {
  std::string name;
  const JsonValue* args = nullptr;  // array; arguments start at index 1
  size_t arity = 0;
};

Variant AsVariant(const JsonValue& v) {
  Variant out;
  if (v.type == Type::kString) {
    out.name = Lower(v.text);
  } else if (v.type == Type::kArray && !v.items.empty() && v.items[0].type == Type::kString) {
    out.name = Lower(v.items[0].text);
    out.args = &v;
    out.arity = v.items.size() - 1;
  } else {
    Bad("expected a variant");
  }
  return out;
}

const JsonValue& Arg(const Variant& v, size_t i) { return v.args->items[i + 1]; }

FilterValue DecodeFilterValue(const JsonValue& j) {
  Variant v = AsVariant(j);
  FilterValue out;
  if (v.arity == 1 && FilterValueTag(v.name, &out.is_field)) {
    out.text = Str(Arg(v, 0));
    return out;
  }
  Bad("unknown filter value " + v.name);
}

FilterExpr DecodeFilter(const JsonValue& j) {
  Variant v = AsVariant(j);
  std::optional<FilterExpr> e;
  // A constructor without arguments is only ever a bare string: ["True"] is
  // not True.
  if (v.args == nullptr || v.arity > 0) {
    e = MakeFilter(
        v.name, v.arity, [&v](size_t i) { return DecodeFilter(Arg(v, i)); },
        [&v](size_t i) { return DecodeFilterValue(Arg(v, i)); });
  }
  if (!e) Bad("unknown filter expression " + v.name);
  return std::move(*e);
}

StructuredOp DecodeOp(const JsonValue& j) {
  Variant v = AsVariant(j);
  std::optional<StructuredOp> op;
  if (v.args == nullptr) op = StructuredOpFromWire(v.name);
  if (!op) Bad("unknown structured op " + v.name);
  return *op;
}

// Db_cache_types.where_record: keys lower-cased, unknown keys ignored, each
// known key decoded where it appears (the last one wins), none missing.
std::vector<std::string> DecodeWhereRecord(const JsonValue& j) {
  if (j.type != Type::kObject) Bad("expected a where record object");
  static const char* kKeys[] = {"table", "return", "where_field", "where_value"};
  std::vector<std::string> out(4);
  bool seen[4] = {false, false, false, false};
  for (const auto& [key, value] : j.members) {
    std::string k = Lower(key);
    for (int i = 0; i < 4; ++i) {
      if (k == kKeys[i]) {
        out[i] = Str(value);
        seen[i] = true;
      }
    }
  }
  for (int i = 0; i < 4; ++i)
    if (!seen[i]) Bad(std::string("where record lacks ") + kKeys[i]);
  return out;
}

// A (string * string) list: an object, keys as sent, order and duplicates kept.
FieldList DecodeFields(const JsonValue& j) {
  if (j.type != Type::kObject) Bad("expected a field object");
  FieldList out;
  for (const auto& [key, value] : j.members) out.emplace_back(key, Str(value));
  return out;
}

void EncodeFilter(JsonWriter& w, const FilterExpr& e) {
  auto value = [&w](const FilterValue& v) {
    w.BeginArray();
    w.String(v.is_field ? "Field" : "Literal");
    w.String(v.text);
    w.EndArray();
  };
  switch (e.op) {
    case FilterExpr::Op::kTrue: w.String("True"); return;
    case FilterExpr::Op::kFalse: w.String("False"); return;
    case FilterExpr::Op::kNot:
      w.BeginArray();
      w.String("Not");
      EncodeFilter(w, e.children.at(0));
      w.EndArray();
      return;
    case FilterExpr::Op::kAnd:
    case FilterExpr::Op::kOr:
      w.BeginArray();
      w.String(e.op == FilterExpr::Op::kAnd ? "And" : "Or");
      EncodeFilter(w, e.children.at(0));
      EncodeFilter(w, e.children.at(1));
      w.EndArray();
      return;
    case FilterExpr::Op::kEq:
      w.BeginArray();
      w.String("Eq");
      value(e.lhs);
      value(e.rhs);
      w.EndArray();
      return;
  }
}

void EncodeStrings(JsonWriter& w, const std::vector<std::string>& list) {
  w.BeginArray();
  for (const std::string& s : list) w.String(s);
  w.EndArray();
}

void EncodeObject(JsonWriter& w, const FieldList& pairs) {
  w.BeginObject();
  for (const auto& [k, v] : pairs) {
    w.Key(k);
    w.String(v);
  }
  w.EndObject();
}

// The two halves of a record, as the arguments of Read_record or the
// 2-element array inside Read_records_where.
void EncodeRecordHalves(JsonWriter& w, const Record& r) {
  EncodeObject(w, r.fields);
  w.BeginObject();
  for (const auto& [field, refs] : r.set_refs) {
    w.Key(field);
    EncodeStrings(w, refs);
  }
  w.EndObject();
}

void EncodeOption(JsonWriter& w, const std::optional<std::string>& o) {
  w.BeginArray();
  if (o) w.String(*o);
  w.EndArray();
}

}  // namespace

Call DecodeV2Request(std::string_view body) {
  JsonValue root = ParseJson(body);
  Variant v = AsVariant(root);
  std::optional<CallName> name = CallNameFromWire(v.name);
  if (!name || v.args == nullptr) Bad("unknown constructor " + v.name);
  Call call;
  call.name = *name;
  auto need = [&v](size_t n) {
    if (v.arity != n) Bad("wrong number of arguments for " + v.name);
  };
  auto strings = [&v, &need](size_t n) {
    need(n);
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) out.push_back(Str(Arg(v, i)));
    return out;
  };
  switch (ArgShapeOf(*name)) {
    case ArgShape::kStrings:
      call.args = strings(StringArgCount(*name));
      break;
    case ArgShape::kTableAndFilter:
      need(2);
      call.args = {Str(Arg(v, 0))};
      call.expr = DecodeFilter(Arg(v, 1));
      break;
    case ArgShape::kWhere:
      need(1);
      call.args = DecodeWhereRecord(Arg(v, 0));
      break;
    case ArgShape::kCreateRow:
      need(3);
      call.args = {Str(Arg(v, 0)), Str(Arg(v, 2))};
      call.fields = DecodeFields(Arg(v, 1));
      break;
    case ArgShape::kStructured: {
      need(5);
      const JsonValue& pair = Arg(v, 0);
      if (pair.type != Type::kArray || pair.items.size() != 2) Bad("expected a [key, value] pair");
      call.args = {Str(pair.items[0]), Str(pair.items[1])};
      for (size_t i = 1; i <= 3; ++i) call.args.push_back(Str(Arg(v, i)));
      call.op = DecodeOp(Arg(v, 4));
      break;
    }
  }
  return call;
}

std::string EncodeV2Reply(const Reply& r) {
  JsonWriter w;
  w.BeginArray();
  w.String(Capitalized(WireName(r.name)));
  switch (ReplyShapeOf(r.name)) {
    case ReplyShape::kOption: EncodeOption(w, r.option); break;
    case ReplyShape::kFlag: w.Bool(r.flag); break;
    case ReplyShape::kList: EncodeStrings(w, r.list); break;
    case ReplyShape::kText: w.String(r.text); break;
    case ReplyShape::kRecord: EncodeRecordHalves(w, r.record); break;
    case ReplyShape::kRecords:
      // A (string * record) list is an object keyed by ref.
      w.BeginObject();
      for (const auto& [ref, record] : r.records) {
        w.Key(ref);
        w.BeginArray();
        EncodeRecordHalves(w, record);
        w.EndArray();
      }
      w.EndObject();
      break;
    case ReplyShape::kUnit: w.Null(); break;
  }
  w.EndArray();
  return w.Take();
}

std::string EncodeV2Failure(const std::string& name, const std::vector<std::string>& params) {
  JsonWriter w;
  w.BeginArray();
  w.String(name);
  for (const std::string& p : params) w.String(p);
  w.EndArray();
  return w.Take();
}

std::string EncodeV2Request(const Call& c) {
  JsonWriter w;
  w.BeginArray();
  w.String(Capitalized(WireName(c.name)));
  const std::vector<std::string>& a = c.args;
  switch (ArgShapeOf(c.name)) {
    case ArgShape::kStrings:
      for (const std::string& s : a) w.String(s);
      break;
    case ArgShape::kTableAndFilter:
      w.String(a.at(0));
      EncodeFilter(w, c.expr);
      break;
    case ArgShape::kWhere:
      w.BeginObject();
      w.Key("table"); w.String(a.at(0));
      w.Key("return"); w.String(a.at(1));
      w.Key("where_field"); w.String(a.at(2));
      w.Key("where_value"); w.String(a.at(3));
      w.EndObject();
      break;
    case ArgShape::kCreateRow:
      w.String(a.at(0));
      EncodeObject(w, c.fields);
      w.String(a.at(1));
      break;
    case ArgShape::kStructured:
      w.BeginArray();
      w.String(a.at(0));
      w.String(a.at(1));
      w.EndArray();
      for (int i = 2; i <= 4; ++i) w.String(a.at(i));
      w.String(StructuredOpWireName(c.op, /*capitalized=*/true));
      break;
  }
  w.EndArray();
  return w.Take();
}

}  // namespace xgdb::rpc
