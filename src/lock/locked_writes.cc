#include "lock/locked_writes.h"

#include <shared_mutex>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "lock/lock_service.h"
#include "merge/merge_commit.h"
#include "rpc/call.h"
#include "xgdb/error.h"

namespace xgdb::lock {

namespace {

// The lock's owner among this host's clients: a start retried after a lost
// answer gets the grant it has already.
constexpr char kOwner[] = "vm-start";

bool Made(const rpc::RpcResult& r) { return r.status == 200 && !r.failed; }

// The trailer line (without its newline) for a grant.
std::string TrailerOf(const std::string& name, uint64_t token) {
  std::string trailer = merge::LockTokenTrailer(name, token);
  trailer.pop_back();
  return trailer;
}

}  // namespace

rpc::RpcResult MakeFencedWrite(LockService& locks, Store& store, const std::string& header,
                               rpc::ProtocolVersion version, std::string_view body,
                               const std::function<rpc::RpcResult()>& make) {
  if (!rpc::DecodeWrite(version, body)) return make();
  size_t space = header.find(' ');
  uint64_t token = 0;
  std::string name = space == std::string::npos ? "" : header.substr(space + 1);
  try {
    size_t used = 0;
    token = std::stoull(header.substr(0, space), &used);
    if (used != space || name.empty()) throw std::invalid_argument("");
  } catch (const std::exception&) {
    return rpc::RpcResult{500, "", "x-xgdb-lock must be '<token> <lock name>': " + header};
  }
  try {
    locks.CheckHeld(name, token);
  } catch (const Error& e) {
    spdlog::warn("refused a write under lock {} (token {}): {}", name, token, e.what());
    return rpc::RpcResult{500, "", e.what()};
  }
  rpc::RpcResult result = make();
  if (Made(result)) store.AddTrailer(TrailerOf(name, token));
  return result;
}

VmStartGuard::VmStartGuard(Store& store, LockService& locks, std::string host_ref)
    : store_(store), locks_(locks), host_ref_(std::move(host_ref)) {}

rpc::RpcResult VmStartGuard::Write(rpc::ProtocolVersion version, std::string_view body,
                                   const std::function<rpc::RpcResult()>& make) {
  std::optional<rpc::Call> call = rpc::DecodeWrite(version, body);
  if (!call || rpc::RowWritten(*call).first != "VM") return make();
  const std::string vm = rpc::RowWritten(*call).second;
  const bool sets_resident =
      call->name == rpc::CallName::kWriteField && call->args[2] == "resident_on";
  if (call->name == rpc::CallName::kDeleteRow || (sets_resident && call->args[3] != host_ref_)) {
    // A delete, a halt or a migration: the VM leaves this host.
    rpc::RpcResult result = make();
    if (Made(result)) Release(vm);
    return result;
  }
  if (!sets_resident) return make();
  std::string resident, uuid;
  try {
    std::shared_lock<std::shared_mutex> gate(store_.master_gate());
    resident = store_.db().ReadField("VM", "resident_on", vm);
    uuid = store_.db().ReadField("VM", "uuid", vm);
  } catch (const Error&) {
    return make();  // no such VM: the write fails as it would anyway
  }
  if (resident == host_ref_) return make();  // written again: nothing starts

  const std::string name = "VM:" + uuid;
  uint64_t token = 0;
  try {
    nlohmann::json grant =
        locks_.Call("Lock_acquire", {{"name", name}, {"owner", kOwner}, {"wait", 0}});
    token = grant.at("token").get<uint64_t>();
  } catch (const Error& e) {
    std::string why = "cannot start VM " + vm + " on this host: " + e.what();
    spdlog::warn("{}", why);
    return rpc::RpcResult{500, "", why};
  }
  rpc::RpcResult result = make();
  if (!Made(result)) {
    GiveBack(Held{name, token});
    return result;
  }
  // The write is in the image: the commit holding it carries the token.
  store_.AddTrailer(TrailerOf(name, token));
  std::lock_guard<std::mutex> lock(mu_);
  held_[vm] = Held{name, token};
  return result;
}

void VmStartGuard::Release(const std::string& vm) {
  Held held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(vm);
    if (it == held_.end()) return;
    held = it->second;
    held_.erase(it);
  }
  GiveBack(held);
}

void VmStartGuard::GiveBack(const Held& held) {
  // Not on the writer's time: a release that fails leaves a lease that
  // expires (docs/locks.md).
  locks_.CallAsync("Lock_release", {{"name", held.name}, {"token", held.token}},
                   [name = held.name](const nlohmann::json*, const Error* error) {
                     if (error != nullptr) {
                       spdlog::warn("cannot give back lock {}: {}", name, error->what());
                     }
                   });
}

}  // namespace xgdb::lock
