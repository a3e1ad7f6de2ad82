// Cuts one request's head out of the bytes a connection has received so far,
// the way xapi's HTTP server reads it (spec 1.4): an optional PROXY v1 line
// at the very start of a connection, then an optional `FRAME %012d` prefix
// giving the exact length of the header block (no scanning for CRLFCRLF),
// else a header block ending at the first empty line.
//
// Pure byte work, no sockets: the connection code feeds it its buffer after
// every read, which keeps the framing testable on its own.
#ifndef XGDB_SERVER_REQUEST_READER_H_
#define XGDB_SERVER_REQUEST_READER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace xgdb::server {

struct RequestHead {
  bool framed = false;      // the request came with a FRAME prefix
  std::string method;       // "POST"
  std::string target;       // "/remote_db_access?x=y"
  std::string path;         // target without its query
  int http_minor = 1;       // 0 for HTTP/1.0, else 1
  bool keep_alive = true;   // HTTP/1.1 unless "close"; HTTP/1.0 only if asked
  std::optional<uint64_t> content_length;
  std::string cookie;       // the cookie header's value, as sent
  std::string task;         // "x-xgdb-task": the task a call runs in
                            // (proto/xapi-gitdb.md); empty: master
  std::string lock;         // "x-xgdb-lock": "<token> <name>", the grant a
                            // plain write is made under; empty: none
};

// The header naming the task a database call runs in (proto/xapi-gitdb.md).
inline constexpr char kTaskHeader[] = "x-xgdb-task";
// The header naming the lock grant a plain write is made under.
inline constexpr char kLockHeader[] = "x-xgdb-lock";

class RequestReader {
 public:
  enum class Status {
    kNeedMore,   // not a whole head yet
    kHead,       // head() is ready; head_bytes() bytes of the buffer are used
    kTooLarge,   // header block (or PROXY line) over the limit: 431
    kMalformed,  // cannot be parsed: xapi answers 500
  };

  explicit RequestReader(size_t max_header_bytes) : max_header_(max_header_bytes) {}

  // Looks at the start of `buffer`. `connection_start` is true while nothing
  // of this connection has been consumed yet (PROXY is only allowed then).
  Status Parse(std::string_view buffer, bool connection_start);

  const RequestHead& head() const { return head_; }
  // Bytes from the start of the buffer up to the end of the header block
  // (including any PROXY line and FRAME prefix).
  size_t head_bytes() const { return head_bytes_; }
  // The PROXY line's content (without "PROXY " and CRLF), if one was seen.
  const std::string& proxy() const { return proxy_; }

 private:
  Status ParseBlock(std::string_view block);

  size_t max_header_;
  RequestHead head_;
  size_t head_bytes_ = 0;
  std::string proxy_;
};

// The value of `name` in a cookie header, percent-decoded, as xapi reads
// cookies (items split on ';' when there is one, else on '&'; each item at
// its first '='). nullopt when absent.
std::optional<std::string> FindCookie(std::string_view header, std::string_view name);

}  // namespace xgdb::server

#endif  // XGDB_SERVER_REQUEST_READER_H_
