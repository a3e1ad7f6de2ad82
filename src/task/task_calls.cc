#include "task/task_calls.h"

#include <nlohmann/json.hpp>

#include "task/branch_apply.h"
#include "task/change_json.h"
#include "xgdb/error.h"

namespace xgdb::task {

namespace {

using nlohmann::json;

// A string argument; `fallback` when absent (nullptr: required).
std::string Arg(const json& args, const char* name, const std::string* fallback = nullptr) {
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) {
    if (fallback != nullptr) return *fallback;
    throw Error(ErrorKind::kBadRequest, std::string("missing argument \"") + name + "\"");
  }
  if (!it->is_string()) {
    throw Error(ErrorKind::kBadRequest, std::string("argument \"") + name + "\" must be a string");
  }
  return it->get<std::string>();
}

// The task a call names: its "task" argument, else the x-xgdb-task header.
std::string TaskArg(const json& args, const rpc::CallContext& context) {
  std::string id = Arg(args, "task", &context.task);
  if (id.empty()) throw Error(ErrorKind::kBadRequest, "which task? (\"task\" or x-xgdb-task)");
  return id;
}

// Task_begin's "locks": [{"name": N, "token": T}, ...] (absent: none).
std::vector<LockGuard> GuardsArg(const json& args) {
  std::vector<LockGuard> guards;
  auto it = args.find("locks");
  if (it == args.end() || it->is_null()) return guards;
  if (!it->is_array()) throw Error(ErrorKind::kBadRequest, "\"locks\" must be a list");
  for (const json& g : *it) {
    auto name = g.is_object() ? g.find("name") : g.end();
    auto token = g.is_object() ? g.find("token") : g.end();
    if (name == g.end() || !name->is_string() || name->get<std::string>().empty() ||
        token == g.end() || !token->is_number_unsigned() || token->get<uint64_t>() == 0 ||
        name->get<std::string>().find('\n') != std::string::npos) {
      throw Error(ErrorKind::kBadRequest,
                  "each of \"locks\" must be {\"name\": <lock>, \"token\": <token of its grant>}");
    }
    guards.push_back({name->get<std::string>(), token->get<uint64_t>()});
  }
  return guards;
}

json GuardsJson(const std::vector<LockGuard>& guards) {
  json out = json::array();
  for (const LockGuard& g : guards) out.push_back({{"name", g.name}, {"token", g.token}});
  return out;
}

}  // namespace

void RegisterTaskCalls(rpc::ExtensionRegistry& registry, TaskManager& tasks) {
  registry.Register("Task_begin", [&tasks](const json& args, const rpc::CallContext& context,
                                           rpc::ReplyFn reply) {
    std::string parent = Arg(args, "parent", &context.task);
    static const std::string kNone;
    std::string host = Arg(args, "host", &kNone);
    std::vector<LockGuard> guards = GuardsArg(args);
    std::string id = tasks.Begin(parent, host, guards);
    reply(rpc::SuccessResult("Task_begin", {{"task", id},
                                            {"parent", parent},
                                            {"branch", TaskManager::BranchRef(id)},
                                            {"locks", GuardsJson(guards)}}));
  });
  registry.Register("Task_commit", [&tasks](const json& args, const rpc::CallContext& context,
                                            rpc::ReplyFn reply) {
    CommitOutcome out = tasks.Commit(TaskArg(args, context));
    reply(rpc::SuccessResult("Task_commit", {{"commit", out.commit},
                                             {"into", out.into},
                                             {"merge", out.kind},
                                             {"rows", out.rows}}));
  });
  registry.Register("Task_abort", [&tasks](const json& args, const rpc::CallContext& context,
                                           rpc::ReplyFn reply) {
    std::vector<std::string> aborted = tasks.Abort(TaskArg(args, context));
    reply(rpc::SuccessResult("Task_abort", {{"aborted", aborted}}));
  });
  registry.Register("Task_list", [&tasks](const json&, const rpc::CallContext&,
                                          rpc::ReplyFn reply) {
    json list = json::array();
    for (const TaskInfo& t : tasks.List()) {
      list.push_back({{"task", t.id},
                      {"parent", t.parent},
                      {"branch", t.branch},
                      {"base", t.begin_commit},
                      {"host", t.host},
                      {"locks", GuardsJson(t.guards)},
                      {"idle_ms", t.idle_ms},
                      {"children", t.children}});
    }
    reply(rpc::SuccessResult("Task_list", list));
  });

  registry.Register("History_get", [&tasks](const json& args, const rpc::CallContext&,
                                            rpc::ReplyFn reply) {
    static const std::string kMaster = "master", kNone;
    Store& store = tasks.store();
    std::string commit = store.Resolve(Arg(args, "rev", &kMaster));
    std::string ref = Arg(args, "ref");
    std::string field = Arg(args, "field", &kNone);
    // O(rows changed since `commit`): docs/tasks.md, "History".
    std::unique_ptr<Database> db = ImageAt(store, commit);
    std::string table = Arg(args, "table", &kNone);
    if (table.empty()) {
      auto found = db->GetTableFromRef(ref);
      if (!found) throw Error::NotFound("missing row", "", ref);
      table = *found;
    }
    // What git does not hold has no past: rows of non-persistent tables
    // are absent and non-persistent columns blank, as a reload shows them.
    const Table* t = db->schema().FindTable(table);
    if (t == nullptr || !t->persistent) throw Error::NotFound("missing row", table, ref);
    auto shown = [&](const Column& c, std::string value) {
      return t->Stored(c) || c.relation == RelationSide::kOneToManySet ? value : c.empty;
    };
    json result = {{"commit", commit}, {"table", table}, {"ref", ref}};
    if (!field.empty()) {
      const Column* c = t->FindColumn(field);
      std::string value = db->ReadField(table, field, ref);
      result["value"] = c ? shown(*c, std::move(value)) : value;
    } else {
      json fields = json::object();
      for (auto& [name, value] : db->ReadRecord(table, ref).fields) {
        const Column* c = t->FindColumn(name);
        fields[name] = c ? shown(*c, std::move(value)) : value;
      }
      result["fields"] = fields;
    }
    reply(rpc::SuccessResult("History_get", result));
  });
  registry.Register("History_log", [&tasks](const json& args, const rpc::CallContext&,
                                            rpc::ReplyFn reply) {
    static const std::string kMaster = "master", kNone;
    size_t max = args.value("max", 100);
    json list = json::array();
    for (const CommitInfo& c :
         tasks.store().Log(Arg(args, "rev", &kMaster), max, Arg(args, "path", &kNone))) {
      list.push_back(CommitJson(c));
    }
    reply(rpc::SuccessResult("History_log", list));
  });
  registry.Register("History_diff", [&tasks](const json& args, const rpc::CallContext&,
                                             rpc::ReplyFn reply) {
    json list = json::array();
    for (const FieldChange& c : tasks.store().Diff(Arg(args, "from"), Arg(args, "to"))) {
      list.push_back(ChangeJson(c));
    }
    reply(rpc::SuccessResult("History_diff", list));
  });
  registry.Register("History_revert", [&tasks](const json& args, const rpc::CallContext&,
                                               rpc::ReplyFn reply) {
    std::string commit = tasks.Revert(Arg(args, "rev"));
    reply(rpc::SuccessResult("History_revert", {{"commit", commit}}));
  });
}

}  // namespace xgdb::task
