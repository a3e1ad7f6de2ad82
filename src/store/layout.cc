#include "store/layout.h"

#include <cctype>

#include "store/name_codec.h"

namespace xgdb::store {
namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// The hex digits the fan-out directories are cut from: the ref's own
// (free, and readable in `git ls-tree`) when it has enough, else its hash.
std::string_view FanoutKey(std::string_view ref, size_t digits, std::string* hashed) {
  constexpr std::string_view kPrefix = "OpaqueRef:";
  if (ref.size() >= kPrefix.size() + digits && ref.substr(0, kPrefix.size()) == kPrefix) {
    std::string_view key = ref.substr(kPrefix.size(), digits);
    bool hex = true;
    for (char c : key) hex = hex && IsLowerHex(c);
    if (hex) return key;
  }
  *hashed = HashedName(ref);  // "%H" + 40 lowercase hex of the blob id
  return std::string_view(*hashed).substr(2, digits);
}

}  // namespace

std::string BucketPath(std::string_view ref, Fanout fanout) {
  std::string hashed;
  std::string_view key = FanoutKey(ref, size_t(fanout.levels) * size_t(fanout.width), &hashed);
  std::string out;
  out.reserve(key.size() + size_t(fanout.levels));
  for (int level = 0; level < fanout.levels; ++level) {
    if (level > 0) out += '/';
    out += key.substr(size_t(level) * size_t(fanout.width), size_t(fanout.width));
  }
  return out;
}

bool IsHostUuid(std::string_view uuid) {
  if (uuid.empty() || uuid.size() > 64) return false;
  for (char c : uuid) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

bool IsBucketName(std::string_view name, Fanout fanout) {
  if (name.size() != size_t(fanout.width)) return false;
  for (char c : name) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

std::string TableDir(std::string_view table) {
  return std::string(kDataDir) + "/" + EncodeName(table);
}

std::string RowDir(std::string_view table, std::string_view ref, Fanout fanout) {
  return TableDir(table) + "/" + BucketPath(ref, fanout) + "/" + EncodeName(ref);
}

}  // namespace xgdb::store
