#include "lock/auth_transport.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "lock/tls_bridge.h"
#include "xgdb/error.h"

namespace xgdb::lock {

namespace {

constexpr size_t kNonceBytes = 16;
constexpr size_t kMacBytes = 32;
// A member that connects but does not finish the handshake is dropped.
constexpr uint64_t kHandshakeTimeoutMs = 2000;

std::string Mac(const std::string& secret, std::string_view role, const unsigned char* nonce_s,
                const unsigned char* nonce_c, raft_id id, const std::string& address) {
  std::string message(role);
  message.append(reinterpret_cast<const char*>(nonce_s), kNonceBytes);
  message.append(reinterpret_cast<const char*>(nonce_c), kNonceBytes);
  for (int i = 0; i < 8; ++i) message.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
  message += address;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

bool SameMac(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void FreeStream(uv_handle_t* handle) { raft_free(handle); }

}  // namespace

// One connection between libraft's TCP preamble and libraft proper.
//   inbound:  send nonce_s; read nonce_c + mac_c; send mac_s; hand over
//   outbound: read nonce_s; send nonce_c + mac_c; read mac_s; hand over
struct AuthTransport::Handshake {
  AuthTransport* owner = nullptr;
  bool outbound = false;
  raft_id id = 0;          // the connecting member
  std::string address;     // the connecting member's
  std::string peer;        // for logs: who is at the other end
  uv_stream_t* stream = nullptr;
  uv_timer_t timer{};
  raft_uv_connect inner_req{};          // outbound: ours, to libraft's transport
  raft_uv_connect* raft_req = nullptr;  // outbound: libraft's, to us
  raft_uv_connect_cb raft_cb = nullptr;
  unsigned char nonce_s[kNonceBytes]{};
  unsigned char nonce_c[kNonceBytes]{};
  std::string secret;  // outbound: the one presented
  std::string in;      // bytes of the current phase
  size_t want = 0;     // how many the phase needs
  char buf[kNonceBytes + kMacBytes];
};

AuthTransport::AuthTransport(uv_loop_t* loop, SecretsFn secrets, const std::string& bind_address,
                             std::shared_ptr<const ConsensusTls> tls)
    : loop_(loop), secrets_(std::move(secrets)), tls_(std::move(tls)) {
  int rv = raft_uv_tcp_init(&inner_, loop);
  if (rv == 0 && !bind_address.empty()) {
    rv = raft_uv_tcp_set_bind_address(&inner_, bind_address.c_str());
  }
  if (rv != 0) {
    throw Error(ErrorKind::kIo, std::string("raft transport: ") + raft_strerror(rv));
  }
  inner_.data = this;
  outer_.data = nullptr;  // libraft's to use
  outer_.impl = this;
  outer_.init = &AuthTransport::Init;
  outer_.listen = &AuthTransport::Listen;
  outer_.connect = &AuthTransport::Connect;
  outer_.close = &AuthTransport::Close;
}

AuthTransport::~AuthTransport() { raft_uv_tcp_close(&inner_); }

int AuthTransport::Init(raft_uv_transport* t, raft_id id, const char* address) {
  auto* self = static_cast<AuthTransport*>(t->impl);
  self->id_ = id;
  self->address_ = address;
  return self->inner_.init(&self->inner_, id, address);
}

int AuthTransport::Listen(raft_uv_transport* t, raft_uv_accept_cb cb) {
  auto* self = static_cast<AuthTransport*>(t->impl);
  self->accept_cb_ = cb;
  return self->inner_.listen(&self->inner_, &AuthTransport::OnInnerAccept);
}

AuthTransport::Handshake* AuthTransport::Begin(bool outbound, raft_id id,
                                                const std::string& address) {
  auto* h = new Handshake;
  h->owner = this;
  h->outbound = outbound;
  h->id = id;
  h->address = address;
  uv_timer_init(loop_, &h->timer);
  h->timer.data = h;
  handshakes_.insert(h);
  return h;
}

int AuthTransport::Connect(raft_uv_transport* t, raft_uv_connect* req, raft_id id,
                           const char* address, raft_uv_connect_cb cb) {
  auto* self = static_cast<AuthTransport*>(t->impl);
  if (self->closing_) return RAFT_CANCELED;
  // The connecting member is us: our id and address go into the MACs.
  Handshake* h = self->Begin(true, self->id_, self->address_);
  h->peer = address;
  h->raft_req = req;
  h->raft_cb = cb;
  h->inner_req.data = h;
  int rv = self->inner_.connect(&self->inner_, &h->inner_req, id, address,
                                &AuthTransport::OnInnerConnect);
  if (rv != 0) {
    h->raft_cb = nullptr;  // libraft learns it from rv, not from a callback
    self->Forget(h);
  }
  return rv;
}

void AuthTransport::OnInnerConnect(raft_uv_connect* req, uv_stream_t* stream, int status) {
  auto* h = static_cast<Handshake*>(req->data);
  AuthTransport* self = h->owner;
  if (status != 0) {
    self->Fail(h, status, "");
    return;
  }
  if (self->closing_) {
    uv_close(reinterpret_cast<uv_handle_t*>(stream), FreeStream);
    self->Fail(h, RAFT_CANCELED, "");
    return;
  }
  if (self->tls_) {  // the secret is proven inside TLS, and libraft talks there
    stream = StartTlsBridge(self->loop_, stream, *self->tls_, true, h->peer);
    if (stream == nullptr) {
      self->Fail(h, RAFT_NOCONNECTION, "cannot start TLS");
      return;
    }
  }
  self->StartExchange(h, stream);
}

void AuthTransport::OnInnerAccept(raft_uv_transport* inner, raft_id id, const char* address,
                                  uv_stream_t* stream) {
  auto* self = static_cast<AuthTransport*>(inner->data);
  if (self->closing_) {
    uv_close(reinterpret_cast<uv_handle_t*>(stream), FreeStream);
    return;
  }
  if (self->tls_) {
    stream = StartTlsBridge(self->loop_, stream, *self->tls_, false, address);
    if (stream == nullptr) return;
  }
  Handshake* h = self->Begin(false, id, address);
  h->peer = address;
  RAND_bytes(h->nonce_s, kNonceBytes);
  self->StartExchange(h, stream);
  SendBytes(stream, std::string(reinterpret_cast<char*>(h->nonce_s), kNonceBytes));
}

void AuthTransport::StartExchange(Handshake* h, uv_stream_t* stream) {
  h->stream = stream;
  stream->data = h;
  h->want = h->outbound ? kNonceBytes : kNonceBytes + kMacBytes;
  uv_timer_start(&h->timer, &AuthTransport::OnTimeout, kHandshakeTimeoutMs, 0);
  uv_read_start(stream, &AuthTransport::OnAlloc, &AuthTransport::OnRead);
}

// Never more than the phase needs: what follows belongs to libraft.
void AuthTransport::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* h = static_cast<Handshake*>(handle->data);
  *buf = uv_buf_init(h->buf, static_cast<unsigned>(h->want - h->in.size()));
}

void AuthTransport::OnRead(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
  auto* h = static_cast<Handshake*>(stream->data);
  if (n < 0) {
    h->owner->Fail(h, RAFT_NOCONNECTION, "connection closed during the handshake");
    return;
  }
  h->in.append(buf->base, static_cast<size_t>(n));
  if (h->in.size() == h->want) h->owner->Step(h);
}

void AuthTransport::OnTimeout(uv_timer_t* timer) {
  auto* h = static_cast<Handshake*>(timer->data);
  h->owner->Fail(h, RAFT_NOCONNECTION, "no handshake within 2 s");
}

void AuthTransport::Step(Handshake* h) {
  std::vector<std::string> secrets = secrets_();
  if (secrets.empty()) {
    Fail(h, RAFT_NOCONNECTION, "no pool secret configured");
    return;
  }
  if (h->outbound && h->secret.empty()) {  // nonce_s is in: answer it
    std::memcpy(h->nonce_s, h->in.data(), kNonceBytes);
    RAND_bytes(h->nonce_c, kNonceBytes);
    h->secret = secrets.front();
    h->in.clear();
    h->want = kMacBytes;
    SendBytes(h->stream, std::string(reinterpret_cast<char*>(h->nonce_c), kNonceBytes) +
                        Mac(h->secret, "xgdb-raft-client", h->nonce_s, h->nonce_c, h->id, h->address));
    return;
  }
  if (h->outbound) {  // the server's proof is in
    if (!SameMac(h->in, Mac(h->secret, "xgdb-raft-server", h->nonce_s, h->nonce_c, h->id, h->address))) {
      Fail(h, RAFT_NOCONNECTION, "it does not know the pool secret");
      return;
    }
    Succeed(h);
    return;
  }
  std::memcpy(h->nonce_c, h->in.data(), kNonceBytes);
  std::string mac = h->in.substr(kNonceBytes);
  for (const std::string& secret : secrets) {
    if (SameMac(mac, Mac(secret, "xgdb-raft-client", h->nonce_s, h->nonce_c, h->id, h->address))) {
      SendBytes(h->stream, Mac(secret, "xgdb-raft-server", h->nonce_s, h->nonce_c, h->id, h->address));
      Succeed(h);
      return;
    }
  }
  Fail(h, RAFT_NOCONNECTION, "it does not know the pool secret");
}

void AuthTransport::Succeed(Handshake* h) {
  uv_stream_t* stream = h->stream;
  uv_read_stop(stream);
  stream->data = nullptr;
  h->stream = nullptr;
  if (h->outbound) {
    raft_uv_connect_cb cb = h->raft_cb;
    raft_uv_connect* req = h->raft_req;
    h->raft_cb = nullptr;
    Forget(h);
    cb(req, stream, 0);
  } else {
    raft_id id = h->id;
    std::string address = h->address;
    Forget(h);
    accept_cb_(&outer_, id, address.c_str(), stream);
  }
}

void AuthTransport::Fail(Handshake* h, int status, const std::string& why) {
  if (!why.empty()) {
    spdlog::warn("lock service: refused a consensus connection {} {}: {}",
                 h->outbound ? "to" : "from", h->peer, why);
  }
  if (h->stream != nullptr) {
    uv_read_stop(h->stream);
    uv_close(reinterpret_cast<uv_handle_t*>(h->stream), FreeStream);
    h->stream = nullptr;
  }
  raft_uv_connect_cb cb = h->raft_cb;
  raft_uv_connect* req = h->raft_req;
  h->raft_cb = nullptr;
  Forget(h);
  if (cb != nullptr) cb(req, nullptr, status);
}

void AuthTransport::Forget(Handshake* h) {
  uv_timer_stop(&h->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&h->timer), [](uv_handle_t* timer) {
    auto* h = static_cast<Handshake*>(timer->data);
    AuthTransport* self = h->owner;
    self->handshakes_.erase(h);
    delete h;
    self->MaybeClosed();
  });
}

void AuthTransport::Close(raft_uv_transport* t, raft_uv_transport_close_cb cb) {
  auto* self = static_cast<AuthTransport*>(t->impl);
  self->closing_ = true;
  self->close_cb_ = cb;
  // Handshakes still inside libraft's connect are cancelled by it below.
  std::vector<Handshake*> open;
  for (Handshake* h : self->handshakes_) {
    if (h->stream != nullptr && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&h->timer))) {
      open.push_back(h);
    }
  }
  for (Handshake* h : open) self->Fail(h, RAFT_CANCELED, "");
  self->inner_.close(&self->inner_, &AuthTransport::OnInnerClosed);
}

void AuthTransport::OnInnerClosed(raft_uv_transport* inner) {
  auto* self = static_cast<AuthTransport*>(inner->data);
  self->inner_closed_ = true;
  self->MaybeClosed();
}

void AuthTransport::MaybeClosed() {
  if (closing_ && inner_closed_ && handshakes_.empty() && close_cb_ != nullptr) {
    raft_uv_transport_close_cb cb = close_cb_;
    close_cb_ = nullptr;
    cb(&outer_);
  }
}

}  // namespace xgdb::lock
