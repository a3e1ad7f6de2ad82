// The messages peers exchange (proto/peer.md): a JSON header line, then
// the bytes of a pack (possibly none).
//
//   {"call":"push","from":"<uuid>","heads":{"<uuid>":"<40 hex>",...},"master":"<40 hex>",
//    "digest":"<40 hex>","partial":true}\n<pack>
//
// Calls: "push" (here are my heads and a pack of what you lack; answer your
// heads), "fetch" (here are my heads; answer yours and a pack of what I
// lack) and "forward" (make this write of xapi's protocol as the owner of
// its row; answer its reply, your heads and a pack of what I lack). An
// answer has no "call"; a refused call answers {"error": {...}}.
#ifndef XGDB_REPLICA_PEER_MESSAGE_H_
#define XGDB_REPLICA_PEER_MESSAGE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "replica/derive.h"

namespace xgdb::replica {

// Where peers' calls are posted, on the daemon's TCP port.
inline constexpr char kPeerPath[] = "/xapi_gitdb/peer";

struct PeerMessage {
  std::string call;    // "push", "fetch"; "" in answers
  std::string from;    // the sender's host uuid
  Heads heads;         // the sender's refs/hosts/*
  std::string master;  // the sender's master ("" when unknown)
  std::string digest;  // HeadsDigest of the sender's whole set of heads
  // Requests: `heads` holds only what changed since the receiver's last
  // answer. Answers: the receiver holds exactly the request's heads (same
  // digest) and lists none.
  bool partial = false;
  // The sender's wall clock (ms since the epoch) when it wrote the message;
  // 0: not given. Answers carry it so callers can tell clock skew.
  int64_t time_ms = 0;
  std::string error_kind, error;  // a refused call's answer
  // "forward": the protocol of the request's `body`, "v1" or "v2".
  std::string protocol;
  // "forward": the grant the write is made under (the x-xgdb-lock header,
  // "<token> <name>"); empty: none.
  std::string lock;
  // "forward": the request's body; in its answer, the reply's body (the
  // error's text when `status` is not 200). Sent before the pack, its length
  // in the header ("body_bytes").
  std::string body;
  int status = 0;      // "forward" answers: the reply's HTTP status
  std::string pack;    // a pack (thin_pack.h), or ""
};

std::string EncodePeerMessage(const PeerMessage& message);
// Error(kInvalidArgument) naming what is wrong: no header line, bad JSON,
// a host uuid that is not letters, digits and '-', an id that is not 40 hex.
PeerMessage DecodePeerMessage(std::string_view bytes);

}  // namespace xgdb::replica

#endif  // XGDB_REPLICA_PEER_MESSAGE_H_
