// A small blocking client of the remote-database protocol over a unix
// socket or TCP, speaking xapi's framing. Used by the load generator, the
// tests and anyone who wants to talk to a running daemon by hand. Plain
// POSIX sockets: no Asio, no threads.
#ifndef XGDB_SERVER_CLIENT_H_
#define XGDB_SERVER_CLIENT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace xgdb::server {

// The bytes of a request as xapi's client builds it (spec 1.3): FRAME
// prefix when `framed`, then POST with cookie (when `pool_secret` is not
// empty), content-length, user-agent and connection: keep-alive.
std::string XapiRequest(std::string_view path, std::string_view body,
                        std::string_view pool_secret = "", bool framed = true);

struct Answer {
  int status = 0;
  bool framed = false;
  bool keep_alive = true;  // the answer's connection header
  std::string raw;         // every byte of the answer, as received
  std::string body;
};

class Connection {
 public:
  // Connects or throws xgdb::Error(kIo). Every later read or write fails
  // with Error(kIo) after `timeout_ms` without progress.
  static Connection Unix(const std::string& path, int timeout_ms = 10000);
  static Connection Tcp(const std::string& host, uint16_t port, int timeout_ms = 10000);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  ~Connection();

  void Send(std::string_view bytes);
  // Reads one answer (framed or not). Error(kIo) on EOF, timeout or bytes
  // that are not an HTTP answer.
  Answer ReadAnswer();
  // Sends XapiRequest(path, body, secret, framed) and reads the answer.
  Answer Call(std::string_view path, std::string_view body, std::string_view pool_secret = "",
              bool framed = true);
  // Reads until the peer closes (or the timeout passes); returns the bytes.
  std::string ReadToEnd();
  // True when the peer closed the connection (EOF) within `ms`; false if
  // it stays open and silent. Bytes that arrive count as "not closed" and
  // are kept for the next read.
  bool ClosedWithin(int ms);
  // True when something (bytes or EOF) becomes readable within `ms`.
  bool ReadableWithin(int ms);
  void Close();
  int fd() const { return fd_; }

 private:
  explicit Connection(int fd) : fd_(fd) {}
  bool Fill();  // reads more into pending_; false at EOF

  int fd_ = -1;
  std::string pending_;  // received, not yet returned
};

}  // namespace xgdb::server

#endif  // XGDB_SERVER_CLIENT_H_
