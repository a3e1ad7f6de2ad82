// xapi-gitdb: the one binary. Subcommands live in cmd_*.cc; this file parses
// the command line, runs the chosen subcommand and maps failures to exit
// codes: 0 success, 1 an error (one line on stderr), 2 a usage error.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli_common.h"
#include "xgdb/version.h"
#include "xgdb/error.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

void PrintError(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "xapi-gitdb: error: %s\n", message.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace xgdb::cli;
  GlobalOptions global;
  CommandTable table;

  CLI::App app{
      "xapi-gitdb: xapi's pool database kept in a git repository.\n"
      "Every object is a directory and every field a file; plain git works on it."};
  app.name("xapi-gitdb");
  // Global options are accepted after the subcommand too ("get X --json").
  app.fallthrough();
  app.require_subcommand(1);
  app.add_option("--repo", global.repo,
                 "The git repository holding the database (env XAPI_GITDB_REPO)")
      ->envname("XAPI_GITDB_REPO")
      ->type_name("PATH")
      ->capture_default_str();
  app.add_flag("--json", global.json, "Print machine-readable JSON instead of text");
  app.set_version_flag("--version", xgdb::Version());

  RegisterRepoCommands(app, global, table);
  RegisterObjectCommands(app, global, table);
  RegisterHistoryCommands(app, global, table);
  RegisterServeCommand(app, global, table);
  RegisterRewindCommands(app, global, table);  // cmd_rewind.cc: diff, revert
  RegisterPoolCommands(app, global, table);    // cmd_pool.cc: peers, conflicts
  RegisterSimCommand(app, global, table);      // cmd_sim.cc
  RegisterLockCommands(app, global, table);    // cmd_lock.cc
  RegisterStatusCommands(app, global, table);  // cmd_status.cc: status, gc
  RegisterDoctorCommand(app, global, table);   // cmd_doctor.cc
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    std::string footer = sub->get_footer();
    sub->footer((footer.empty() ? "" : footer + "\n\n") +
                "Global options (before or after the subcommand): --repo PATH, --json");
  }

  // The library logs routine events (repacks) at info: noise for a command
  // line tool. `serve` sets its own level from --log-level.
  spdlog::set_level(spdlog::level::warn);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version requests are "errors" with exit code 0 to CLI11.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string help = "xapi-gitdb";
    for (const CLI::App* sub : app.get_subcommands()) help += " " + sub->get_name();
    PrintError(std::string(e.what()) + " (see `" + help + " --help`)");
    return kExitUsage;
  }

  try {
    for (auto& [sub, handler] : table.entries) {
      if (sub->parsed()) return handler();
    }
    PrintError("no subcommand given (see --help)");
    return kExitUsage;
  } catch (const CLI::Error& e) {
    // A handler found the arguments inconsistent (UsageError()).
    PrintError(e.what());
    return kExitUsage;
  } catch (const xgdb::Error& e) {
    PrintError(e.what());
    return kExitError;
  } catch (const std::exception& e) {
    // Not ours (std::bad_alloc, a JSON library error): still one line.
    PrintError(e.what());
    return kExitError;
  }
}
