#include "server/response_writer.h"

#include <cstdio>

namespace xgdb::server {

namespace {

const char* Version(int http_minor) { return http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1"; }

struct ErrorText {
  int status;
  const char* reason;
  const char* body;
};

// Reason phrases as xapi prints them ("Unauthorised", "Internal Error").
// The bodies are ours; clients never read them.
constexpr ErrorText kErrors[] = {
    {401, "Unauthorised",
     "<html><body><h1>HTTP 401 unauthorised</h1>Credentials are missing.</body></html>"},
    {403, "Forbidden",
     "<html><body><h1>HTTP 403 forbidden</h1>Access denied.</body></html>"},
    {408, "Request Timeout",
     "<html><body><h1>HTTP 408 request timeout</h1>The request did not arrive in time."
     "</body></html>"},
    {431, "Request Header Fields Too Large",
     "<html><body><h1>HTTP 431 request header fields too large</h1>The header block is "
     "too long.</body></html>"},
    {500, "Internal Error",
     "<html><body><h1>HTTP 500 internal server error</h1>The request could not be "
     "served; retry later.</body></html>"},
    {501, "Method not implemented",
     "<html><body><h1>HTTP 501 Method Not Implemented</h1></body></html>"},
};

}  // namespace

std::string FormatOkResponse(bool framed, int http_minor, bool keep_alive,
                             std::string_view body) {
  std::string head;
  head.reserve(128);
  head += Version(http_minor);
  head += " 200 OK\r\ncontent-length: ";
  head += std::to_string(body.size());
  head += keep_alive ? "\r\nconnection: keep-alive" : "\r\nconnection: close";
  head += "\r\ncache-control: no-cache, no-store\r\n\r\n";
  std::string out;
  out.reserve(18 + head.size() + body.size());
  if (framed) {
    char frame[32];
    std::snprintf(frame, sizeof frame, "FRAME %012zu", head.size());
    out += frame;
  }
  out += head;
  out += body;
  return out;
}

std::string FormatErrorResponse(int status, int http_minor) {
  const ErrorText* text = &kErrors[4];  // 500 for anything unlisted
  for (const ErrorText& e : kErrors) {
    if (e.status == status) text = &e;
  }
  std::string body = text->body;
  std::string out = Version(http_minor);
  out += " " + std::to_string(text->status) + " " + text->reason + "\r\n";
  out += "content-length: " + std::to_string(body.size()) + "\r\n";
  out += "content-type: text/html\r\nconnection: close\r\n";
  out += "cache-control: no-cache, no-store\r\n";
  if (text->status == 401) {
    out += "WWW-Authenticate: Basic realm=\"post_remote_db_access\"\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

}  // namespace xgdb::server
