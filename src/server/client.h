// A small blocking client of the remote-database protocol over a unix
// socket or TCP (TLS when asked), speaking xapi's framing. Used by the
// replicator and the lock service to call peers, by the load generator, the
// tests and anyone who wants to talk to a running daemon by hand. Plain
// POSIX sockets and OpenSSL: no Asio, no threads.
#ifndef XGDB_SERVER_CLIENT_H_
#define XGDB_SERVER_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct ssl_ctx_st;
struct ssl_st;

namespace xgdb::server {

// OpenSSL's reason for the last failure on this thread ("" when none),
// which it then forgets.
std::string LastTlsError();

// Whom a TLS connection trusts: the certificates of a PEM bundle, each as
// an anchor of its own (a pool's host certificates, self-signed or not, or
// the CA that issued them). A peer whose certificate is not in the bundle
// and not issued by one in it is refused; names are not compared, since
// the bundle itself says which hosts may answer (docs/replication.md,
// "TLS between hosts"). Immutable once made; shared by many connections.
class TlsTrust {
 public:
  // Error(kInvalidArgument) when the file cannot be read or holds no
  // certificate.
  static std::shared_ptr<const TlsTrust> FromBundle(const std::string& pem_file);
  ~TlsTrust();
  TlsTrust(const TlsTrust&) = delete;
  TlsTrust& operator=(const TlsTrust&) = delete;

  // A client context that checks peers this way (libuv users make their
  // own sessions from it).
  ssl_ctx_st* context() const { return context_; }

 private:
  friend class Connection;
  explicit TlsTrust(ssl_ctx_st* context) : context_(context) {}
  ssl_ctx_st* context_;
};

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
  // TCP, then TLS 1.2 or later when `tls` is not null: Error(kIo) naming
  // the reason when the handshake fails or the peer's certificate is not
  // trusted (nothing is sent before).
  static Connection Tcp(const std::string& host, uint16_t port, int timeout_ms,
                        const TlsTrust* tls);

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
  ssl_st* ssl_ = nullptr;  // TLS over fd_ when set
  std::string pending_;  // received, not yet returned
};

}  // namespace xgdb::server

#endif  // XGDB_SERVER_CLIENT_H_
