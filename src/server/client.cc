#include "server/client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "xgdb/error.h"

namespace xgdb::server {

namespace {

[[noreturn]] void IoError(const std::string& what) {
  throw Error(ErrorKind::kIo, what + ": " + std::strerror(errno));
}

void SetTimeouts(int fd, int timeout_ms) {
  struct timeval tv;
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Why an SSL call returning `rc` failed, for an Error(kIo) message.
std::string TlsFailure(SSL* ssl, int rc) {
  int kind = SSL_get_error(ssl, rc);
  if (kind == SSL_ERROR_WANT_READ || kind == SSL_ERROR_WANT_WRITE) return "timed out";
  if (kind == SSL_ERROR_SYSCALL) {
    std::string reason = LastTlsError();
    if (!reason.empty()) return reason;
    return errno != 0 ? std::strerror(errno) : "connection closed";
  }
  std::string reason = LastTlsError();
  return reason.empty() ? "TLS error " + std::to_string(kind) : reason;
}

}  // namespace

std::string LastTlsError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

std::shared_ptr<const TlsTrust> TlsTrust::FromBundle(const std::string& pem_file) {
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  if (context == nullptr) throw Error(ErrorKind::kIo, "cannot make a TLS context: " + LastTlsError());
  std::shared_ptr<const TlsTrust> trust(new TlsTrust(context));
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  // A peer that closes without a TLS close_notify has closed: the
  // answer's length, not the close, says whether an answer is whole.
  SSL_CTX_set_options(context, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_load_verify_locations(context, pem_file.c_str(), nullptr) != 1) {
    throw Error(ErrorKind::kInvalidArgument,
                "cannot read certificates from " + pem_file + ": " + LastTlsError());
  }
  // Every certificate of the bundle is an anchor, not only self-signed
  // roots: a pool pins its hosts' own certificates.
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(context), X509_V_FLAG_PARTIAL_CHAIN);
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
  return trust;
}

TlsTrust::~TlsTrust() { SSL_CTX_free(context_); }

std::string XapiRequest(std::string_view path, std::string_view body,
                        std::string_view pool_secret, bool framed) {
  std::string head = "POST ";
  head += path;
  head += " HTTP/1.1\r\n";
  if (!pool_secret.empty()) {
    head += "cookie: pool_secret=";
    head += pool_secret;
    head += "\r\n";
  }
  head += "content-length: " + std::to_string(body.size()) + "\r\n";
  head += "user-agent: xen-api-libs/25.6.0\r\nconnection: keep-alive\r\n\r\n";
  std::string out;
  if (framed) {
    char frame[32];
    std::snprintf(frame, sizeof frame, "FRAME %012zu", head.size());
    out = frame;
  }
  out += head;
  out += body;
  return out;
}

Connection Connection::Unix(const std::string& path, int timeout_ms) {
  struct sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    throw Error(ErrorKind::kInvalidArgument, "socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) IoError("socket");
  Connection c(fd);
  SetTimeouts(fd, timeout_ms);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    IoError("connect " + path);
  }
  return c;
}

Connection Connection::Tcp(const std::string& host, uint16_t port, int timeout_ms) {
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) {
    throw Error(ErrorKind::kIo, "cannot resolve " + host);
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    IoError("socket");
  }
  Connection c(fd);
  SetTimeouts(fd, timeout_ms);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0) IoError("connect " + host + ":" + std::to_string(port));
  return c;
}

Connection Connection::Tcp(const std::string& host, uint16_t port, int timeout_ms,
                           const TlsTrust* tls) {
  Connection c = Tcp(host, port, timeout_ms);
  if (tls == nullptr) return c;
  const std::string where = "TLS to " + host + ":" + std::to_string(port) + ": ";
  ERR_clear_error();
  c.ssl_ = SSL_new(tls->context_);
  if (c.ssl_ == nullptr || SSL_set_fd(c.ssl_, c.fd_) != 1) {
    throw Error(ErrorKind::kIo, where + LastTlsError());
  }
  errno = 0;
  int rc = SSL_connect(c.ssl_);
  if (rc != 1) {
    long verdict = SSL_get_verify_result(c.ssl_);
    if (verdict != X509_V_OK) {
      throw Error(ErrorKind::kIo, where + "its certificate is not trusted (" +
                                      X509_verify_cert_error_string(verdict) + ")");
    }
    throw Error(ErrorKind::kIo, where + "handshake failed: " + TlsFailure(c.ssl_, rc));
  }
  return c;
}

Connection::Connection(Connection&& other) noexcept
    : fd_(other.fd_), ssl_(other.ssl_), pending_(std::move(other.pending_)) {
  other.fd_ = -1;
  other.ssl_ = nullptr;
}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    ssl_ = other.ssl_;
    pending_ = std::move(other.pending_);
    other.fd_ = -1;
    other.ssl_ = nullptr;
  }
  return *this;
}

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  ssl_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Connection::Send(std::string_view bytes) {
  while (ssl_ != nullptr && !bytes.empty()) {
    ERR_clear_error();
    errno = 0;
    int n = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 20)));
    if (n <= 0) throw Error(ErrorKind::kIo, "TLS send: " + TlsFailure(ssl_, n));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      IoError("send");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

bool Connection::Fill() {
  char buf[65536];
  while (ssl_ != nullptr) {
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      pending_.append(buf, static_cast<size_t>(n));
      return true;
    }
    int kind = SSL_get_error(ssl_, n);
    if (kind == SSL_ERROR_ZERO_RETURN) return false;
    if (kind == SSL_ERROR_SYSCALL && (errno == 0 || errno == ECONNRESET)) return false;
    if (kind == SSL_ERROR_SYSCALL && errno == EINTR) continue;
    throw Error(ErrorKind::kIo, "TLS recv: " + TlsFailure(ssl_, n));
  }
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      pending_.append(buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return false;
    IoError("recv");
  }
}

Answer Connection::ReadAnswer() {
  Answer a;
  size_t head_end;
  for (;;) {
    head_end = pending_.find("\r\n\r\n");
    if (head_end != std::string::npos) break;
    if (!Fill()) throw Error(ErrorKind::kIo, "connection closed before an answer");
  }
  std::string head = pending_.substr(0, head_end + 2);
  size_t pos = 0;
  if (head.compare(0, 6, "FRAME ") == 0) {
    a.framed = true;
    pos = 18;
  }
  size_t eol = head.find("\r\n", pos);
  std::string status_line = head.substr(pos, eol - pos);
  if (status_line.compare(0, 5, "HTTP/") != 0 || status_line.size() < 12) {
    throw Error(ErrorKind::kIo, "not an HTTP answer: " + status_line);
  }
  a.status = std::atoi(status_line.c_str() + 9);
  size_t length = 0;
  bool have_length = false;
  for (pos = eol + 2; pos < head.size();) {
    eol = head.find("\r\n", pos);
    std::string line = head.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = Lower(line.substr(0, colon));
    std::string value = Trim(line.substr(colon + 1));
    if (name == "content-length") {
      length = std::stoul(value);
      have_length = true;
    } else if (name == "connection") {
      a.keep_alive = Lower(value) != "close";
    }
  }
  if (!have_length) throw Error(ErrorKind::kIo, "answer without content-length");
  size_t total = head_end + 4 + length;
  while (pending_.size() < total) {
    if (!Fill()) throw Error(ErrorKind::kIo, "connection closed inside an answer body");
  }
  a.raw = pending_.substr(0, total);
  a.body = pending_.substr(head_end + 4, length);
  pending_.erase(0, total);
  return a;
}

Answer Connection::Call(std::string_view path, std::string_view body,
                        std::string_view pool_secret, bool framed) {
  Send(XapiRequest(path, body, pool_secret, framed));
  return ReadAnswer();
}

std::string Connection::ReadToEnd() {
  try {
    while (Fill()) {
    }
  } catch (const Error&) {
    // timeout: return what came
  }
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

bool Connection::ReadableWithin(int ms) {
  if (!pending_.empty()) return true;
  if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
  struct pollfd p = {fd_, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

bool Connection::ClosedWithin(int ms) {
  if (!ReadableWithin(ms)) return false;
  if (!pending_.empty()) return false;
  return !Fill();
}

}  // namespace xgdb::server
