#include "server/request_reader.h"

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/asio/buffer.hpp>

namespace xgdb::server {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kProxy = "PROXY ";
constexpr std::string_view kFrame = "FRAME ";
constexpr size_t kFramePrefix = 18;  // "FRAME " + 12 digits
// PROXY v1 lines are at most 107 bytes including CRLF (haproxy's spec).
constexpr size_t kMaxProxyLine = 108;

// True when `buffer` is shorter than `word` and could still become it.
bool IsPrefixOf(std::string_view buffer, std::string_view word) {
  return buffer.size() < word.size() && word.substr(0, buffer.size()) == buffer;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
        HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

RequestReader::Status RequestReader::Parse(std::string_view buffer, bool connection_start) {
  head_ = RequestHead();
  head_bytes_ = 0;
  size_t offset = 0;
  if (connection_start) {
    if (IsPrefixOf(buffer, kProxy)) return Status::kNeedMore;
    if (buffer.substr(0, kProxy.size()) == kProxy) {
      size_t eol = buffer.find("\r\n");
      if (eol == std::string_view::npos) {
        return buffer.size() >= kMaxProxyLine ? Status::kTooLarge : Status::kNeedMore;
      }
      if (eol + 2 > kMaxProxyLine) return Status::kTooLarge;
      proxy_ = std::string(buffer.substr(kProxy.size(), eol - kProxy.size()));
      offset = eol + 2;
    }
  }
  std::string_view rest = buffer.substr(offset);
  if (IsPrefixOf(rest, kFrame)) return Status::kNeedMore;
  std::string_view block;
  if (rest.substr(0, kFrame.size()) == kFrame) {
    if (rest.size() < kFramePrefix) return Status::kNeedMore;
    size_t length = 0;
    for (size_t i = kFrame.size(); i < kFramePrefix; ++i) {
      char c = rest[i];
      if (c < '0' || c > '9') return Status::kMalformed;
      length = length * 10 + static_cast<size_t>(c - '0');
    }
    if (length > max_header_) return Status::kTooLarge;
    if (rest.size() < kFramePrefix + length) return Status::kNeedMore;
    block = rest.substr(kFramePrefix, length);
    head_bytes_ = offset + kFramePrefix + length;
    Status s = ParseBlock(block);
    head_.framed = true;
    return s;
  }
  size_t end = rest.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return rest.size() > max_header_ ? Status::kTooLarge : Status::kNeedMore;
  }
  if (end + 4 > max_header_) return Status::kTooLarge;
  block = rest.substr(0, end + 4);
  head_bytes_ = offset + end + 4;
  return ParseBlock(block);
}

RequestReader::Status RequestReader::ParseBlock(std::string_view block) {
  http::request_parser<http::empty_body> parser;
  parser.eager(false);
  parser.header_limit(static_cast<uint32_t>(block.size() + 1));
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(block.data(), block.size()), ec);
  if (ec || !parser.is_header_done() || used != block.size()) return Status::kMalformed;
  const auto& msg = parser.get();
  head_.method = std::string(msg.method_string());
  head_.target = std::string(msg.target());
  head_.path = head_.target.substr(0, head_.target.find('?'));
  if (msg.version() / 10 != 1) return Status::kMalformed;
  head_.http_minor = msg.version() == 10 ? 0 : 1;
  head_.keep_alive = msg.keep_alive();
  if (parser.content_length()) head_.content_length = *parser.content_length();
  auto cookie = msg.find(http::field::cookie);
  if (cookie != msg.end()) head_.cookie = std::string(cookie->value());
  auto task = msg.find(kTaskHeader);
  if (task != msg.end()) head_.task = std::string(task->value());
  auto lock = msg.find(kLockHeader);
  if (lock != msg.end()) head_.lock = std::string(lock->value());
  return Status::kHead;
}

std::optional<std::string> FindCookie(std::string_view header, std::string_view name) {
  char sep = header.find(';') != std::string_view::npos ? ';' : '&';
  while (!header.empty()) {
    size_t cut = header.find(sep);
    std::string_view item = header.substr(0, cut);
    header = cut == std::string_view::npos ? std::string_view() : header.substr(cut + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    if (PercentDecode(Trim(item.substr(0, eq))) == name) {
      return PercentDecode(Trim(item.substr(eq + 1)));
    }
  }
  return std::nullopt;
}

}  // namespace xgdb::server
