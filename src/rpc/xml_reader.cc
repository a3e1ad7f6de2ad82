// ParseXml: xapi's XML reading (xmlm under xml-light2), see xml_value.h.
#include <cstdint>
#include <utility>

#include "db/xml_utf8.h"
#include "rpc/xml_value.h"
#include "xgdb/error.h"

namespace xgdb::rpc {
namespace {

using db::AppendUtf8;
using db::IsXmlChar;

[[noreturn]] void Fail(const std::string& why) {
  throw Error(ErrorKind::kBadRequest, "v1 request is not acceptable XML: " + why);
}

bool IsWhite(uint32_t u) { return u == 0x20 || u == 0x09 || u == 0x0D || u == 0x0A; }

bool InRange(uint32_t u, uint32_t a, uint32_t b) { return a <= u && u <= b; }

// Letters shared by NameStartChar and NameChar above ASCII (XML 1.1 ranges,
// which is what xmlm uses).
bool IsNameRange(uint32_t u) {
  return InRange(u, 0xC0, 0xD6) || InRange(u, 0xD8, 0xF6) || InRange(u, 0xF8, 0x2FF) ||
         InRange(u, 0x370, 0x37D) || InRange(u, 0x37F, 0x1FFF) || InRange(u, 0x200C, 0x200D) ||
         InRange(u, 0x2070, 0x218F) || InRange(u, 0x2C00, 0x2FEF) ||
         InRange(u, 0x3001, 0xD7FF) || InRange(u, 0xF900, 0xFDCF) ||
         InRange(u, 0xFDF0, 0xFFFD) || InRange(u, 0x10000, 0xEFFFF);
}

bool IsNameStart(uint32_t u) {
  return u == '_' || InRange(u, 'a', 'z') || InRange(u, 'A', 'Z') || IsNameRange(u);
}

bool IsNameChar(uint32_t u) {
  return u == '_' || u == '-' || u == '.' || u == 0xB7 || InRange(u, 'a', 'z') ||
         InRange(u, 'A', 'Z') || InRange(u, '0', '9') || IsNameRange(u) ||
         InRange(u, 0x300, 0x36F) || InRange(u, 0x203F, 0x2040);
}

// OCaml's int_of_string, which xmlm applies to character references: an
// optional sign, an optional 0x/0o/0b/0u prefix, digits and underscores.
bool ParseOcamlInt(const std::string& s, int64_t* value) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
  int base = 10;
  if (i + 1 < s.size() && s[i] == '0') {
    char p = s[i + 1];
    if (p == 'x' || p == 'X') base = 16;
    else if (p == 'o' || p == 'O') base = 8;
    else if (p == 'b' || p == 'B') base = 2;
    else if (p == 'u' || p == 'U') base = 10;
    if (p == 'x' || p == 'X' || p == 'o' || p == 'O' || p == 'b' || p == 'B' || p == 'u' ||
        p == 'U')
      i += 2;
  }
  if (i >= s.size()) return false;
  int64_t v = 0;
  bool first = true;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_' && !first) continue;
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (d >= base) return false;
    if (v > (INT64_MAX - d) / base) return false;
    v = v * base + d;
    first = false;
  }
  *value = negative ? -v : v;
  return true;
}

// What follows a '<' (or plain text), as xmlm classifies it.
enum class Limit { kStartTag, kEndTag, kPi, kComment, kCdata, kDoctype, kText, kEnd };

class XmlReader {
 public:
  explicit XmlReader(std::string_view in) : in_(in) {}

  XmlNode Parse() {
    Next();
    ParseDeclaration();
    ParseProlog();
    if (limit_ != Limit::kStartTag) Fail("expected root element");
    return ParseElements();
  }

 private:
  enum class Encoding { kUtf8, kAscii, kLatin1 };

  // Reads one byte; false at the end of the input.
  bool Byte(uint32_t* b) {
    if (pos_ >= in_.size()) return false;
    *b = static_cast<unsigned char>(in_[pos_++]);
    return true;
  }

  // Decodes the next character; false at end of input (also mid-sequence,
  // as xmlm does: a truncated character ends the input).
  bool Decode(uint32_t* u) {
    uint32_t b0;
    if (!Byte(&b0)) return false;
    if (encoding_ == Encoding::kLatin1) { *u = b0; return true; }
    if (encoding_ == Encoding::kAscii) {
      if (b0 > 127) Fail("malformed character stream");
      *u = b0;
      return true;
    }
    if (b0 < 0x80) { *u = b0; return true; }
    int len = b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3
              : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
    if (len == 0) Fail("malformed character stream (invalid UTF-8)");
    uint32_t b[3];
    for (int i = 0; i < len - 1; ++i)
      if (!Byte(&b[i])) return false;
    for (int i = 1; i < len - 1; ++i)
      if ((b[i] >> 6) != 2) Fail("malformed character stream (invalid UTF-8)");
    bool ok = (b[0] >> 6) == 2;
    if (b0 == 0xE0) ok = b[0] >= 0xA0 && b[0] <= 0xBF;
    if (b0 == 0xED) ok = b[0] >= 0x80 && b[0] <= 0x9F;
    if (b0 == 0xF0) ok = b[0] >= 0x90 && b[0] <= 0xBF;
    if (b0 == 0xF4) ok = b[0] >= 0x80 && b[0] <= 0x8F;
    if (!ok) Fail("malformed character stream (invalid UTF-8)");
    if (len == 2) *u = ((b0 & 0x1F) << 6) | (b[0] & 0x3F);
    else if (len == 3) *u = ((b0 & 0x0F) << 12) | ((b[0] & 0x3F) << 6) | (b[1] & 0x3F);
    else
      *u = ((b0 & 0x07) << 18) | ((b[0] & 0x3F) << 12) | ((b[1] & 0x3F) << 6) | (b[2] & 0x3F);
    return true;
  }

  // Advances the one-character lookahead u_, with XML end-of-line handling:
  // CR LF and lone CR both read as LF.
  void Next() {
    if (eoi_) Fail("unexpected end of input");
    if (!Decode(&u_)) { eoi_ = true; u_ = 0; return; }
    if (!IsXmlChar(u_)) Fail("character not allowed in XML");
    // xmlm reads the character after a CR LF without the {Char} check; keep
    // that so the same documents are accepted.
    if (cr_ && u_ == '\n' && !Decode(&u_)) { eoi_ = true; u_ = 0; return; }
    if (u_ == '\r') { cr_ = true; u_ = '\n'; } else { cr_ = false; }
  }

  void Accept(uint32_t c) {
    if (u_ != c) Fail(std::string("expected '") + static_cast<char>(c) + "'");
    Next();
  }

  void SkipWhite() {
    while (!eoi_ && IsWhite(u_)) Next();
  }

  std::string NcName() {
    if (eoi_ || !IsNameStart(u_)) Fail("illegal character in a name");
    std::string name;
    do {
      AppendUtf8(name, u_);
      Next();
    } while (!eoi_ && IsNameChar(u_));
    return name;
  }

  // A qualified name; returns the local part. Only the predefined `xml`
  // prefix is bound (no request declares namespaces: that would take an
  // attribute, which XMLRPC.From refuses anyway).
  std::string QName(std::string* prefix) {
    std::string first = NcName();
    prefix->clear();
    if (u_ != ':') return first;
    Accept(':');
    *prefix = first;
    return NcName();
  }

  void ReadLimit() {
    if (eoi_) { limit_ = Limit::kEnd; return; }
    if (u_ != '<') { limit_ = Limit::kText; return; }
    Accept('<');
    switch (u_) {
      case '/':
        Accept('/');
        limit_ = Limit::kEndTag;
        limit_name_ = QName(&limit_prefix_);
        return;
      case '?':
        Accept('?');
        limit_ = Limit::kPi;
        limit_name_ = QName(&limit_prefix_);
        return;
      case '!':
        Accept('!');
        if (u_ == '-') {
          Accept('-');
          Accept('-');
          limit_ = Limit::kComment;
        } else if (u_ == '[') {
          Accept('[');
          std::string word;
          for (int i = 0; i < 6; ++i) { AppendUtf8(word, u_); Next(); }
          if (word != "CDATA[") Fail("expected CDATA[");
          limit_ = Limit::kCdata;
        } else if (u_ == 'D') {
          limit_ = Limit::kDoctype;
        } else {
          Fail("illegal sequence after <!");
        }
        return;
      default:
        limit_ = Limit::kStartTag;
        limit_name_ = QName(&limit_prefix_);
        return;
    }
  }

  void SkipComment() {  // after "<!--"
    for (;;) {
      while (u_ != '-') Next();
      Accept('-');
      if (u_ != '-') continue;
      Accept('-');
      Accept('>');
      return;
    }
  }

  void SkipPi() {  // after "<?" name
    for (;;) {
      while (u_ != '?') Next();
      Accept('?');
      if (u_ == '>') { Accept('>'); return; }
    }
  }

  std::string Reference() {  // at '&'
    Accept('&');
    std::string out;
    if (u_ == '#') {
      Accept('#');
      std::string digits;
      while (u_ != ';') { AppendUtf8(digits, u_); Next(); }
      Accept(';');
      int64_t v = 0;
      std::string number = !digits.empty() && digits[0] == 'x' ? "0" + digits : digits;
      if (digits.empty() || !ParseOcamlInt(number, &v) || v < 0 || v > 0x10FFFF ||
          !IsXmlChar(static_cast<uint32_t>(v)))
        Fail("illegal character reference &#" + digits + ";");
      AppendUtf8(out, static_cast<uint32_t>(v));
      return out;
    }
    std::string name = NcName();
    if (u_ != ';') Fail("expected ';' after entity name");
    Accept(';');
    if (name == "lt") return "<";
    if (name == "gt") return ">";
    if (name == "amp") return "&";
    if (name == "apos") return "'";
    if (name == "quot") return "\"";
    Fail("unknown entity reference &" + name + ";");
  }

  std::string AttributeValue() {
    SkipWhite();
    uint32_t delim = u_;
    if (delim != '"' && delim != '\'') Fail("expected a quoted attribute value");
    Accept(delim);
    std::string value;
    while (u_ != delim) {
      if (u_ == '&') { value += Reference(); continue; }
      if (u_ == '<') Fail("'<' in an attribute value");
      AppendUtf8(value, u_);
      Next();
    }
    Accept(delim);
    return value;
  }

  // Returns true when the tag had at least one attribute.
  bool Attributes() {
    bool any = false;
    while (!eoi_ && IsWhite(u_)) {
      SkipWhite();
      if (u_ == '/' || u_ == '>') break;
      std::string prefix;
      QName(&prefix);
      SkipWhite();
      Accept('=');
      AttributeValue();
      any = true;
    }
    return any;
  }

  void ParseDeclaration() {
    ReadLimit();
    if (limit_ == Limit::kPi && limit_prefix_.empty() && limit_name_ == "xml") {
      auto value = [this]() {
        SkipWhite();
        Accept('=');
        SkipWhite();
        return AttributeValue();
      };
      SkipWhite();
      if (NcName() != "version") Fail("expected version in the XML declaration");
      std::string version = value();
      if (version != "1.0" && version != "1.1") Fail("unsupported XML version");
      SkipWhite();
      if (u_ != '?') {
        std::string name = NcName();
        if (name == "encoding") {
          SetEncoding(value());
          SkipWhite();
          if (u_ != '?') {
            if (NcName() != "standalone") Fail("expected standalone or ?>");
            Standalone(value());
          }
        } else if (name == "standalone") {
          Standalone(value());
        } else {
          Fail("expected encoding, standalone or ?>");
        }
      }
      SkipWhite();
      Accept('?');
      Accept('>');
      ReadLimit();
    }
    if (limit_ == Limit::kText && IsWhite(u_)) {
      SkipWhite();
      ReadLimit();
    }
  }

  static void Standalone(const std::string& v) {
    if (v != "yes" && v != "no") Fail("standalone must be yes or no");
  }

  void SetEncoding(const std::string& name) {
    std::string lower;
    for (char c : name) lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower == "utf-8") encoding_ = Encoding::kUtf8;
    else if (lower == "iso-8859-1") encoding_ = Encoding::kLatin1;
    else if (lower == "us-ascii" || lower == "ascii") encoding_ = Encoding::kAscii;
    else Fail("unsupported encoding " + name);  // UTF-16 included: see compatibility.md
  }

  void SkipMisc() {
    for (;;) {
      if (limit_ == Limit::kPi) SkipPi();
      else if (limit_ == Limit::kComment) SkipComment();
      else return;
      SkipWhite();
      ReadLimit();
    }
  }

  void ParseProlog() {
    SkipMisc();
    if (limit_ != Limit::kDoctype) return;
    // A rough DOCTYPE skip, balancing '<' '>' outside quotes and comments.
    int nest = 1;
    while (nest > 0) {
      if (u_ == '<') {
        Accept('<');
        if (u_ != '!') { ++nest; continue; }
        Accept('!');
        if (u_ != '-') { ++nest; continue; }
        Accept('-');
        if (u_ != '-') { ++nest; continue; }
        Accept('-');
        SkipComment();
      } else if (u_ == '>') {
        Accept('>');
        --nest;
      } else if (u_ == '"' || u_ == '\'') {
        uint32_t d = u_;
        Accept(d);
        while (u_ != d) Next();
        Accept(d);
      } else {
        Next();
      }
    }
    SkipWhite();
    ReadLimit();
    SkipMisc();
  }

  void CharData() {
    int brackets = 0;  // consecutive literal ']' just read
    while (u_ != '<') {
      if (eoi_) Fail("unexpected end of input");
      if (u_ == '&') { data_ += Reference(); brackets = 0; continue; }
      if (u_ == '>' && brackets >= 2) Fail("\"]]>\" in character data");
      brackets = u_ == ']' ? brackets + 1 : 0;
      AppendUtf8(data_, u_);
      Next();
    }
  }

  void Cdata() {  // after "<![CDATA["
    for (;;) {
      if (u_ == ']') {
        Accept(']');
        if (u_ == ']') {
          Accept(']');
          while (u_ == ']') { data_ += ']'; Next(); }
          if (u_ == '>') { Accept('>'); return; }
          data_ += "]]";
          continue;
        }
        data_ += ']';
        continue;
      }
      AppendUtf8(data_, u_);
      Next();
    }
  }

  // Character data is delivered when the next tag starts or ends; a run made
  // only of space/TAB/LF is dropped (xml-light2's is_empty).
  void FlushData() {
    if (data_.empty()) return;
    bool blank = true;
    for (char c : data_)
      if (c != ' ' && c != '\t' && c != '\n') { blank = false; break; }
    if (!blank) {
      XmlNode text;
      text.is_text = true;
      text.text = std::move(data_);
      stack_.back().children.push_back(std::move(text));
    }
    data_.clear();
  }

  std::string ElementName() {
    if (!limit_prefix_.empty() && limit_prefix_ != "xml")
      Fail("unbound namespace prefix " + limit_prefix_);
    return limit_name_;
  }

  // Closes the innermost element; returns true when it was the root.
  bool CloseElement(const std::string& qname) {
    if (stack_.empty() || qnames_.back() != qname) Fail("mismatched end tag " + qname);
    FlushData();
    XmlNode done = std::move(stack_.back());
    stack_.pop_back();
    qnames_.pop_back();
    if (stack_.empty()) {
      root_ = std::move(done);
      return true;
    }
    stack_.back().children.push_back(std::move(done));
    return false;
  }

  XmlNode ParseElements() {
    for (;;) {
      switch (limit_) {
        case Limit::kStartTag: {
          std::string qname = limit_prefix_.empty() ? limit_name_
                                                    : limit_prefix_ + ":" + limit_name_;
          XmlNode node;
          node.name = ElementName();
          node.has_attributes = Attributes();
          if (!stack_.empty()) FlushData();
          if (static_cast<int>(stack_.size()) >= kMaxXmlDepth) Fail("nesting too deep");
          stack_.push_back(std::move(node));
          qnames_.push_back(qname);
          SkipWhite();
          if (u_ == '/') {
            Accept('/');
            if (u_ != '>') Fail("expected '>'");
            // The root's final '>' is the last character xmlm looks at.
            if (CloseElement(qname)) return std::move(root_);
            Accept('>');
          } else if (u_ == '>') {
            Accept('>');
          } else {
            Fail("expected '/>' or '>'");
          }
          break;
        }
        case Limit::kEndTag: {
          std::string qname = limit_prefix_.empty() ? limit_name_
                                                    : limit_prefix_ + ":" + limit_name_;
          SkipWhite();
          if (u_ != '>') Fail("expected '>'");
          if (CloseElement(qname)) return std::move(root_);
          Accept('>');
          break;
        }
        case Limit::kPi: SkipPi(); break;
        case Limit::kComment: SkipComment(); break;
        case Limit::kText: CharData(); break;
        case Limit::kCdata: Cdata(); break;
        case Limit::kDoctype: Fail("DOCTYPE inside an element");
        case Limit::kEnd: Fail("unexpected end of input");
      }
      ReadLimit();
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
  Encoding encoding_ = Encoding::kUtf8;
  uint32_t u_ = 0;
  bool eoi_ = false;
  bool cr_ = false;
  Limit limit_ = Limit::kText;
  std::string limit_name_, limit_prefix_;
  std::vector<XmlNode> stack_;
  std::vector<std::string> qnames_;
  std::string data_;
  XmlNode root_;
};

}  // namespace

XmlNode ParseXml(std::string_view document) { return XmlReader(document).Parse(); }

}  // namespace xgdb::rpc
