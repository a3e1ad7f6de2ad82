// The XML used by v1 of xapi's remote database protocol, read and written
// exactly as xapi does (remote-db-protocol.md 2.1).
//
// Reading (xml_reader.cc) reproduces xapi's parse pipeline (xmlm under
// xml-light2): the document must be well-formed XML in UTF-8 (or a declared
// ASCII/Latin-1), CR LF and lone CR become LF, text made only of
// space/TAB/LF is dropped, comments, processing instructions, a DOCTYPE and
// CDATA are accepted, and nothing after the end of the root element is read
// at all (xmlm stops at the root's closing '>'). Every problem throws
// Error(kBadRequest): xapi answers those with HTTP 500.
//
// Writing reproduces Xml.to_string of XMLRPC.To values: no whitespace, no
// declaration, `<value/>` for "", escapes of & < > " only, and bytes
// 0x00-0x1F other than TAB/LF/CR silently dropped.
#ifndef XGDB_RPC_XML_VALUE_H_
#define XGDB_RPC_XML_VALUE_H_

#include <string>
#include <string_view>
#include <vector>

namespace xgdb::rpc {

// One node of a parsed document, as xml-light2 hands it to XMLRPC.From.
struct XmlNode {
  bool is_text = false;
  std::string text;              // text nodes: the decoded character data
  std::string name;              // elements: the local name
  bool has_attributes = false;   // XMLRPC.From refuses any attribute
  std::vector<XmlNode> children;
};

// Nesting deeper than this is refused (a guard against stack exhaustion;
// real requests nest at most a dozen levels plus the filter's depth).
inline constexpr int kMaxXmlDepth = 512;

// Parses a whole request body. Throws Error(kBadRequest).
XmlNode ParseXml(std::string_view document);

// XMLRPC.From, the subset the protocol uses. All throw Error(kBadRequest)
// when the node does not have exactly the expected shape.
std::string XmlToString(const XmlNode& value);
// The elements of <value><array><data>...</data></array></value>.
const std::vector<XmlNode>& XmlToArray(const XmlNode& value);
bool XmlToBool(const XmlNode& value);

// Builds one XMLRPC.To value tree directly as text.
class XmlWriter {
 public:
  void String(std::string_view s);
  void Bool(bool b);
  void BeginArray();
  void EndArray();
  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();
  std::string out_;
  std::vector<bool> open_;  // per open array: has it got an element yet?
};

// Appends `s` escaped as xml-light2's printer does.
void AppendXmlEscaped(std::string& out, std::string_view s);

}  // namespace xgdb::rpc

#endif  // XGDB_RPC_XML_VALUE_H_
