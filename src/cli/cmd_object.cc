// Object subcommands: get (a record or one field) and set (one field, or one
// element of a set or map field), by ref or uuid.
#include <algorithm>
#include <chrono>
#include <thread>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "rpc/call.h"
#include "schema/sexpr.h"
#include "xgdb/error.h"

namespace xgdb::cli {
namespace {

const Column& RequireColumn(const Schema& schema, const std::string& table,
                            const std::string& field) {
  const Table* t = schema.FindTable(table);
  const Column* c = t ? t->FindColumn(field) : nullptr;
  if (c == nullptr) throw Error(ErrorKind::kNotFound, table + " has no field " + field);
  return *c;
}

// `get`'s positionals: KEY, KEY FIELD, TABLE KEY or TABLE KEY FIELD. Two
// words are TABLE KEY when the first names a table (refs and uuids never
// look like table names).
struct Target {
  std::string table, key, field;
};
Target ParseGetTarget(const Schema& schema, const std::vector<std::string>& args) {
  switch (args.size()) {
    case 1:
      return {"", args[0], ""};
    case 2:
      if (schema.FindTable(args[0]) != nullptr) return {args[0], args[1], ""};
      return {"", args[0], args[1]};
    case 3:
      return {args[0], args[1], args[2]};
    default:
      UsageError("get takes REF|UUID [FIELD] or TABLE REF|UUID [FIELD]");
  }
}

struct GetArgs {
  std::vector<std::string> positionals;
  std::string at;
};

// Read-only: works beside a running daemon, loads no image, and reads only
// the object asked for (store.h, ReadRowAt).
int RunGet(const GlobalOptions& global, const GetArgs& args) {
  auto store = OpenReadOnly(global);
  const std::string rev = store->Resolve(args.at.empty() ? "master" : args.at);
  Target target = ParseGetTarget(*store->schema(), args.positionals);
  StoredRow row = FindRow(*store, rev, target.table, target.key, target.field);

  if (!target.field.empty()) {
    RequireColumn(*store->schema(), row.table, target.field);
    std::string value;
    for (const auto& [name, v] : row.fields) {
      if (name == target.field) value = v;
    }
    if (global.json) {
      PrintJson(value);
    } else {
      std::cout << value << "\n";
    }
    return 0;
  }

  FieldList fields = row.fields;
  std::sort(fields.begin(), fields.end());
  const std::string path = Store::ObjectPath(row.table, row.ref);
  if (global.json) {
    nlohmann::json j_fields = nlohmann::json::object();
    for (const auto& [name, value] : fields) j_fields[name] = value;
    PrintJson({{"table", row.table}, {"ref", row.ref}, {"path", path}, {"fields", j_fields}});
    return 0;
  }
  size_t width = 0;
  for (const auto& f : fields) width = std::max(width, f.first.size());
  std::cout << row.table << " " << row.ref << "\n" << "path: " << path << "\n\n";
  for (const auto& [name, value] : fields) {
    std::cout << "  " << name << ":" << std::string(width - name.size() + 1, ' ')
              << OneLine(value) << "\n";
  }
  return 0;
}

struct SetArgs {
  std::vector<std::string> positionals;
  std::vector<std::string> add_to_map;  // K V
  std::string remove_from_map, add_to_set, remove_from_set;
  std::string message;
  // Given or not (an empty key or element is a legal argument).
  CLI::Option *add_to_map_opt = nullptr, *remove_from_map_opt = nullptr,
              *add_to_set_opt = nullptr, *remove_from_set_opt = nullptr;
};

// The one change `set` makes: a whole value, or one structured operation.
struct Change {
  std::optional<StructuredOp> op;  // none: write `value` whole
  std::string key, value;          // the operation's key (element) and value
  const char* what;                // for the commit message
};

// The change `args` ask for, and the rest of the positionals: TABLE, KEY,
// FIELD. Usage errors for what does not fit together.
Change ParseChange(const SetArgs& args, std::string* table, std::string* key,
                   std::string* field) {
  const bool add_map = args.add_to_map_opt->count() > 0;
  const bool remove_map = args.remove_from_map_opt->count() > 0;
  const bool add_set = args.add_to_set_opt->count() > 0;
  const bool remove_set = args.remove_from_set_opt->count() > 0;
  const int ops = int{add_map} + int{remove_map} + int{add_set} + int{remove_set};
  if (ops > 1) UsageError("give at most one of --add-to-map, --remove-from-map, "
                          "--add-to-set, --remove-from-set");
  const size_t tail = ops == 1 ? 1 : 2;  // FIELD, or FIELD VALUE
  const auto& p = args.positionals;
  if (p.size() == tail + 1) {
    *key = p[0];
  } else if (p.size() == tail + 2) {
    *table = p[0];
    *key = p[1];
  } else {
    UsageError(ops == 1 ? "set with a map/set option takes [TABLE] REF|UUID FIELD"
                        : "set takes [TABLE] REF|UUID FIELD VALUE");
  }
  *field = p[p.size() - tail];
  if (add_map) return {StructuredOp::kAddMap, args.add_to_map[0], args.add_to_map[1], "add to map"};
  if (remove_map) return {StructuredOp::kRemoveMap, args.remove_from_map, "", "remove from map"};
  if (add_set) return {StructuredOp::kAddSet, args.add_to_set, "", "add to set"};
  if (remove_set) return {StructuredOp::kRemoveSet, args.remove_from_set, "", "remove from set"};
  return {std::nullopt, "", p.back(), "set"};
}

// Refuses a change the repository cannot hold (it would be lost at once and
// commit nothing: a non-persistent column, the derived side of a relation)
// and a map operation on a set or the other way round.
void RequireChangeFits(const Change& change, const Schema& schema, const std::string& table,
                       const Column& column) {
  if (!schema.FindTable(table)->Stored(column)) {
    throw Error(ErrorKind::kInvalidArgument,
                table + "." + column.name +
                    " is not stored in the repository (non-persistent, or derived from the "
                    "other side of a relation)");
  }
  if (!change.op) return;
  const bool map_op = *change.op == StructuredOp::kAddMap || *change.op == StructuredOp::kRemoveMap;
  if (column.type != (map_op ? ColumnType::kMap : ColumnType::kSet)) {
    throw Error(ErrorKind::kInvalidArgument,
                table + "." + column.name + " is not a " + (map_op ? "map" : "set"));
  }
}

// Equal as values of `column`: set members and map entries in any order.
bool SameValue(const Column& column, const std::string& a, const std::string& b) {
  if (column.type == ColumnType::kSet) {
    sexpr::StringSet x = sexpr::ParseSet(a), y = sexpr::ParseSet(b);
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    return x == y;
  }
  if (column.type == ColumnType::kMap) {
    sexpr::StringMap x = sexpr::ParseMap(a), y = sexpr::ParseMap(b);
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    return x == y;
  }
  return a == b;
}

void PrintSetResult(const GlobalOptions& global, const std::string& table,
                    const std::string& ref, const std::string& field, const std::string& value,
                    const std::string& commit, const std::string& status,
                    std::optional<int64_t> daemon) {
  if (global.json) {
    nlohmann::json j = {{"table", table},
                        {"ref", ref},
                        {"field", field},
                        {"value", value},
                        {"commit", commit.empty() ? nlohmann::json() : nlohmann::json(commit)}};
    if (daemon) j["daemon"] = *daemon;
    PrintJson(j);
  } else {
    std::cout << table << " " << ref << " " << field << " = " << OneLine(value, 200) << "\n"
              << status << "\n";
  }
}

// `set` while a daemon holds the repository: the change is one protocol
// call on its unix socket (one writer per repository), committed by its
// group commit like any client's.
int SetThroughDaemon(const GlobalOptions& global, const RepositoryHolder& daemon,
                     const Change& change, const std::string& table, const std::string& key,
                     const std::string& field) {
  auto store = OpenReadOnly(global);
  StoredRow row = FindRow(*store, "master", table, key, field);
  const Column& column = RequireColumn(*store->schema(), row.table, field);
  RequireChangeFits(change, *store->schema(), row.table, column);
  const nlohmann::json call =
      change.op ? nlohmann::json{"Process_structured_field", {change.key, change.value},
                                 row.table, field, row.ref,
                                 rpc::StructuredOpWireName(*change.op, true)}
                : nlohmann::json{"Write_field", row.table, row.ref, field, change.value};
  const std::string what = "set " + row.table + "." + field;
  CallDaemon(daemon, what, "/remote_db_access_v2", call);
  nlohmann::json read = CallDaemon(daemon, what, "/remote_db_access_v2",
                                   {"Read_field", row.table, field, row.ref});
  const std::string value = read.size() > 1 && read[1].is_string() ? read[1].get<std::string>() : "";
  // Read your writes: wait (a group commit: ~50 ms) until master holds it,
  // so that `get` or `git show` right after see it too.
  std::string commit;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(std::chrono::milliseconds(10))) {
    std::optional<StoredRow> now = store->ReadRowAt("master", row.ref, row.table, field);
    if (now && SameValue(column, now->fields[0].second, value)) {
      commit = store->Head();
      break;
    }
  }
  const std::string pid = std::to_string(daemon.pid);
  PrintSetResult(global, row.table, row.ref, field, value, commit,
                 commit.empty() ? "sent to the daemon (pid " + pid + "); not committed within 10 s"
                                : "committed by the daemon (pid " + pid + ") in " +
                                      commit.substr(0, 12),
                 daemon.pid);
  return 0;
}

int RunSet(const GlobalOptions& global, const SetArgs& args) {
  std::string table, key, field;
  const Change change = ParseChange(args, &table, &key, &field);
  if (std::optional<RepositoryHolder> daemon = RunningDaemon(global)) {
    return SetThroughDaemon(global, *daemon, change, table, key, field);
  }

  auto store = OpenStore(global);
  Database& db = store->db();
  ObjectId id = FindObject(db, table, key);
  const Column& column = RequireColumn(db.schema(), id.table, field);
  RequireChangeFits(change, db.schema(), id.table, column);
  if (change.op) {
    db.ProcessStructuredField(change.key, change.value, id.table, field, id.ref, *change.op);
  } else {
    db.WriteField(id.table, id.ref, field, change.value);
  }
  std::string message = args.message;
  if (message.empty()) {
    message = std::string("xapi-gitdb set: ") + change.what + " " + id.table + " " + id.ref +
              " " + field;
  }
  const std::string commit = store->Commit(message);
  PrintSetResult(global, id.table, id.ref, field, db.ReadField(id.table, field, id.ref), commit,
                 commit.empty() ? std::string("unchanged: nothing to commit")
                                : "commit " + commit.substr(0, 12),
                 std::nullopt);
  return 0;
}

}  // namespace

void RegisterObjectCommands(CLI::App& app, GlobalOptions& global, CommandTable& table) {
  {
    auto args = std::make_shared<GetArgs>();
    auto* sub = app.add_subcommand("get", "Print an object or one field, found by ref or uuid");
    sub->footer(
        "Forms: REF|UUID [FIELD]   or   TABLE REF|UUID|NAME_LABEL [FIELD].\n"
        "A record prints every field sorted by name; one field prints its value as is.");
    sub->add_option("TARGET", args->positionals, "[TABLE] REF|UUID [FIELD]")
        ->type_name("")
        ->required()
        ->expected(1, 3);
    sub->add_option("--at", args->at, "Read as of a revision or time (default master)")
        ->type_name("REV|TIME");
    table.Add(sub, [&global, args] { return RunGet(global, *args); });
  }
  {
    auto args = std::make_shared<SetArgs>();
    auto* sub = app.add_subcommand("set", "Change one field (or a map or set element) and commit");
    sub->footer(
        "Forms: [TABLE] REF|UUID FIELD VALUE   or   [TABLE] REF|UUID FIELD with one of\n"
        "--add-to-map K V, --remove-from-map K, --add-to-set E, --remove-from-set E.\n"
        "While a daemon serves the repository, the change is sent to it over its unix\n"
        "socket (one writer per repository) and committed by its group commit.");
    sub->add_option("TARGET", args->positionals, "[TABLE] REF|UUID FIELD [VALUE]")
        ->type_name("")
        ->required()
        ->expected(2, 4);
    args->add_to_map_opt =
        sub->add_option("--add-to-map", args->add_to_map, "Add key K with value V to a map field")
            ->expected(2)
            ->type_name("K V");
    args->remove_from_map_opt =
        sub->add_option("--remove-from-map", args->remove_from_map, "Remove key K from a map field")
            ->type_name("K");
    args->add_to_set_opt =
        sub->add_option("--add-to-set", args->add_to_set, "Add element E to a set field")
            ->type_name("E");
    args->remove_from_set_opt =
        sub->add_option("--remove-from-set", args->remove_from_set,
                        "Remove element E from a set field")
            ->type_name("E");
    sub->add_option("-m,--message", args->message, "Commit message (default: what changed)");
    table.Add(sub, [&global, args] { return RunSet(global, *args); });
  }
}

}  // namespace xgdb::cli
