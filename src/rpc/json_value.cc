#include "rpc/json_value.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "db/xml_utf8.h"
#include "xgdb/error.h"

namespace xgdb::rpc {
namespace {

using db::AppendUtf8;

[[noreturn]] void Fail(const std::string& why) {
  throw Error(ErrorKind::kBadRequest, "v2 request is not acceptable JSON: " + why);
}

class JsonReader {
 public:
  explicit JsonReader(std::string_view in) : in_(in) {}

  JsonValue Parse() {
    SkipSpace();
    if (pos_ >= in_.size()) Fail("blank input");
    JsonValue v = Value(0);
    SkipSpace();
    if (pos_ != in_.size()) Fail("trailing content after the value");
    return v;
  }

 private:
  bool AtEnd() const { return pos_ >= in_.size(); }
  char Peek() const { return in_[pos_]; }

  // Whitespace and yojson's comments (/* ... */ and // to end of line).
  void SkipSpace() {
    while (!AtEnd()) {
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '*') {
        size_t end = in_.find("*/", pos_ + 2);
        if (end == std::string_view::npos) Fail("unterminated comment");
        pos_ = end + 2;
      } else if (c == '/' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '/') {
        size_t end = in_.find('\n', pos_ + 2);
        pos_ = end == std::string_view::npos ? in_.size() : end + 1;
      } else {
        return;
      }
    }
  }

  void Expect(char c) {
    if (AtEnd() || Peek() != c) Fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  bool Word(std::string_view w) {
    if (in_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  JsonValue Value(int depth) {
    if (depth >= kMaxJsonDepth) Fail("nesting too deep");
    if (AtEnd()) Fail("unexpected end of input");
    JsonValue v;
    char c = Peek();
    if (c == '"') {
      v.type = JsonValue::Type::kString;
      v.text = StringBody();
    } else if (c == '[') {
      ++pos_;
      v.type = JsonValue::Type::kArray;
      SkipSpace();
      if (!AtEnd() && Peek() == ']') { ++pos_; return v; }
      for (;;) {
        SkipSpace();
        v.items.push_back(Value(depth + 1));
        SkipSpace();
        if (!AtEnd() && Peek() == ',') { ++pos_; continue; }
        Expect(']');
        return v;
      }
    } else if (c == '{') {
      ++pos_;
      v.type = JsonValue::Type::kObject;
      SkipSpace();
      if (!AtEnd() && Peek() == '}') { ++pos_; return v; }
      for (;;) {
        SkipSpace();
        if (AtEnd() || Peek() != '"') Fail("expected an object key");
        std::string key = StringBody();
        SkipSpace();
        Expect(':');
        SkipSpace();
        v.members.push_back(JsonMember{std::move(key), Value(depth + 1)});
        SkipSpace();
        if (!AtEnd() && Peek() == ',') { ++pos_; continue; }
        Expect('}');
        return v;
      }
    } else if (Word("null")) {
      v.type = JsonValue::Type::kNull;
    } else if (Word("true")) {
      v.type = JsonValue::Type::kBool;
      v.boolean = true;
    } else if (Word("false")) {
      v.type = JsonValue::Type::kBool;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.type = JsonValue::Type::kNumber;
      v.text = Number();
    } else {
      Fail("unexpected character");
    }
    return v;
  }

  std::string Number() {
    size_t start = pos_;
    bool is_int = true;
    if (Peek() == '-') ++pos_;
    auto digits = [this]() {
      size_t s = pos_;
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') ++pos_;
      return pos_ > s;
    };
    if (!digits()) Fail("bad number");
    if (!AtEnd() && Peek() == '.') { ++pos_; is_int = false; digits(); }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      is_int = false;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (!digits()) Fail("bad number");
    }
    std::string literal(in_.substr(start, pos_ - start));
    if (is_int) {
      // rpclib turns integers into Int64; one that does not fit fails.
      errno = 0;
      (void)std::strtoll(literal.c_str(), nullptr, 10);
      if (errno == ERANGE) Fail("integer out of range");
    }
    return literal;
  }

  uint32_t Hex4() {
    if (pos_ + 4 > in_.size()) Fail("short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = in_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else Fail("bad \\u escape");
    }
    return v;
  }

  std::string StringBody() {
    Expect('"');
    std::string out;
    for (;;) {
      if (AtEnd()) Fail("unterminated string");
      char c = in_[pos_++];
      if (c == '"') return out;
      if (c != '\\') { out += c; continue; }  // raw bytes, control ones too
      if (AtEnd()) Fail("unterminated string");
      char e = in_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t u = Hex4();
          if (u >= 0xD800 && u <= 0xDBFF) {
            if (!Word("\\u")) Fail("missing low surrogate");
            uint32_t lo = Hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) Fail("invalid low surrogate");
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
          }
          AppendUtf8(out, u);
          break;
        }
        default: Fail("invalid escape");
      }
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

JsonValue ParseJson(std::string_view text) { return JsonReader(text).Parse(); }

void AppendJsonString(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

void JsonWriter::String(std::string_view s) {
  BeforeValue();
  AppendJsonString(out_, s);
}

void JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
}

void JsonWriter::Bool(bool b) {
  BeforeValue();
  out_ += b ? "true" : "false";
}

void JsonWriter::BeginArray() {
  BeforeValue();
  out_ += '[';
  first_.push_back(true);
}

void JsonWriter::EndArray() {
  out_ += ']';
  first_.pop_back();
}

void JsonWriter::BeginObject() {
  BeforeValue();
  out_ += '{';
  first_.push_back(true);
}

void JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendJsonString(out_, key);
  out_ += ':';
  after_key_ = true;
}

void JsonWriter::EndObject() {
  out_ += '}';
  first_.pop_back();
}

}  // namespace xgdb::rpc
