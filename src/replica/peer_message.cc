#include "replica/peer_message.h"

#include <cctype>

#include <nlohmann/json.hpp>

#include "store/layout.h"
#include "xgdb/error.h"

namespace xgdb::replica {

namespace {

bool IsCommitId(std::string_view id) {
  if (id.size() != 40) return false;
  for (char c : id) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

[[noreturn]] void Bad(const std::string& what) {
  throw Error(ErrorKind::kInvalidArgument, "bad peer message: " + what);
}

std::string Text(const nlohmann::json& header, const char* key) {
  auto it = header.find(key);
  if (it == header.end()) return "";
  if (!it->is_string()) Bad(std::string(key) + " is not a string");
  return it->get<std::string>();
}

}  // namespace

std::string EncodePeerMessage(const PeerMessage& m) {
  nlohmann::json header = nlohmann::json::object();
  if (!m.call.empty()) header["call"] = m.call;
  header["from"] = m.from;
  header["heads"] = m.heads;
  if (!m.master.empty()) header["master"] = m.master;
  if (!m.digest.empty()) header["digest"] = m.digest;
  if (m.partial) header["partial"] = true;
  if (m.time_ms > 0) header["time_ms"] = m.time_ms;
  if (!m.error.empty()) header["error"] = {{"kind", m.error_kind}, {"message", m.error}};
  if (!m.protocol.empty()) header["protocol"] = m.protocol;
  if (!m.lock.empty()) header["lock"] = m.lock;
  if (m.status != 0) header["status"] = m.status;
  if (!m.body.empty()) header["body_bytes"] = m.body.size();
  return header.dump() + "\n" + m.body + m.pack;
}

PeerMessage DecodePeerMessage(std::string_view bytes) {
  size_t eol = bytes.find('\n');
  if (eol == std::string_view::npos) Bad("no header line");
  nlohmann::json header = nlohmann::json::parse(bytes.substr(0, eol), nullptr, false);
  if (!header.is_object()) Bad("the header is not a JSON object");
  PeerMessage m;
  m.call = Text(header, "call");
  if (!m.call.empty() && m.call != "push" && m.call != "fetch" && m.call != "forward") {
    Bad("unknown call " + m.call);
  }
  m.from = Text(header, "from");
  if (!store::IsHostUuid(m.from)) Bad("from is not a host uuid");
  m.master = Text(header, "master");
  if (!m.master.empty() && !IsCommitId(m.master)) Bad("master is not a commit id");
  m.digest = Text(header, "digest");
  if (!m.digest.empty() && !IsCommitId(m.digest)) Bad("digest is not 40 hex digits");
  if (auto partial = header.find("partial"); partial != header.end()) {
    if (!partial->is_boolean()) Bad("partial is not a boolean");
    m.partial = partial->get<bool>();
  }
  if (auto time = header.find("time_ms"); time != header.end()) {
    if (!time->is_number_integer() || time->get<int64_t>() < 0) Bad("time_ms is not a count");
    m.time_ms = time->get<int64_t>();
  }
  if (auto heads = header.find("heads"); heads != header.end()) {
    if (!heads->is_object()) Bad("heads is not an object");
    constexpr size_t kMaxHosts = 4096;  // xapi's pools are 64 hosts at most
    if (heads->size() > kMaxHosts) Bad("more than 4096 heads");
    for (const auto& [host, head] : heads->items()) {
      if (!store::IsHostUuid(host)) Bad("'" + host.substr(0, 80) + "' is not a host uuid");
      if (!head.is_string() || !IsCommitId(head.get<std::string>())) {
        Bad("the head of " + host + " is not a commit id");
      }
      m.heads[host] = head.get<std::string>();
    }
  }
  if (auto error = header.find("error"); error != header.end()) {
    if (!error->is_object()) Bad("error is not an object");
    m.error_kind = error->value("kind", "");
    m.error = error->value("message", "refused");
  }
  m.protocol = Text(header, "protocol");
  m.lock = Text(header, "lock");
  if (m.call == "forward" && m.protocol != "v1" && m.protocol != "v2") {
    Bad("a forward's protocol is not v1 or v2");
  }
  if (auto status = header.find("status"); status != header.end()) {
    if (!status->is_number_integer() || status->get<int64_t>() < 100 ||
        status->get<int64_t>() > 599) {
      Bad("status is not an HTTP status");
    }
    m.status = status->get<int>();
  }
  std::string_view tail = bytes.substr(eol + 1);
  if (auto length = header.find("body_bytes"); length != header.end()) {
    if (!length->is_number_unsigned() || length->get<uint64_t>() > tail.size()) {
      Bad("body_bytes is not a length within the message");
    }
    m.body = std::string(tail.substr(0, length->get<size_t>()));
    tail.remove_prefix(m.body.size());
  }
  m.pack = std::string(tail);
  return m;
}

}  // namespace xgdb::replica
