#include "rpc/xml_value.h"

#include "xgdb/error.h"

namespace xgdb::rpc {
namespace {

[[noreturn]] void Shape(const char* expected) {
  throw Error(ErrorKind::kBadRequest, std::string("v1 request: expected ") + expected);
}

bool IsElement(const XmlNode& n, const char* name) {
  return !n.is_text && !n.has_attributes && n.name == name;
}

// XMLRPC.From.singleton: element `name` with exactly one child.
const XmlNode& Singleton(const XmlNode& n, const char* name) {
  if (!IsElement(n, name) || n.children.size() != 1) Shape(name);
  return n.children[0];
}

}  // namespace

std::string XmlToString(const XmlNode& v) {
  if (!IsElement(v, "value")) Shape("a string <value>");
  if (v.children.empty()) return "";
  if (v.children.size() == 1) {
    const XmlNode& c = v.children[0];
    if (c.is_text) return c.text;
    if (IsElement(c, "string")) {
      if (c.children.empty()) return "";
      if (c.children.size() == 1 && c.children[0].is_text) return c.children[0].text;
    }
  }
  Shape("a string");
}

const std::vector<XmlNode>& XmlToArray(const XmlNode& v) {
  const XmlNode& data = Singleton(Singleton(v, "value"), "array");
  if (!IsElement(data, "data")) Shape("<data>");
  return data.children;
}

bool XmlToBool(const XmlNode& v) {
  const XmlNode& b = Singleton(Singleton(v, "value"), "boolean");
  return !(b.is_text && b.text == "0");
}

void AppendXmlEscaped(std::string& out, std::string_view s) {
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        // xml-light2 drops what XML cannot carry rather than failing.
        if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') out += ch;
    }
  }
}

void XmlWriter::BeforeValue() {
  if (!open_.empty() && !open_.back()) {
    out_ += '>';
    open_.back() = true;
  }
}

void XmlWriter::String(std::string_view s) {
  BeforeValue();
  if (s.empty()) {
    out_ += "<value/>";
    return;
  }
  out_ += "<value>";
  AppendXmlEscaped(out_, s);
  out_ += "</value>";
}

void XmlWriter::Bool(bool b) {
  BeforeValue();
  out_ += b ? "<value><boolean>1</boolean></value>" : "<value><boolean>0</boolean></value>";
}

void XmlWriter::BeginArray() {
  BeforeValue();
  out_ += "<value><array><data";
  open_.push_back(false);
}

void XmlWriter::EndArray() {
  out_ += open_.back() ? "</data></array></value>" : "/></array></value>";
  open_.pop_back();
}

}  // namespace xgdb::rpc
