// The reversible encoding of names (tables, refs, columns, set elements,
// map keys) into git tree entry names. See docs/format.md, "Names".
//
// Names from the wire are arbitrary bytes; a tree entry name must not
// contain `/` or NUL, must not be `.`, `..` or `.git`, should stay well
// below file system limits and should be printable. Ordinary names (refs,
// uuids, `vm-data`, unicode text) are kept as they are.
#ifndef XGDB_STORE_NAME_CODEC_H_
#define XGDB_STORE_NAME_CODEC_H_

#include <optional>
#include <string>
#include <string_view>

namespace xgdb::store {

// Longest encoded name kept inline; longer ones are stored hashed.
constexpr size_t kMaxInlineName = 200;

// The inline (percent-escaped) form of `raw`, whatever its length.
std::string EscapeName(std::string_view raw);

// The tree entry name for `raw`: EscapeName(raw) when it fits in
// kMaxInlineName bytes, else HashedName(raw).
std::string EncodeName(std::string_view raw);

// "%H" + the git blob id (40 hex) of `raw`: `printf %s RAW | git hash-object --stdin`.
std::string HashedName(std::string_view raw);

// True when `entry` has the shape of a hashed name ("%H" + 40 lowercase hex).
// Such an entry is a directory holding the raw name (docs/format.md).
bool IsHashedName(std::string_view entry);

// The raw name of an inline entry name, or nullopt when `entry` is not
// exactly what EncodeName produces for some name (so decoding is exact and
// every raw name has one encoding). Hashed names are not decoded here: the
// caller reads the `name` blob and checks it with HashedName().
std::optional<std::string> DecodeName(std::string_view entry);

}  // namespace xgdb::store

#endif  // XGDB_STORE_NAME_CODEC_H_
