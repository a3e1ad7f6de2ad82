#include "store/name_codec.h"

#include <git2.h>

#include "store/git_ptr.h"

namespace xgdb::store {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 when the
// byte does not start one (overlong forms, surrogates and code points above
// U+10FFFF are not valid).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

void AppendEscaped(std::string& out, unsigned char c) {
  out.push_back('%');
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xF]);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lowercase is not canonical
}

}  // namespace

std::string EscapeName(std::string_view raw) {
  if (raw.empty()) return "%";
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (i == 0 && c == '.') {  // ".", "..", ".git", hidden files
      AppendEscaped(out, c);
      ++i;
      continue;
    }
    if (c == '%' || c == '/' || c < 0x20 || c == 0x7F) {
      AppendEscaped(out, c);
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(raw, i);
    if (len == 0) {  // not UTF-8: keep the byte, escaped
      AppendEscaped(out, c);
      ++i;
      continue;
    }
    out.append(raw.substr(i, len));
    i += len;
  }
  return out;
}

std::string HashedName(std::string_view raw) {
  EnsureLibgit2();
  git_oid id;
  Check(git_odb_hash(&id, raw.data(), raw.size(), GIT_OBJECT_BLOB), "hashing a name");
  return "%H" + OidHex(id);
}

std::string EncodeName(std::string_view raw) {
  std::string escaped = EscapeName(raw);
  if (escaped.size() <= kMaxInlineName) return escaped;
  return HashedName(raw);
}

bool IsHashedName(std::string_view entry) {
  if (entry.size() != 2 + GIT_OID_HEXSZ || entry.substr(0, 2) != "%H") return false;
  for (char c : entry.substr(2)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<std::string> DecodeName(std::string_view entry) {
  if (entry == "%") return std::string();
  if (entry.empty() || entry.size() > kMaxInlineName) return std::nullopt;
  std::string raw;
  raw.reserve(entry.size());
  for (size_t i = 0; i < entry.size(); ++i) {
    if (entry[i] != '%') {
      raw.push_back(entry[i]);
      continue;
    }
    if (i + 2 >= entry.size()) return std::nullopt;
    int hi = HexValue(entry[i + 1]), lo = HexValue(entry[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    raw.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  // Exactness: only the one canonical spelling decodes (no needless escapes,
  // no bare `/` or control bytes, no leading `.`).
  if (EscapeName(raw) != entry) return std::nullopt;
  return raw;
}

}  // namespace xgdb::store
