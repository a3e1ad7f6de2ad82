// The order of a Set or Map column's members, and its exact text
// (docs/format.md, "Member order").
//
// A directory lists its entries in git's order, but xapi keeps a set or map
// as a list: `add_to_map` puts the new pair first, `write_field` keeps the
// order it was given. Two optional files inside the column's directory keep
// what the entries alone cannot say:
//
//   %order     the member entry names in xapi's order, one per line; absent
//              when that order is git's tree order
//   %verbatim  the column's exact text, when it is not the canonical print
//              of its members in that order (create_row keeps what it was
//              sent: extra spaces, double quotes, repeated members)
//
// Neither name can be an encoded member name ("%o" and "%v" are not escapes,
// name_codec.h), so they never collide with a member.
#ifndef XGDB_STORE_MEMBER_ORDER_H_
#define XGDB_STORE_MEMBER_ORDER_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schema/sexpr.h"

namespace xgdb::store {

inline constexpr char kOrderEntry[] = "%order";
inline constexpr char kVerbatimEntry[] = "%verbatim";

// True for %order and %verbatim: entries of a column directory that are not
// members.
bool IsColumnNote(std::string_view entry);

// A set or map text as the directory stores it: each element or key once,
// the first occurrence kept (what xapi's List.assoc finds, and the entry
// AddMap keeps in front). Error(kParse) when the text does not parse.
sexpr::StringSet DistinctSet(std::string_view text);
sexpr::StringMap DistinctMap(std::string_view text);

// The text of %order for member entry names in `order`.
std::string OrderText(const std::vector<std::string>& order);

// The members of a column in xapi's order: `names` are the member entry
// names in tree order, `order_text` the content of %order (nullopt: none).
// Error(kCorrupt) naming `path` when %order does not list exactly these
// names, each once.
std::vector<std::string> MemberOrder(const std::vector<std::string>& names,
                                     const std::optional<std::string>& order_text,
                                     const std::string& path);

// The order of a column both sides of a merge changed (docs/merge.md,
// "Member order"): first the members either side added (not in base), in
// the order of the side that added them (both did: the smaller list by
// content first, then the other's); then the rest in the order of the side
// that reordered the members all three hold (neither or both: the smaller
// list by content), the other side's after it. Symmetric: swapping ours
// and theirs gives the same order. `merged` is in tree order; the result
// is a permutation of it.
std::vector<std::string> MergeMemberOrder(const std::vector<std::string>& base,
                                          const std::vector<std::string>& ours,
                                          const std::vector<std::string>& theirs,
                                          const std::vector<std::string>& merged);

}  // namespace xgdb::store

#endif  // XGDB_STORE_MEMBER_ORDER_H_
