// Turns one request body of xapi's remote database protocol into one answer
// body, by calling the Database. Knows nothing of HTTP: the transport
// (src/server/) hands it the path's protocol version and the body.
#ifndef XGDB_RPC_DISPATCHER_H_
#define XGDB_RPC_DISPATCHER_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "rpc/call.h"
#include "xgdb/database.h"

namespace xgdb::rpc {

// kV1, kV2: xapi's remote-database protocol (proto/xapi-remote-db.md).
// kExtension: our own calls (tasks, events, history; proto/xapi-gitdb.md),
// JSON in the style of v2, on their own path.
// kPeer: replication between daemons (proto/peer.md; src/replica/).
enum class ProtocolVersion { kV1, kV2, kExtension, kPeer };

struct RpcResult {
  RpcResult() = default;
  RpcResult(int status, std::string body, std::string error)
      : status(status), body(std::move(body)), error(std::move(error)) {}

  // 200: `body` is the answer (success, or an in-band failure).
  // 500: the protocol cannot carry what happened (xapi answers 500 with
  //      connection: close); `body` is empty and `error` says why.
  int status = 200;
  std::string body;
  std::string error;
  // For metrics and logs: the call's name as on the wire ("" when the body
  // named no known call), and whether `body` is an in-band failure.
  std::string call;
  bool failed = false;
};

// Handle() keeps no state of its own, so one Dispatcher may serve every
// connection thread at once (the Database serialises writes itself).
// Codecs: v1_codec.h, v2_codec.h; errors: error_codec.h; wire reference:
// proto/xapi-remote-db.md.
// The write (create_row, delete_row, write_field,
// process_structured_field) a v1 or v2 request body makes; nullopt for
// reads and for bodies that do not decode (Handle answers those). A body
// that names no write call anywhere (most of the traffic) is not decoded.
std::optional<Call> DecodeWrite(ProtocolVersion version, std::string_view body);

// The row a write changes: (table, ref).
std::pair<std::string, std::string> RowWritten(const Call& write);

class Dispatcher {
 public:
  explicit Dispatcher(Database& db) : db_(db) {}
  // `version` is kV1 or kV2.
  RpcResult Handle(ProtocolVersion version, std::string_view body) {
    return HandleOn(db_, version, body);
  }
  // The same on another image (a task's working image, say).
  static RpcResult HandleOn(Database& db, ProtocolVersion version, std::string_view body);

 private:
  Database& db_;
};

}  // namespace xgdb::rpc

#endif  // XGDB_RPC_DISPATCHER_H_
