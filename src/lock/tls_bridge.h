// TLS on consensus connections (docs/locks.md, "Consensus traffic").
//
// libraft reads and writes its connections as plain libuv streams. A bridge
// takes a connected TCP stream, speaks TLS on it with memory BIOs on the
// consensus thread's loop, and gives back the plaintext end: one end of a
// socketpair that reads and writes what the TLS session carries. The pool
// secret handshake and libraft itself then run on that end unchanged, so
// the secret is proven inside TLS, and a connection's bytes never cross the
// network in the clear.
//
// Runs on the consensus thread's libuv loop; nothing here is thread-safe.
#ifndef XGDB_LOCK_TLS_BRIDGE_H_
#define XGDB_LOCK_TLS_BRIDGE_H_

#include <memory>
#include <string>

#include <uv.h>

#include "server/client.h"

namespace xgdb::lock {

// What TLS on consensus connections needs: this host's certificate and key,
// which answer connections made to it, and the pool's bundle, which decides
// whom it connects to (server::TlsTrust: a member whose certificate is not
// in it is sent nothing). Immutable once made.
class ConsensusTls {
 public:
  // Error(kInvalidArgument) when the certificate or key cannot be used.
  ConsensusTls(const std::string& cert_file, const std::string& key_file,
               std::shared_ptr<const server::TlsTrust> trust);
  ~ConsensusTls();
  ConsensusTls(const ConsensusTls&) = delete;
  ConsensusTls& operator=(const ConsensusTls&) = delete;

  ssl_ctx_st* server() const { return server_; }
  ssl_ctx_st* client() const { return trust_->context(); }

 private:
  ssl_ctx_st* server_;
  std::shared_ptr<const server::TlsTrust> trust_;
};

// Starts TLS on `tcp` (connected; the bridge owns it from now on and frees
// it with raft_free once closed) as the client (`connecting`, checking the
// other end's certificate) or the server. Returns the plaintext stream, a
// uv_pipe_t allocated with raft_malloc for whoever uses it next (to close
// with uv_close and free with raft_free), or null (and `tcp` closed) when
// the socketpair cannot be made. A failed TLS handshake or either side
// closing closes both; a failed handshake is logged once, naming `peer`.
uv_stream_t* StartTlsBridge(uv_loop_t* loop, uv_stream_t* tcp, const ConsensusTls& tls,
                            bool connecting, const std::string& peer);

// Writes `bytes` to `stream`, keeping them until libuv is done.
void SendBytes(uv_stream_t* stream, std::string bytes);

}  // namespace xgdb::lock

#endif  // XGDB_LOCK_TLS_BRIDGE_H_
