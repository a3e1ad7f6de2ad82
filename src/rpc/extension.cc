#include "rpc/extension.h"

#include <exception>

#include <nlohmann/json.hpp>

#include "xgdb/error.h"

namespace xgdb::rpc {

void ExtensionRegistry::Register(const std::string& name, ExtensionCall call) {
  calls_[name] = std::move(call);
}

void ExtensionRegistry::Handle(std::string_view body, const CallContext& context,
                               ReplyFn reply) const {
  // Once the body names a registered call, every answer carries its name
  // (an unregistered name never does: it is the client's text).
  ReplyFn answer = reply;
  try {
    nlohmann::json request = nlohmann::json::parse(body);
    if (!request.is_array() || request.size() != 2 || !request[0].is_string() ||
        !request[1].is_object()) {
      throw Error(ErrorKind::kBadRequest, "a call is [\"Name\", {arguments}]");
    }
    const std::string& name = request[0].get_ref<const std::string&>();
    auto it = calls_.find(name);
    if (it == calls_.end()) throw Error(ErrorKind::kBadRequest, "unknown call " + name);
    answer = [reply, call = it->first](RpcResult result) {
      result.call = call;
      reply(std::move(result));
    };
    it->second(request[1], context, answer);
  } catch (const Error& e) {
    answer(FailureResult(e));
  } catch (const nlohmann::json::exception& e) {
    answer(FailureResult(Error(ErrorKind::kBadRequest, std::string("bad request: ") + e.what())));
  } catch (const std::exception& e) {
    answer(RpcResult{500, "", std::string("internal error: ") + e.what()});
  }
}

RpcResult SuccessResult(const std::string& name, const nlohmann::json& result) {
  return RpcResult{200, nlohmann::json::array({name, result}).dump(), ""};
}

RpcResult FailureResult(const Error& error) {
  nlohmann::json failure = {{"kind", Error::KindName(error.kind())},
                            {"message", error.what()},
                            {"args", error.args()}};
  RpcResult result{200, nlohmann::json::array({"Failure", failure}).dump(), ""};
  result.failed = true;
  return result;
}

}  // namespace xgdb::rpc
