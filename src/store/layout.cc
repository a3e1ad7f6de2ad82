#include "store/layout.h"

#include "store/name_codec.h"

namespace xgdb::store {
namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

std::string Bucket(std::string_view ref) {
  constexpr std::string_view kPrefix = "OpaqueRef:";
  if (ref.size() >= kPrefix.size() + 2 && ref.substr(0, kPrefix.size()) == kPrefix &&
      IsLowerHex(ref[kPrefix.size()]) && IsLowerHex(ref[kPrefix.size() + 1])) {
    return std::string(ref.substr(kPrefix.size(), 2));
  }
  // HashedName is "%H" + 40 lowercase hex of the blob id.
  return HashedName(ref).substr(2, 2);
}

bool IsBucketName(std::string_view name) {
  return name.size() == 2 && IsLowerHex(name[0]) && IsLowerHex(name[1]);
}

std::string TableDir(std::string_view table) {
  return std::string(kDataDir) + "/" + EncodeName(table);
}

std::string RowDir(std::string_view table, std::string_view ref) {
  return TableDir(table) + "/" + Bucket(ref) + "/" + EncodeName(ref);
}

}  // namespace xgdb::store
