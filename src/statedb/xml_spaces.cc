#include "statedb/xml_spaces.h"

namespace xgdb::statedb {

std::string Protect(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (char c : value) {
    switch (c) {
      case ' ': out += "%."; break;
      case '\t': out += "%t"; break;
      case '\n': out += "%n"; break;
      case '\r': out += "%r"; break;
      case '%': out += "%%"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Unprotect(std::string_view value) {
  // Fast path: most values (refs, numbers, enums) contain no `%` at all.
  if (value.find('%') == std::string_view::npos) return std::string(value);
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c != '%' || i + 1 == value.size()) {
      out += c;
      continue;
    }
    switch (value[i + 1]) {
      case '_': out += "  "; break;
      case '.': out += ' '; break;
      case 't': out += '\t'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case '%': out += '%'; break;
      default: out += c; continue;  // keep the `%`, look at the next char anew
    }
    ++i;
  }
  return out;
}

void AppendProtectedAttribute(std::string_view value, std::string* out) {
  for (char c : value) {
    switch (c) {
      case ' ': out->append("%.", 2); break;
      case '\t': out->append("%t", 2); break;
      case '\n': out->append("%n", 2); break;
      case '\r': out->append("%r", 2); break;
      case '%': out->append("%%", 2); break;
      case '<': out->append("&lt;", 4); break;
      case '>': out->append("&gt;", 4); break;
      case '&': out->append("&amp;", 5); break;
      case '"': out->append("&quot;", 6); break;
      default: out->push_back(c);
    }
  }
}

void AppendEscapedAttribute(std::string_view value, std::string* out) {
  for (char c : value) {
    switch (c) {
      case '<': out->append("&lt;", 4); break;
      case '>': out->append("&gt;", 4); break;
      case '&': out->append("&amp;", 5); break;
      case '"': out->append("&quot;", 6); break;
      default: out->push_back(c);
    }
  }
}

}  // namespace xgdb::statedb
