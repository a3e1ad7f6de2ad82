#include "event/token.h"

#include <cinttypes>
#include <cstdio>

#include "xgdb/error.h"

namespace xgdb::event {

namespace {

constexpr size_t kDigits = 20;
constexpr size_t kHex = 40;
constexpr size_t kTokenSize = kDigits + 1 + kHex + 1 + kDigits;

bool AllDigits(const std::string& s, size_t from, size_t n) {
  for (size_t i = from; i < from + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

bool AllHex(const std::string& s, size_t from, size_t n) {
  for (size_t i = from; i < from + n; ++i) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string FormatToken(const Position& p) {
  char gen[32], stamp[32];
  std::snprintf(gen, sizeof gen, "%020" PRId64, p.generation);
  std::snprintf(stamp, sizeof stamp, "%020" PRIu64, p.stamp);
  return std::string(gen) + "." + p.commit + "," + stamp;
}

std::optional<Position> ParseToken(const std::string& token) {
  if (token.empty()) return std::nullopt;
  auto fail = [&]() {
    return Error(ErrorKind::kInvalidArgument, "EVENT_FROM_TOKEN_PARSE_FAILURE: '" + token + "'",
                 {"EVENT_FROM_TOKEN_PARSE_FAILURE", token});
  };
  if (token.size() != kTokenSize || token[kDigits] != '.' || token[kDigits + 1 + kHex] != ',' ||
      !AllDigits(token, 0, kDigits) || !AllHex(token, kDigits + 1, kHex) ||
      !AllDigits(token, kDigits + 1 + kHex + 1, kDigits)) {
    throw fail();
  }
  Position p;
  try {
    p.generation = std::stoll(token.substr(0, kDigits));
    p.commit = token.substr(kDigits + 1, kHex);
    p.stamp = std::stoull(token.substr(kDigits + 1 + kHex + 1));
  } catch (const std::exception&) {  // out of range
    throw fail();
  }
  return p;
}

}  // namespace xgdb::event
