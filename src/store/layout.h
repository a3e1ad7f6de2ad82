// Where things live in a commit's tree (docs/format.md, "Layout").
//
//   meta/format                         "xapi-gitdb format 1\n"
//   meta/schema.json                    the schema the data follows
//   meta/generation                     xapi's generation count at import
//                                       (optional, decimal + "\n")
//   xapi/<table>/<bucket>/<ref>/<col>   one entry per stored column
//
// Every path segment below xapi/ is a name encoded by name_codec.h.
#ifndef XGDB_STORE_LAYOUT_H_
#define XGDB_STORE_LAYOUT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace xgdb::store {

inline constexpr char kFormatPath[] = "meta/format";
inline constexpr char kFormatText[] = "xapi-gitdb format 1\n";
inline constexpr char kSchemaPath[] = "meta/schema.json";
inline constexpr char kGenerationPath[] = "meta/generation";
inline constexpr char kGenerationEntry[] = "generation";  // inside meta/
// The largest generation count meta/generation holds (18 digits).
inline constexpr int64_t kMaxGeneration = 999'999'999'999'999'999;
inline constexpr char kDataDir[] = "xapi";
inline constexpr char kMasterRef[] = "refs/heads/master";
// Inside a hashed-name directory (name_codec.h): the raw name, and for map
// entries the value.
inline constexpr char kHashedNameEntry[] = "name";
inline constexpr char kHashedValueEntry[] = "value";

// The fan-out directory of a row: the two characters after "OpaqueRef:" when
// they are lowercase hex digits (xapi's refs are random UUIDs), else the
// first two hex digits of the git blob id of the ref.
std::string Bucket(std::string_view ref);
// True when `name` could be a bucket ("00".."ff").
bool IsBucketName(std::string_view name);

// "xapi/<enc table>" and "xapi/<enc table>/<bucket>/<enc ref>" (no trailing /).
std::string TableDir(std::string_view table);
std::string RowDir(std::string_view table, std::string_view ref);

}  // namespace xgdb::store

#endif  // XGDB_STORE_LAYOUT_H_
