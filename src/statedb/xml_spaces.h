// xapi's whitespace protection of state.db attribute values
// (ocaml/database/xml_spaces.ml; xapi-data-model.md 1.4).
//
// An XML parser normalises attribute values (TAB/LF/CR become spaces, and
// with some settings runs of spaces collapse), so xapi encodes whitespace and
// `%` before writing: space "%.", TAB "%t", LF "%n", CR "%r", `%` "%%".
// Files written before Oct 2017 kept single spaces raw and wrote a pair of
// spaces as "%_"; Unprotect reads both forms.
#ifndef XGDB_STATEDB_XML_SPACES_H_
#define XGDB_STATEDB_XML_SPACES_H_

#include <string>
#include <string_view>

namespace xgdb::statedb {

// The current (post-2017) protection of `value`.
std::string Protect(std::string_view value);
// Reverses Protect and the old "%_" form. A `%` followed by anything else,
// or at the end, stays literally (as xapi does).
std::string Unprotect(std::string_view value);
// Appends `value` protected and then XML-escaped for a `"`-delimited
// attribute, exactly as xapi's writer does: `<` `>` `&` `"` become entities,
// the apostrophe stays raw. One pass, for the writer's hot loop.
void AppendProtectedAttribute(std::string_view value, std::string* out);
// Appends `value` XML-escaped only (for refs, table names, manifest values,
// which xapi writes without whitespace protection).
void AppendEscapedAttribute(std::string_view value, std::string* out);

}  // namespace xgdb::statedb

#endif  // XGDB_STATEDB_XML_SPACES_H_
