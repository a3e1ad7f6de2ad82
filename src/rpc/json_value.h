// The JSON of v2 of xapi's remote database protocol, read and written
// exactly as rpclib's Jsonrpc (on yojson) does (remote-db-protocol.md 3.2).
//
// Reading: one JSON value with insignificant whitespace (and yojson's
// comments) around it, nothing after it. Strings keep raw bytes as they are
// (no UTF-8 check), \uXXXX escapes (surrogate pairs too) become UTF-8.
// Objects keep their keys in order, duplicates included. Any problem throws
// Error(kBadRequest).
//
// Writing: compact, `"` `\` and control bytes escaped the way
// Yojson.Safe.to_string does (\b \f \n \r \t, else \u00xx in lower case,
// 0x7F too), bytes >= 0x80 raw.
#ifndef XGDB_RPC_JSON_VALUE_H_
#define XGDB_RPC_JSON_VALUE_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xgdb::rpc {

struct JsonMember;

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool boolean = false;
  std::string text;  // kString: the decoded bytes; kNumber: the literal
  std::vector<JsonValue> items;     // kArray
  std::vector<JsonMember> members;  // kObject, in order
};

// A struct rather than std::pair: a pair of a type still being defined
// cannot be named inside it (clang refuses it with libstdc++).
struct JsonMember {
  std::string key;
  JsonValue value;
};

inline constexpr int kMaxJsonDepth = 512;

JsonValue ParseJson(std::string_view text);

// Builds compact JSON text; the caller keeps the nesting balanced.
class JsonWriter {
 public:
  void String(std::string_view s);
  void Null();
  void Bool(bool b);
  void BeginArray();
  void EndArray();
  void BeginObject();
  void Key(std::string_view key);  // then exactly one value
  void EndObject();
  std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written yet?
  bool after_key_ = false;
};

void AppendJsonString(std::string& out, std::string_view s);

}  // namespace xgdb::rpc

#endif  // XGDB_RPC_JSON_VALUE_H_
