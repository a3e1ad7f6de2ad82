// The bytes of every answer the server sends, written by hand so that they
// match xapi's byte for byte (spec 1.6): lower-case headers, content-length
// first, and the FRAME prefix exactly when the request was framed.
#ifndef XGDB_SERVER_RESPONSE_WRITER_H_
#define XGDB_SERVER_RESPONSE_WRITER_H_

#include <string>
#include <string_view>

namespace xgdb::server {

// "HTTP/1.x 200 OK" with content-length, connection (keep-alive or close,
// echoing the request) and cache-control, then `body`. When `framed`, the
// header block is preceded by "FRAME " and its length in 12 digits.
std::string FormatOkResponse(bool framed, int http_minor, bool keep_alive,
                             std::string_view body);

// The error answers xapi's HTTP server gives, always with connection: close,
// content-type text/html and a short HTML body, never framed (xapi's error
// answers are not; its client accepts both). `status` is one of 401 (with
// WWW-Authenticate: Basic realm="post_remote_db_access"), 403, 408, 431,
// 500, 501.
std::string FormatErrorResponse(int status, int http_minor);

}  // namespace xgdb::server

#endif  // XGDB_SERVER_RESPONSE_WRITER_H_
