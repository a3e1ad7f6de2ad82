// `xapi-gitdb lock ...`: the lock service (docs/locks.md) for SM plugins,
// scripts and admins, through the daemon that serves the repository. A
// grant is held by that daemon's host and renewed by it until released:
// a script that acquires must release (or let the daemon's death free it).
//
// Exit status: 0 done, 1 error, 2 usage, 3 refused (a lock held by someone
// else, a token no longer held, a compare-and-set whose expectation failed),
// so that shell scripts can branch without parsing.
#include <cstdio>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "server/client.h"
#include "xgdb/error.h"

namespace xgdb::cli {
namespace {

constexpr int kExitRefused = 3;

struct LockArgs {
  std::string name, key, owner, expect, value;
  uint64_t token = 0;
  bool shared = false, remove = false, has_expect = false, has_value = false;
  double ttl = 0, wait = 0;
};

// Sends one Lock_* call to the daemon; the answer's result, or nullopt
// (after printing why) when the service refused it as "busy".
std::optional<nlohmann::json> Ask(const GlobalOptions& global, const std::string& call,
                                  const nlohmann::json& args, int timeout_ms) {
  RequireRepository(global);
  std::optional<RepositoryHolder> daemon = Store::Holder(global.repo);
  if (!daemon || daemon->served_at.empty()) {
    throw Error(ErrorKind::kInvalidArgument,
                "no daemon serves " + global.repo + " on a unix socket: locks are kept by the "
                "pool's daemons");
  }
  server::Answer answer = server::Connection::Unix(daemon->served_at, timeout_ms)
                              .Call("/xapi_gitdb", nlohmann::json::array({call, args}).dump(),
                                    "", false);
  nlohmann::json reply = nlohmann::json::parse(answer.body, nullptr, false);
  if (!reply.is_array() || reply.size() != 2) {
    throw Error(ErrorKind::kIo, "the daemon answered HTTP " + std::to_string(answer.status) +
                                    ": " + answer.body);
  }
  if (reply[0] == "Failure") {
    std::string message = reply[1].value("message", "refused");
    if (reply[1].value("kind", "") != "busy") throw Error(ErrorKind::kIo, message);
    std::fprintf(stderr, "xapi-gitdb: %s\n", message.c_str());
    return std::nullopt;
  }
  return reply[1];
}

int RunLock(const GlobalOptions& global, const std::string& verb, const LockArgs& a) {
  nlohmann::json args = nlohmann::json::object();
  std::string call;
  // Long enough for a wait plus an election.
  int timeout_ms = static_cast<int>(a.wait * 1000) + 15000;
  if (verb == "cas" && a.has_value == a.remove) {
    throw CLI::ValidationError("cas needs exactly one of --value and --delete");
  }
  if (verb == "acquire") {
    call = "Lock_acquire";
    args = {{"name", a.name}, {"mode", a.shared ? "shared" : "exclusive"}, {"wait", a.wait}};
    if (a.ttl > 0) args["ttl"] = a.ttl;
    if (!a.owner.empty()) args["owner"] = a.owner;
  } else if (verb == "release" || verb == "renew" || verb == "check") {
    call = verb == "release" ? "Lock_release" : verb == "renew" ? "Lock_renew" : "Lock_check";
    args = {{"name", a.name}, {"token", a.token}};
  } else if (verb == "cas") {
    call = "Lock_cas";
    args = {{"key", a.key},
            {"expect", a.has_expect ? nlohmann::json(a.expect) : nlohmann::json(nullptr)},
            {"value", a.remove ? nlohmann::json(nullptr) : nlohmann::json(a.value)}};
  } else if (verb == "get") {
    call = "Lock_get";
    args = {{"key", a.key}};
  } else {
    call = verb == "list" ? "Lock_list" : "Lock_status";
  }
  std::optional<nlohmann::json> result = Ask(global, call, args, timeout_ms);
  if (!result) return kExitRefused;
  if (global.json) {
    PrintJson(*result);
  } else if (verb == "acquire") {
    std::printf("%llu\n", static_cast<unsigned long long>((*result)["token"].get<uint64_t>()));
  } else if (verb == "list") {
    std::printf("%-30s %-9s %10s %8s %-44s %s\n", "LOCK", "MODE", "TOKEN", "EXPIRES", "HOLDER",
                "OWNER");
    for (const auto& l : (*result)["locks"]) {
      std::printf("%-30s %-9s %10llu %7.1fs %-44s %s\n", l["name"].get<std::string>().c_str(),
                  l["mode"].get<std::string>().c_str(),
                  static_cast<unsigned long long>(l["token"].get<uint64_t>()),
                  l["expires_in"].get<double>(), l["holder"].get<std::string>().c_str(),
                  l["owner"].get<std::string>().c_str());
    }
    for (const auto& [key, value] : (*result)["values"].items()) {
      std::printf("key %s = %s\n", key.c_str(), value.get<std::string>().c_str());
    }
  } else if (verb == "cas" || verb == "get") {
    const nlohmann::json& v = (*result)["value"];
    std::printf("%s\n", v.is_null() ? "(absent)" : v.get<std::string>().c_str());
    if (verb == "cas" && !(*result)["ok"].get<bool>()) return kExitRefused;
  } else if (verb == "check") {
    bool held = (*result)["held"].get<bool>();
    std::printf("%s (newest grant: token %llu)\n", held ? "held" : "not held",
                static_cast<unsigned long long>((*result)["newest"].get<uint64_t>()));
    if (!held) return kExitRefused;
  } else if (verb == "status") {
    PrintJson(*result);
  }
  return 0;
}

}  // namespace

void RegisterLockCommands(CLI::App& app, GlobalOptions& global, CommandTable& table) {
  auto* lock = app.add_subcommand("lock", "The pool's lock service (docs/locks.md)");
  lock->require_subcommand(1);
  lock->footer("Exit status 3: refused (held by another, not held, or a failed cas).");
  auto a = std::make_shared<LockArgs>();
  auto add = [&](const std::string& verb, const std::string& what) {
    auto* sub = lock->add_subcommand(verb, what);
    table.Add(sub, [&global, verb, a] { return RunLock(global, verb, *a); });
    return sub;
  };
  auto* acquire = add("acquire", "Take a lock; prints its token (held until released)");
  acquire->add_option("name", a->name, "Lock name, e.g. VDI:<uuid>")->required();
  acquire->add_flag("--shared", a->shared, "Shared (any number of holders) instead of exclusive");
  acquire->add_option("--ttl", a->ttl, "Seconds the grant outlives its host's daemon (15)");
  acquire->add_option("--wait", a->wait, "Seconds to wait for it (0: try once)")
      ->capture_default_str();
  acquire->add_option("--owner", a->owner, "Who on this host holds it (distinct holders)");
  const std::map<std::string, std::string> by_token = {
      {"release", "Give a lock back"},
      {"renew", "Extend a lock's lease"},
      {"check", "Whether a token is still held (fencing: exit 3 when not)"}};
  for (const auto& [verb, what] : by_token) {
    auto* sub = add(verb, what);
    sub->add_option("name", a->name, "Lock name")->required();
    sub->add_option("token", a->token, "Its token, as acquire printed it")->required();
  }
  add("list", "Every lock: holder, mode, token, expiry; and the keys");
  add("status", "This daemon's role in the lock service and its leader");
  auto* cas = add("cas", "Compare-and-set a key; prints the value after it");
  cas->add_option("key", a->key, "Key, e.g. VDI:<uuid>:activating")->required();
  cas->add_option_function<std::string>(
      "--expect", [a](const std::string& v) { a->expect = v, a->has_expect = true; },
      "Set only if the value is this (default: only if the key is absent)");
  cas->add_option_function<std::string>(
      "--value", [a](const std::string& v) { a->value = v, a->has_value = true; },
      "The new value");
  cas->add_flag("--delete", a->remove, "Delete the key instead");
  auto* get = add("get", "A key's value (a linearizable read)");
  get->add_option("key", a->key, "Key")->required();
}

}  // namespace xgdb::cli
