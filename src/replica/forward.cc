// Writes to another host's objects (docs/replication.md, "Writes to another
// host's objects"): the host a client wrote to sends the write to the
// row's owner, which makes it; the answer brings the owner's commit back.

#include <spdlog/spdlog.h>

#include "merge/ownership.h"
#include "replica/peer_message.h"
#include "replica/replicator.h"
#include "rpc/call.h"
#include "rpc/v1_codec.h"
#include "rpc/v2_codec.h"
#include "server/auth.h"
#include "server/client.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::replica {
namespace {

// The image, and the row a create_row is making (its owner may follow
// from its own fields: a VBD's VM, a PIF's host).
class NewRowView : public merge::RowView {
 public:
  NewRowView(const Database& db, const rpc::Call& call) : image_(db), call_(call) {}
  std::optional<std::string> Field(const std::string& table, const std::string& ref,
                                   const std::string& column) override {
    if (call_.name == rpc::CallName::kCreateRow && table == call_.args[0] &&
        ref == call_.args[1]) {
      for (const auto& [name, value] : call_.fields) {
        if (name == column) return value;
      }
      return std::nullopt;
    }
    return image_.Field(table, ref, column);
  }
  std::vector<std::string> RefsWhere(const std::string& table, const std::string& column,
                                     const std::string& value) override {
    return image_.RefsWhere(table, column, value);
  }

 private:
  merge::ImageRowView image_;
  const rpc::Call& call_;
};

// The uuid of the host owning the row `call` writes, as `db` says; "" when
// it is no write or nobody owns the row.
std::string OwnerUuid(const Database& db, const rpc::Call& call) {
  const auto [table, ref] = rpc::RowWritten(call);
  using Kind = merge::RowChanged::Kind;
  Kind kind = call.name == rpc::CallName::kCreateRow   ? Kind::kCreated
              : call.name == rpc::CallName::kDeleteRow ? Kind::kDeleted
                                                       : Kind::kModified;
  if (!merge::OwnedChange(merge::OwnershipRules::Builtin(), table, kind)) return "";
  NewRowView view(db, call);
  std::string owner =
      merge::OwnerOf(merge::OwnershipRules::Builtin(), table, ref, {&view});
  if (owner.empty()) return "";
  return view.Field("host", owner, "uuid").value_or("");  // no such host: nobody to ask
}

std::string RowName(const rpc::Call& call) {
  auto [table, ref] = rpc::RowWritten(call);
  return table + " " + ref;
}

}  // namespace

std::optional<rpc::RpcResult> Replicator::ForwardIfOwnedElsewhere(rpc::ProtocolVersion version,
                                                                  std::string_view body,
                                                                  const std::string& lock) {
  if (Peers().empty()) return std::nullopt;  // a pool of one writes all
  std::optional<rpc::Call> call = rpc::DecodeWrite(version, body);
  if (!call) return std::nullopt;
  std::string owner = OwnerUuid(store_.db(), *call);
  if (owner.empty() || owner == options_.host_uuid) return std::nullopt;

  rpc::RpcResult result;
  result.call = rpc::WireName(call->name);
  std::string what = RowName(*call);
  std::optional<PeerAddress> peer = AddressOf(owner);
  if (!peer) {
    result.status = 500;
    result.error = "host " + owner + " owns " + what + " and is not a peer of this host";
  } else {
    try {
      PeerMessage got = SendForward(*peer, version, body, lock);
      if (!got.error.empty()) {
        result.status = 500;
        result.error =
            "host " + owner + ", which owns " + what + ", refused the write: " + got.error;
      } else {
        std::vector<std::string> missing;
        Apply(owner, got.heads, got.pack, &missing);
        result.status = got.status == 0 ? 200 : got.status;
        (result.status == 200 ? result.body : result.error) = got.body;
      }
    } catch (const Error& e) {
      result.status = 500;
      result.error = "host " + owner + ", which owns " + what + ", cannot be reached: " + e.what();
    }
  }
  ++forwards_sent_;
  if (result.status != 200) {
    ++forwards_failed_;
    spdlog::warn("forwarding a write: {}", result.error);
  }
  return result;
}

PeerMessage Replicator::SendForward(const PeerAddress& peer, rpc::ProtocolVersion version,
                                     std::string_view body, const std::string& lock) {
  PeerMessage request = RequestWithAllHeads("forward");
  request.protocol = version == rpc::ProtocolVersion::kV1 ? "v1" : "v2";
  request.body = std::string(body);
  request.lock = lock;
  // A connection of its own: the peer's is its thread's.
  server::Connection connection = server::Connection::Tcp(
      peer.address, peer.port, options_.forward_timeout_ms, options_.tls.get());
  server::Answer answer = connection.Call(kPeerPath, EncodePeerMessage(request),
                                          secret_ ? secret_->First() : "", false);
  if (answer.status != 200) {
    throw Error(ErrorKind::kIo, "it answered HTTP " + std::to_string(answer.status));
  }
  return DecodePeerMessage(answer.body);
}

void Replicator::MakeForwardedWrite(const PeerMessage& request, PeerMessage* answer) {
  if (!options_.make_write) {
    throw Error(ErrorKind::kInvalidArgument, "this daemon makes no forwarded writes");
  }
  rpc::ProtocolVersion version =
      request.protocol == "v1" ? rpc::ProtocolVersion::kV1 : rpc::ProtocolVersion::kV2;
  if (std::optional<rpc::Call> call = rpc::DecodeWrite(version, request.body)) {
    std::string owner = OwnerUuid(store_.db(), *call);
    if (!owner.empty() && owner != options_.host_uuid) {
      // The caller's view is older or newer than ours: it must not loop.
      throw Error(ErrorKind::kOwnership, "host " + options_.host_uuid + " does not own " +
                                             RowName(*call) + "; host " + owner +
                                             " does, as this host sees it");
    }
  }
  rpc::RpcResult result = options_.make_write(version, request.body, request.lock);
  ++forwards_made_;
  answer->status = result.status;
  answer->body = result.status == 200 ? result.body : result.error;
  SetHead(options_.host_uuid, store_.RefTarget(store_.HostRef()));
}

}  // namespace xgdb::replica
