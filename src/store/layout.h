// Where things live in a commit's tree (docs/format.md, "Layout").
//
//   meta/format                         "xapi-gitdb format 3\n"
//   meta/schema.json                    the schema the data follows
//   meta/generation                     xapi's generation count at import
//                                       (optional, decimal + "\n")
//   xapi/<table>/<h>/<h>/<h>/<h>/<ref>/<col>
//                                       one entry per stored column; each <h>
//                                       one hex digit of the ref's fan-out key;
//                                       a set/map column is a directory of
//                                       members (+ %order, %verbatim)
//
// Every path segment below xapi/ other than the fan-out digits is a name
// encoded by name_codec.h.
#ifndef XGDB_STORE_LAYOUT_H_
#define XGDB_STORE_LAYOUT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace xgdb::store {

inline constexpr char kFormatPath[] = "meta/format";
inline constexpr char kFormatText[] = "xapi-gitdb format 3\n";
// Format 2 is format 3 without member order (member_order.h): its trees
// are read as they are, and a repository is marked format 3 on its first
// writable open (Store::Open).
inline constexpr char kFormat2Text[] = "xapi-gitdb format 2\n";
// Format 1 (one level of 256 buckets) is still read, so that a repository
// written by an earlier release can be upgraded (Store::Open) and its old
// commits read whole (LoadAt); it is never written.
inline constexpr char kFormat1Text[] = "xapi-gitdb format 1\n";
inline constexpr char kSchemaPath[] = "meta/schema.json";
inline constexpr char kGenerationPath[] = "meta/generation";
inline constexpr char kGenerationEntry[] = "generation";  // inside meta/
// The largest generation count meta/generation holds (18 digits).
inline constexpr int64_t kMaxGeneration = 999'999'999'999'999'999;
inline constexpr char kDataDir[] = "xapi";
inline constexpr char kMasterRef[] = "refs/heads/master";
// Each host's own line of commits (docs/replication.md): refs/hosts/<uuid>.
inline constexpr char kHostRefPrefix[] = "refs/hosts/";
// Whether `uuid` may name a host ref (refs/hosts/<uuid>): 1-64 letters,
// digits and '-'. Names from the wire never reach the file system otherwise.
bool IsHostUuid(std::string_view uuid);
// <repo>/xgdb-host: the uuid of the host whose repository it is.
inline constexpr char kHostFile[] = "xgdb-host";
// Inside a hashed-name directory (name_codec.h): the raw name, and for map
// entries the value.
inline constexpr char kHashedNameEntry[] = "name";
inline constexpr char kHashedValueEntry[] = "value";

// How a table's rows fan out: `levels` directories between the table and
// a row, each named by `width` hex digits of the row's fan-out key (the
// characters after "OpaqueRef:" when they are lowercase hex digits, as in
// xapi's random-UUID refs, else the git blob id of the ref).
struct Fanout {
  int levels;
  int width;
  bool operator==(const Fanout&) const = default;
};
// Format 2: 16 x 16 x 16 x 16. Every tree on the way to a row has at most
// 16 entries, and a leaf holds ~1.5 rows at 100,000 rows of one table, so
// what a changed row costs does not depend on the table's size
// (docs/format.md, "Fan-out").
inline constexpr Fanout kFanout{4, 1};
inline constexpr Fanout kFormat1Fanout{1, 2};

// The fan-out directories of a row, "3/a/4/b" (no leading or trailing /).
std::string BucketPath(std::string_view ref, Fanout fanout = kFanout);
// True when `name` could be one fan-out directory of `fanout`.
bool IsBucketName(std::string_view name, Fanout fanout = kFanout);

// "xapi/<enc table>" and "xapi/<enc table>/<buckets>/<enc ref>" (no
// trailing /), in the current format.
std::string TableDir(std::string_view table);
std::string RowDir(std::string_view table, std::string_view ref, Fanout fanout = kFanout);

}  // namespace xgdb::store

#endif  // XGDB_STORE_LAYOUT_H_
