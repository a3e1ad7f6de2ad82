// xapi refuses (write_field) or cuts (structured ops) values that are not
// valid UTF-8 or hold characters XML 1.0 cannot carry: a state.db or a v1
// answer must stay well-formed (remote-db-protocol.md 4.2, 4.4).
#ifndef XGDB_DB_XML_UTF8_H_
#define XGDB_DB_XML_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace xgdb::db {

// XML 1.0 {Char}: what may appear in a document at all, raw or as &#N;.
bool IsXmlChar(uint32_t code_point);

// Length of the longest prefix of `s` made of whole, valid UTF-8 sequences
// encoding XML Chars (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
// [#x10000-#x10FFFF]).
size_t ValidXmlUtf8Prefix(std::string_view s);
inline bool IsValidXmlUtf8(std::string_view s) { return ValidXmlUtf8Prefix(s) == s.size(); }

// Appends `code_point` (at most 0x10FFFF) as UTF-8. Surrogates are encoded
// like any other code point (as yojson does for a lone low surrogate): the
// checks above refuse them later.
void AppendUtf8(std::string& out, uint32_t code_point);

}  // namespace xgdb::db

#endif  // XGDB_DB_XML_UTF8_H_
