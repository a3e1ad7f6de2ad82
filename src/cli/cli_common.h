// What every `xapi-gitdb` subcommand shares: the global options, opening the
// store, finding an object by ref or uuid, --json output, and a progress
// line for long imports.
//
// Each cmd_*.cc registers its subcommands with Register*Commands(); main.cc
// runs the one that was parsed. Handlers throw xgdb::Error on failure and
// main.cc turns it into one line on stderr and exit status 1.
#ifndef XGDB_CLI_CLI_COMMON_H_
#define XGDB_CLI_CLI_COMMON_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "xgdb/database.h"
#include "xgdb/schema.h"
#include "xgdb/statedb.h"
#include "xgdb/store.h"

namespace CLI {
class App;
}

namespace xgdb::cli {

// Options given before or after the subcommand.
struct GlobalOptions {
  std::string repo = "/var/lib/xapi-db";  // --repo, env XAPI_GITDB_REPO
  bool json = false;                      // --json
};

// A subcommand's body; returns the process exit status.
using Handler = std::function<int()>;

// The parsed-subcommand -> handler table main.cc dispatches on.
struct CommandTable {
  std::vector<std::pair<CLI::App*, Handler>> entries;
  void Add(CLI::App* sub, Handler handler) { entries.emplace_back(sub, std::move(handler)); }
};

void RegisterRepoCommands(CLI::App& app, GlobalOptions& global, CommandTable& table);
void RegisterObjectCommands(CLI::App& app, GlobalOptions& global, CommandTable& table);
void RegisterHistoryCommands(CLI::App& app, GlobalOptions& global, CommandTable& table);
void RegisterServeCommand(CLI::App& app, GlobalOptions& global, CommandTable& table);
void RegisterRewindCommands(CLI::App& app, GlobalOptions& global, CommandTable& table);
void RegisterPoolCommands(CLI::App& app, GlobalOptions& global, CommandTable& table);
void RegisterSimCommand(CLI::App& app, GlobalOptions& global, CommandTable& table);
void RegisterLockCommands(CLI::App& app, GlobalOptions& global, CommandTable& table);
void RegisterStatusCommands(CLI::App& app, GlobalOptions& global, CommandTable& table);
void RegisterDoctorCommand(CLI::App& app, GlobalOptions& global, CommandTable& table);

// Thrown by a handler when the arguments do not fit together; main.cc
// prints it and exits with status 2 like any other usage error.
[[noreturn]] void UsageError(const std::string& message);

// StoreOptions for the repository the user named.
StoreOptions MakeStoreOptions(const GlobalOptions& global);
// Error(kCorrupt) with a hint when nothing exists at --repo.
void RequireRepository(const GlobalOptions& global);
// Store::Open for writing, with the error message naming the path;
// Error(kBusy) naming the daemon while one serves the repository.
std::unique_ptr<Store> OpenStore(const GlobalOptions& global);
// Store::Open read-only: no lock, no image, nothing written, so it works
// beside a running daemon and costs what the command reads.
std::unique_ptr<Store> OpenReadOnly(const GlobalOptions& global);
// The process holding --repo for writing (a daemon), if any.
std::optional<RepositoryHolder> RunningDaemon(const GlobalOptions& global);
// Sends `call` (JSON) to that daemon's unix socket at `path`
// ("/remote_db_access_v2" or "/xapi_gitdb") and returns its answer. Errors
// name `what` ("set VM.name__label") and the daemon: Error(kBusy) when it
// serves no unix socket, Error(kIo) when it cannot be reached or refuses.
nlohmann::json CallDaemon(const RepositoryHolder& daemon, const std::string& what,
                          const std::string& path, const nlohmann::json& call);

// --schema: a file path (read as schema JSON) or a shipped version ("5.82").
// Empty: nullptr (the caller picks its default).
std::shared_ptr<const Schema> SchemaFromArgument(const std::string& arg);

// An object found by ref or uuid.
struct ObjectId {
  std::string table;
  std::string ref;
};
// Finds `key` (a ref or a uuid) in any table. With `table` non-empty, only
// there (and `key` may then also be a name_label matching exactly one row).
// Error(kNotFound) naming the key when there is no such object.
ObjectId FindObject(const Database& db, const std::string& table, const std::string& key);

// FindObject on a read-only store: the row `key` names (ref, uuid, or with
// `table` an unambiguous name_label) at commit `rev`: every column in
// column order, or only `column`. A ref costs a few tree lookups; a uuid or
// a name_label a scan of trees (Store::FindRefsAt). Error(kNotFound) as
// FindObject's when nothing matches.
StoredRow FindRow(const Store& store, const std::string& rev, const std::string& table,
                  const std::string& key, const std::string& column = "");

// Prints `j` on stdout (indented, newline-terminated).
void PrintJson(const nlohmann::json& j);
// Local time "2026-11-24 10:00:00 +0100" and UTC ISO-8601 "2026-11-24T09:00:00Z".
std::string FormatLocalTime(int64_t seconds);
std::string FormatIsoTime(int64_t seconds);
// First line of a commit message.
std::string FirstLine(const std::string& message);
// `s` shortened to `width` characters with "..." when longer; control
// characters shown as escapes so one value stays on one line.
std::string OneLine(const std::string& s, size_t width = 0);
// A changed field as `diff` and `show` print it: "+ field: new",
// "- field: old" or "field: old -> new", each value on one line.
std::string FieldChangeLine(const FieldChange& change);

// A progress line on stderr ("importing: 1200/4000 rows (30%)"), drawn only
// when stderr is a terminal, at most ten times a second, and erased by
// Finish() or the destructor.
class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Suitable as a ProgressFn; nullptr when not on a terminal.
  ProgressFn Callback();
  void Update(size_t done, size_t total);
  void Finish();

 private:
  std::string label_;
  bool active_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace xgdb::cli

#endif  // XGDB_CLI_CLI_COMMON_H_
