// xapi refuses (write_field) or cuts (structured ops) values that are not
// valid UTF-8 or hold characters XML 1.0 cannot carry: a state.db or a v1
// answer must stay well-formed (remote-db-protocol.md 4.2, 4.4).
#ifndef XGDB_DB_XML_UTF8_H_
#define XGDB_DB_XML_UTF8_H_

#include <cstddef>
#include <string_view>

namespace xgdb::db {

// Length of the longest prefix of `s` made of whole, valid UTF-8 sequences
// encoding XML Chars (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
// [#x10000-#x10FFFF]).
size_t ValidXmlUtf8Prefix(std::string_view s);
inline bool IsValidXmlUtf8(std::string_view s) { return ValidXmlUtf8Prefix(s) == s.size(); }

}  // namespace xgdb::db

#endif  // XGDB_DB_XML_UTF8_H_
