#include "event/event_calls.h"

#include <nlohmann/json.hpp>

#include "xgdb/error.h"

namespace xgdb::event {

namespace {

std::string StringArg(const nlohmann::json& args, const char* name, bool required) {
  auto it = args.find(name);
  if (it == args.end()) {
    if (required) throw Error(ErrorKind::kBadRequest, std::string("missing argument ") + name);
    return "";
  }
  if (!it->is_string()) throw Error(ErrorKind::kBadRequest, std::string(name) + " must be a string");
  return it->get<std::string>();
}

}  // namespace

void RegisterEventCalls(rpc::ExtensionRegistry& registry, EventHub& hub) {
  registry.Register("Event_from", [&hub](const nlohmann::json& args, const rpc::CallContext&,
                                         rpc::ReplyFn reply) {
    auto classes_it = args.find("classes");
    if (classes_it == args.end() || !classes_it->is_array()) {
      throw Error(ErrorKind::kBadRequest, "classes must be an array of strings");
    }
    std::vector<std::string> classes;
    for (const auto& c : *classes_it) {
      if (!c.is_string()) throw Error(ErrorKind::kBadRequest, "classes must be an array of strings");
      classes.push_back(c.get<std::string>());
    }
    std::string token = StringArg(args, "token", false);
    double timeout = 0;  // absent: answer at once
    if (auto t = args.find("timeout"); t != args.end()) {
      if (!t->is_number()) throw Error(ErrorKind::kBadRequest, "timeout must be a number");
      timeout = t->get<double>();
    }
    hub.From(classes, token, timeout, std::move(reply));
  });
  registry.Register("Event_inject", [&hub](const nlohmann::json& args, const rpc::CallContext&,
                                           rpc::ReplyFn reply) {
    std::string token = hub.Inject(StringArg(args, "class", true), StringArg(args, "ref", true));
    reply(rpc::SuccessResult("Event_inject", token));
  });
}

}  // namespace xgdb::event
