#include "lock/lock_calls.h"

#include <nlohmann/json.hpp>

#include "lock/lock_service.h"
#include "xgdb/error.h"

namespace xgdb::lock {

void RegisterLockCalls(rpc::ExtensionRegistry& registry, LockService* service) {
  for (const char* name :
       {"Lock_acquire", "Lock_renew", "Lock_release", "Lock_list", "Lock_cas", "Lock_get",
        "Lock_check", "Lock_status"}) {
    std::string call = name;
    registry.Register(call, [service, call](const nlohmann::json& args, const rpc::CallContext&,
                                            rpc::ReplyFn reply) {
      if (service == nullptr) {
        throw Error(ErrorKind::kInvalidArgument,
                    "this daemon runs no lock service: start it with --host-uuid, --peer and "
                    "--secret-file");
      }
      if (args.is_object() && args.value("forwarded", false)) {
        try {
          reply(rpc::SuccessResult(call, service->Execute(call, args)));
        } catch (const nlohmann::json::exception& e) {
          throw Error(ErrorKind::kInvalidArgument, std::string("bad forwarded call: ") + e.what());
        }
        return;
      }
      if (call == "Lock_status") {
        reply(rpc::SuccessResult(call, service->Status()));
        return;
      }
      service->CallAsync(call, args, [call, reply](const nlohmann::json* result, const Error* error) {
        reply(error ? rpc::FailureResult(*error) : rpc::SuccessResult(call, *result));
      });
    });
  }
}

}  // namespace xgdb::lock
