// Set and Map values as xapi writes them: S-expression text
// (remote-db-protocol.md 4.2, xapi-data-model.md 3).
//
//   set "('a' 'b')"   map "(('k1' 'v1') ('k2' 'v2'))"   empty "()"
//
// Printing is canonical: single quotes, one space between items, only `\`
// and `'` escaped. Parsing accepts everything xapi's reader does (double
// quotes, comments, extra whitespace, the pre-2025 `\"`, trailing text after
// the first expression). Errors throw xgdb::Error(kParse).
#ifndef XGDB_SCHEMA_SEXPR_H_
#define XGDB_SCHEMA_SEXPR_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xgdb::sexpr {

using StringSet = std::vector<std::string>;
using StringMap = std::vector<std::pair<std::string, std::string>>;

StringSet ParseSet(std::string_view text);
StringMap ParseMap(std::string_view text);
std::string PrintSet(const StringSet& elements);
std::string PrintMap(const StringMap& pairs);
// The canonical text of `text` read as a set or map (used by filters).
std::string Canonical(std::string_view text, bool is_map);

}  // namespace xgdb::sexpr

#endif  // XGDB_SCHEMA_SEXPR_H_
