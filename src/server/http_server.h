// The HTTP/1.1 transport of xapi's remote-database protocol (spec section 1)
// on Boost.Asio/Beast: a unix socket (mode 0600, no credentials) and, when
// asked, a TCP port (pool_secret cookie, optionally TLS). A small fixed pool
// of threads runs every connection asynchronously.
//
// The server knows the paths and the framing, not the calls: each request
// body goes to a Handler with its protocol version, and the Handler's
// RpcResult becomes the answer (200 with its body, or xapi's 500 and close).
// Beast and Asio stay inside http_server.cc.
#ifndef XGDB_SERVER_HTTP_SERVER_H_
#define XGDB_SERVER_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rpc/dispatcher.h"

namespace xgdb::server {

// One well-formed, authorised request.
struct Request {
  rpc::ProtocolVersion version = rpc::ProtocolVersion::kV1;
  std::string body;
  std::string task;  // the x-xgdb-task header; empty: the call runs on master
  std::string lock;  // the x-xgdb-lock header ("<token> <name>"); empty: none
};
// Answers a request; may be called from any thread, exactly once.
using Responder = std::function<void(rpc::RpcResult)>;
// Called on a server thread for every request. It calls `respond` exactly
// once, now or later (a long poll answers when something happens, without
// holding a thread). An exception escaping it is answered with 500 and
// close (then `respond` must not be called).
using Handler = std::function<void(Request request, Responder respond)>;
// Adapts a handler that answers at once.
Handler Synchronous(std::function<rpc::RpcResult(const Request&)> answer);

struct ServerOptions {
  std::string unix_socket;  // empty: no unix listener

  bool tcp = false;         // listen on TCP too
  std::string tcp_address = "127.0.0.1";
  uint16_t tcp_port = 0;    // 0: any free port (see HttpServer::tcp_port())
  std::vector<std::string> secret_files;  // pool secrets accepted on TCP
  std::string tls_cert_file, tls_key_file;  // both set: TLS on TCP

  int io_threads = 2;
  // When > 0, handlers run on a separate pool of this many threads, so a
  // handler that blocks (waiting for its commit) does not stall the I/O.
  int handler_threads = 0;

  size_t max_body_bytes = 307200;
  // Peer calls carry packs: a host catching up after days away needs more.
  size_t max_peer_body_bytes = size_t{256} << 20;
  // xapi limits a TCP request's header block (and PROXY line) to 1024
  // bytes; the unix socket is local and gets more room.
  size_t max_header_bytes_tcp = 1024;
  size_t max_header_bytes_unix = 16384;
  // Only the first request of a connection is timed while its head arrives
  // (xapi: 10 s per read, 60 s in total); later requests may come after any
  // idle pause, but once one has started each read must come within
  // read_timeout_ms.
  int read_timeout_ms = 10000;
  int first_head_timeout_ms = 60000;
  // Connections beyond this are closed as soon as they are accepted, so the
  // store always has descriptors for its commits. 0: the process's file
  // limit (RLIMIT_NOFILE) less kReservedFiles.
  size_t max_connections = 0;
};

// Descriptors kept for everything but connections (packs, refs, the
// repository lock, libgit2's pack files, logs).
constexpr size_t kReservedFiles = 256;

class HttpServer {
 public:
  HttpServer(ServerOptions options, Handler handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listeners and starts the threads. Throws xgdb::Error (kIo or
  // kInvalidArgument) naming what failed; nothing keeps running then.
  void Start();
  // Stops accepting, drops every connection and joins the threads.
  // Idempotent.
  void Stop();

  // The bound TCP port (useful with tcp_port 0), 0 when no TCP listener.
  uint16_t tcp_port() const;
  // Connections open right now (for tests and logs).
  size_t open_connections() const;

  // Opaque state, named here only so the connection code in the .cc can
  // refer to it.
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace xgdb::server

#endif  // XGDB_SERVER_HTTP_SERVER_H_
