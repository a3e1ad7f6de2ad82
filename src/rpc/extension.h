// Our own calls, beside xapi's protocol: tasks, events, history
// (proto/xapi-gitdb.md). They travel as JSON in the style of v2 on their own
// path (/xapi_gitdb):
//
//   request   ["Name", {named arguments}]
//   success   ["Name", result]
//   failure   ["Failure", {"kind": "conflict", "message": "...", "args": [...]}]
//
// Each module registers its calls here (task, event, ...). A call answers
// through its reply function, now or later from any thread: a long poll
// (event.from) replies when something changes, without holding a thread.
#ifndef XGDB_RPC_EXTENSION_H_
#define XGDB_RPC_EXTENSION_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "rpc/dispatcher.h"

namespace xgdb {
class Error;
}

namespace xgdb::rpc {

using ReplyFn = std::function<void(RpcResult)>;

// What a call knows of its request besides its arguments.
struct CallContext {
  std::string task;  // the x-xgdb-task header, empty when none
};

// Answers one call. Throwing xgdb::Error is the same as replying
// FailureResult(error); the reply must then not be called.
using ExtensionCall =
    std::function<void(const nlohmann::json& args, const CallContext& context, ReplyFn reply)>;

class ExtensionRegistry {
 public:
  // Registers `name` (e.g. "Task_begin"); a second registration replaces it.
  void Register(const std::string& name, ExtensionCall call);
  // Decodes `body`, runs the named call and replies. A body that is not
  // ["Name", {...}] or names no registered call is answered with a failure
  // of kind "bad request" (status 200: the protocol carries it).
  void Handle(std::string_view body, const CallContext& context, ReplyFn reply) const;

 private:
  std::map<std::string, ExtensionCall, std::less<>> calls_;
};

// ["Name", result].
RpcResult SuccessResult(const std::string& name, const nlohmann::json& result);
// ["Failure", {"kind", "message", "args"}].
RpcResult FailureResult(const Error& error);

}  // namespace xgdb::rpc

#endif  // XGDB_RPC_EXTENSION_H_
