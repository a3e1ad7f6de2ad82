// libraft's TCP transport behind a pool-secret handshake (docs/locks.md).
//
// libraft's own transport accepts anyone who can reach the port. This one
// wraps it: once libraft's TCP connection and its id/address preamble are
// through, the two ends prove to each other that they know a pool secret
// (HMAC-SHA256 over both ends' nonces, the connecting member's id and
// address) before the stream is handed to libraft. A peer without the
// secret is logged and disconnected; it can neither vote nor append.
// With TLS, the connection goes through a TLS bridge (tls_bridge.h) first,
// and the handshake and libraft run inside it.
//
// Runs on the consensus thread's libuv loop; nothing here is thread-safe.
#ifndef XGDB_LOCK_AUTH_TRANSPORT_H_
#define XGDB_LOCK_AUTH_TRANSPORT_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <uv.h>
// libraft's headers do not declare C linkage themselves.
extern "C" {
#include <raft.h>
#include <raft/uv.h>
}

namespace xgdb::lock {

class ConsensusTls;

// The pool secrets: the first is presented, any is accepted (rotation).
using SecretsFn = std::function<std::vector<std::string>()>;

class AuthTransport {
 public:
  // `bind_address` ("IP:PORT", empty: the member's own address) is where
  // the transport listens. Error(kIo) when libraft refuses.
  // `tls` null: plain TCP.
  AuthTransport(uv_loop_t* loop, SecretsFn secrets, const std::string& bind_address,
                std::shared_ptr<const ConsensusTls> tls = nullptr);
  ~AuthTransport();  // only after libraft closed the transport
  AuthTransport(const AuthTransport&) = delete;
  AuthTransport& operator=(const AuthTransport&) = delete;

  raft_uv_transport* transport() { return &outer_; }

 private:
  struct Handshake;
  static int Init(raft_uv_transport* t, raft_id id, const char* address);
  static int Listen(raft_uv_transport* t, raft_uv_accept_cb cb);
  static int Connect(raft_uv_transport* t, raft_uv_connect* req, raft_id id,
                     const char* address, raft_uv_connect_cb cb);
  static void Close(raft_uv_transport* t, raft_uv_transport_close_cb cb);
  static void OnInnerAccept(raft_uv_transport* inner, raft_id id, const char* address,
                            uv_stream_t* stream);
  static void OnInnerConnect(raft_uv_connect* req, uv_stream_t* stream, int status);
  static void OnInnerClosed(raft_uv_transport* inner);
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf);
  static void OnTimeout(uv_timer_t* timer);

  Handshake* Begin(bool outbound, raft_id id, const std::string& address);
  void StartExchange(Handshake* h, uv_stream_t* stream);
  void Step(Handshake* h);  // a phase's bytes are in
  void Succeed(Handshake* h);
  void Fail(Handshake* h, int status, const std::string& why);
  void Forget(Handshake* h);  // frees it once its timer is closed
  void MaybeClosed();

  uv_loop_t* loop_;
  SecretsFn secrets_;
  std::shared_ptr<const ConsensusTls> tls_;
  raft_id id_ = 0;       // this member
  std::string address_;  // this member's
  raft_uv_transport outer_{};
  raft_uv_transport inner_{};
  raft_uv_accept_cb accept_cb_ = nullptr;
  raft_uv_transport_close_cb close_cb_ = nullptr;
  bool closing_ = false;
  bool inner_closed_ = false;
  std::set<Handshake*> handshakes_;
};

}  // namespace xgdb::lock

#endif  // XGDB_LOCK_AUTH_TRANSPORT_H_
