// xapi's S-expression reader and printer for Set and Map values
// (remote-db-protocol.md 4.2, xapi-data-model.md 3.2). The lexer follows
// ocamllex semantics: the longest match wins, the earliest rule breaks ties.
#include "schema/sexpr.h"

#include "xgdb/error.h"

namespace xgdb::sexpr {
namespace {

[[noreturn]] void Fail(std::string_view text, const std::string& why) {
  std::string shown(text.substr(0, 200));
  throw Error(ErrorKind::kParse, "cannot parse S-expression '" + shown + "': " + why);
}

struct Node {
  enum Kind { kString, kSymbol, kList } kind = kString;
  std::string text;
  std::vector<Node> items;
};

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  Node ReadFirst() {
    Token t = Next();
    if (t.kind == Token::kEnd) Fail(text_, "empty");
    return ReadFrom(std::move(t), 0);
  }

 private:
  struct Token {
    enum Kind { kEnd, kOpen, kClose, kString, kSymbol } kind = kEnd;
    std::string text;
  };

  static bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
  static bool IsSymbolChar(char c) {
    return c != '"' && c != ' ' && c != '\t' && c != '\n' && c != '(' && c != ')';
  }

  // Length of a quoted string starting at pos_ (0 when unterminated).
  size_t QuotedLength(char quote) const {
    size_t i = pos_ + 1;
    while (i < text_.size()) {
      if (text_[i] == '\\') {
        if (i + 1 >= text_.size()) return 0;
        i += 2;
      } else if (text_[i] == quote) {
        return i + 1 - pos_;
      } else {
        ++i;
      }
    }
    return 0;
  }
  size_t SymbolLength() const {
    size_t i = pos_;
    while (i < text_.size() && IsSymbolChar(text_[i])) ++i;
    return i - pos_;
  }
  size_t SkipLength() const {
    char c = text_[pos_];
    if (IsWhitespace(c)) return 1;
    if (c == ';') {
      size_t i = pos_;
      while (i < text_.size() && text_[i] != '\n') ++i;
      if (i < text_.size()) ++i;  // the end of line belongs to the comment
      return i - pos_;
    }
    return 0;
  }

  Token Next() {
    for (;;) {
      if (pos_ >= text_.size()) return {};
      char c = text_[pos_];
      if (c == '(' || c == ')') {
        ++pos_;
        return {c == '(' ? Token::kOpen : Token::kClose, ""};
      }
      size_t skip = SkipLength();
      size_t quoted = (c == '"' || c == '\'') ? QuotedLength(c) : 0;
      size_t symbol = SymbolLength();
      // Rules in order: skip, "string", 'string', symbol. Longest match wins.
      if (skip > 0 && skip >= quoted && skip >= symbol) {
        pos_ += skip;
        continue;
      }
      if (quoted > 0 && quoted >= symbol) {
        Token t{Token::kString, Unescape(text_.substr(pos_ + 1, quoted - 2))};
        pos_ += quoted;
        return t;
      }
      if (symbol > 0) {
        Token t{Token::kSymbol, std::string(text_.substr(pos_, symbol))};
        pos_ += symbol;
        return t;
      }
      Fail(text_, "unterminated string");
    }
  }

  static std::string Unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out.push_back(s[i]);
    }
    return out;
  }

  Node ReadFrom(Token t, int depth) {
    switch (t.kind) {
      case Token::kString: return Node{Node::kString, std::move(t.text), {}};
      case Token::kSymbol: return Node{Node::kSymbol, std::move(t.text), {}};
      case Token::kClose: Fail(text_, "unexpected ')'");
      case Token::kEnd: Fail(text_, "unexpected end");
      case Token::kOpen: break;
    }
    // Sets and maps nest two deep at most; deeper input is an error anyway,
    // so refuse it early rather than recurse without bound.
    if (depth >= 2) Fail(text_, "nested too deeply");
    Node list{Node::kList, "", {}};
    for (;;) {
      Token n = Next();
      if (n.kind == Token::kClose) return list;
      if (n.kind == Token::kEnd) Fail(text_, "missing ')'");
      list.items.push_back(ReadFrom(std::move(n), depth + 1));
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

void AppendQuoted(std::string& out, const std::string& s) {
  out.push_back('\'');
  for (char c : s) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
}

}  // namespace

StringSet ParseSet(std::string_view text) {
  Node n = Reader(text).ReadFirst();
  if (n.kind != Node::kList) Fail(text, "a set must be a list");
  StringSet out;
  out.reserve(n.items.size());
  for (Node& e : n.items) {
    if (e.kind != Node::kString) Fail(text, "a set element must be a quoted string");
    out.push_back(std::move(e.text));
  }
  return out;
}

StringMap ParseMap(std::string_view text) {
  Node n = Reader(text).ReadFirst();
  if (n.kind != Node::kList) Fail(text, "a map must be a list");
  StringMap out;
  out.reserve(n.items.size());
  for (Node& p : n.items) {
    if (p.kind != Node::kList || p.items.size() != 2 || p.items[0].kind != Node::kString ||
        p.items[1].kind != Node::kString)
      Fail(text, "a map entry must be a list of two quoted strings");
    out.emplace_back(std::move(p.items[0].text), std::move(p.items[1].text));
  }
  return out;
}

std::string PrintSet(const StringSet& elements) {
  std::string out = "(";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i) out.push_back(' ');
    AppendQuoted(out, elements[i]);
  }
  out.push_back(')');
  return out;
}

std::string PrintMap(const StringMap& pairs) {
  std::string out = "(";
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i) out.push_back(' ');
    out.push_back('(');
    AppendQuoted(out, pairs[i].first);
    out.push_back(' ');
    AppendQuoted(out, pairs[i].second);
    out.push_back(')');
  }
  out.push_back(')');
  return out;
}

std::string Canonical(std::string_view text, bool is_map) {
  return is_map ? PrintMap(ParseMap(text)) : PrintSet(ParseSet(text));
}

}  // namespace xgdb::sexpr
