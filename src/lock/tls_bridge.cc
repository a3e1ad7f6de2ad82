#include "lock/tls_bridge.h"

#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <spdlog/spdlog.h>

// libraft's headers do not declare C linkage themselves.
extern "C" {
#include <raft.h>
}

#include "xgdb/error.h"

namespace xgdb::lock {

namespace {

std::string TlsReason() {
  std::string reason = server::LastTlsError();
  return reason.empty() ? "connection closed" : reason;
}

struct Write {
  uv_write_t req;
  std::string bytes;
};

// One TLS session between a TCP stream (ciphertext) and our end of a
// socketpair (plaintext). Frees itself once both handles are closed.
class Bridge {
 public:
  Bridge(uv_stream_t* tcp, SSL* ssl, std::string peer)
      : tcp_(tcp), ssl_(ssl), peer_(std::move(peer)) {}

  // Reads both sides; the client sends its first flight.
  void Start() {
    tcp_->data = this;
    near_.data = this;
    uv_read_start(tcp_, &Bridge::Alloc, &Bridge::OnCipher);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&near_), &Bridge::Alloc, &Bridge::OnPlain);
    Advance();
  }

  uv_pipe_t* near() { return &near_; }

 private:
  static void Alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
    auto* self = static_cast<Bridge*>(handle->data);
    *buf = uv_buf_init(self->buf_, sizeof self->buf_);
  }

  // Bytes from the network: into the session, and what it decrypts to
  // libraft's side.
  static void OnCipher(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto* self = static_cast<Bridge*>(stream->data);
    if (n < 0) return self->Close();
    BIO_write(SSL_get_rbio(self->ssl_), buf->base, static_cast<int>(n));
    self->Advance();
  }

  // Bytes from libraft's side: encrypted once the handshake is through.
  static void OnPlain(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto* self = static_cast<Bridge*>(stream->data);
    if (n < 0) return self->Close();
    self->plain_out_.append(buf->base, static_cast<size_t>(n));
    self->Advance();
  }

  void Advance() {
    if (closing_) return;
    if (!SSL_is_init_finished(ssl_)) {
      int rc = SSL_do_handshake(ssl_);
      if (rc != 1 && SSL_get_error(ssl_, rc) != SSL_ERROR_WANT_READ) {
        long verdict = SSL_get_verify_result(ssl_);
        std::string why = verdict != X509_V_OK
                              ? std::string("its certificate is not trusted (") +
                                    X509_verify_cert_error_string(verdict) + ")"
                              : TlsReason();
        spdlog::warn("lock service: TLS with {} failed: {}", peer_, why);
        Flush();  // the alert, so the other end learns why
        return Close();
      }
    }
    if (SSL_is_init_finished(ssl_)) {
      char plain[16384];
      for (;;) {
        int n = SSL_read(ssl_, plain, sizeof plain);
        if (n <= 0) {
          int kind = SSL_get_error(ssl_, n);
          if (kind == SSL_ERROR_WANT_READ) break;
          Flush();
          return Close();  // close_notify, or a broken record
        }
        SendBytes(reinterpret_cast<uv_stream_t*>(&near_), std::string(plain, static_cast<size_t>(n)));
      }
      if (!plain_out_.empty()) {
        // Memory BIOs take a whole write at once.
        if (SSL_write(ssl_, plain_out_.data(), static_cast<int>(plain_out_.size())) <= 0) {
          spdlog::warn("lock service: TLS with {} failed: {}", peer_, TlsReason());
          return Close();
        }
        plain_out_.clear();
      }
    }
    Flush();
  }

  // What the session wrote, to the network.
  void Flush() {
    BIO* out = SSL_get_wbio(ssl_);
    char cipher[16384];
    int n;
    while ((n = BIO_read(out, cipher, sizeof cipher)) > 0) {
      SendBytes(tcp_, std::string(cipher, static_cast<size_t>(n)));
    }
  }

  void Close() {
    if (closing_) return;
    closing_ = true;
    uv_read_stop(tcp_);
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&near_));
    uv_close(reinterpret_cast<uv_handle_t*>(tcp_), [](uv_handle_t* handle) {
      auto* self = static_cast<Bridge*>(handle->data);
      raft_free(handle);
      self->Closed();
    });
    uv_close(reinterpret_cast<uv_handle_t*>(&near_),
             [](uv_handle_t* handle) { static_cast<Bridge*>(handle->data)->Closed(); });
  }

  void Closed() {
    if (--open_handles_ == 0) {
      SSL_free(ssl_);
      delete this;
    }
  }

  uv_stream_t* tcp_;
  uv_pipe_t near_{};
  SSL* ssl_;
  std::string peer_;
  std::string plain_out_;  // from libraft's side, not yet encrypted
  bool closing_ = false;
  int open_handles_ = 2;
  char buf_[65536];
};

void CloseAndFree(uv_handle_t* handle) {
  uv_close(handle, [](uv_handle_t* h) { raft_free(h); });
}

}  // namespace

ConsensusTls::ConsensusTls(const std::string& cert_file, const std::string& key_file,
                           std::shared_ptr<const server::TlsTrust> trust)
    : server_(SSL_CTX_new(TLS_server_method())), trust_(std::move(trust)) {
  if (server_ == nullptr) throw Error(ErrorKind::kIo, "cannot make a TLS context: " + TlsReason());
  SSL_CTX_set_min_proto_version(server_, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(server_, cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(server_, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(server_) != 1) {
    std::string why = TlsReason();
    SSL_CTX_free(server_);
    throw Error(ErrorKind::kInvalidArgument,
                "cannot use " + cert_file + " and " + key_file + " for TLS: " + why);
  }
}

ConsensusTls::~ConsensusTls() { SSL_CTX_free(server_); }

void SendBytes(uv_stream_t* stream, std::string bytes) {
  auto* w = new Write{{}, std::move(bytes)};
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  if (uv_write(&w->req, stream, &buf, 1, [](uv_write_t* req, int) {
        delete reinterpret_cast<Write*>(req);
      }) != 0) {
    delete w;
  }
}

uv_stream_t* StartTlsBridge(uv_loop_t* loop, uv_stream_t* tcp, const ConsensusTls& tls,
                            bool connecting, const std::string& peer) {
  int fds[2];
  SSL* ssl = SSL_new(connecting ? tls.client() : tls.server());
  if (ssl == nullptr || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    spdlog::warn("lock service: cannot start TLS with {}", peer);
    if (ssl != nullptr) SSL_free(ssl);
    CloseAndFree(reinterpret_cast<uv_handle_t*>(tcp));
    return nullptr;
  }
  SSL_set_bio(ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  if (connecting) {
    SSL_set_connect_state(ssl);
  } else {
    SSL_set_accept_state(ssl);
  }
  auto* bridge = new Bridge(tcp, ssl, peer);
  auto* far = static_cast<uv_pipe_t*>(raft_malloc(sizeof(uv_pipe_t)));
  uv_pipe_init(loop, bridge->near(), 0);
  uv_pipe_open(bridge->near(), fds[0]);
  uv_pipe_init(loop, far, 0);
  uv_pipe_open(far, fds[1]);
  bridge->Start();
  return reinterpret_cast<uv_stream_t*>(far);
}

}  // namespace xgdb::lock
