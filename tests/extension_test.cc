// The envelope of our own calls (proto/xapi-gitdb.md).
#include "rpc/extension.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "xgdb/error.h"

namespace xgdb::rpc {
namespace {

RpcResult Call(const ExtensionRegistry& registry, std::string_view body,
               const std::string& task = "") {
  RpcResult answer{0, "", ""};
  registry.Handle(body, CallContext{task}, [&](RpcResult r) { answer = std::move(r); });
  return answer;
}

TEST(ExtensionRegistry, RunsTheNamedCallWithItsArgumentsAndTask) {
  ExtensionRegistry registry;
  registry.Register("Echo", [](const nlohmann::json& args, const CallContext& c, ReplyFn reply) {
    reply(SuccessResult("Echo", {{"x", args.at("x")}, {"task", c.task}}));
  });
  RpcResult r = Call(registry, R"(["Echo", {"x": 42}])", "t1");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ(nlohmann::json::parse(R"(["Echo", {"x": 42, "task": "t1"}])"),
            nlohmann::json::parse(r.body));
}

TEST(ExtensionRegistry, ErrorsAreFailuresNamingTheirKind) {
  ExtensionRegistry registry;
  registry.Register("Boom", [](const nlohmann::json&, const CallContext&, ReplyFn) {
    throw Error(ErrorKind::kConflict, "conflict: VM OpaqueRef:a name__label",
                {"VM", "OpaqueRef:a", "name__label"});
  });
  nlohmann::json f = nlohmann::json::parse(Call(registry, R"(["Boom", {}])").body);
  EXPECT_EQ("Failure", f[0]);
  EXPECT_EQ("conflict", f[1]["kind"]);
  EXPECT_EQ("VM", f[1]["args"][0]);
  EXPECT_NE(std::string::npos, f[1]["message"].get<std::string>().find("name__label"));
}

TEST(ExtensionRegistry, MalformedOrUnknownCallsAreBadRequests) {
  ExtensionRegistry registry;
  for (const char* body : {"", "not json", "{}", R"(["Nope", {}])", R"(["Nope"])", "[1, {}]"}) {
    RpcResult r = Call(registry, body);
    EXPECT_EQ(200, r.status) << body;
    nlohmann::json f = nlohmann::json::parse(r.body);
    EXPECT_EQ("Failure", f[0]) << body;
    EXPECT_EQ("bad request", f[1]["kind"]) << body;
  }
}

}  // namespace
}  // namespace xgdb::rpc
