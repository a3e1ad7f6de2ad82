// Whole-repository subcommands: init, import, export.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "statedb/gzip.h"
#include "xgdb/error.h"

namespace xgdb::cli {
namespace {

std::string SchemaVersion(const Schema& schema) {
  return std::to_string(schema.major_version()) + "." + std::to_string(schema.minor_version());
}

// Tables that hold at least one row.
size_t NonEmptyTables(const Database& db) {
  size_t n = 0;
  for (const auto& t : db.schema().tables()) n += db.RowCount(t.name) > 0 ? 1 : 0;
  return n;
}

int RunInit(const GlobalOptions& global, const std::string& schema_arg) {
  auto schema = SchemaFromArgument(schema_arg);
  if (!schema) schema = Schema::Newest();
  auto store = Store::Create(MakeStoreOptions(global), schema);
  std::string head = store->Head();
  if (global.json) {
    PrintJson({{"repo", store->path()}, {"schema", SchemaVersion(*schema)}, {"commit", head}});
  } else {
    std::cout << "created an empty database (schema " << SchemaVersion(*schema) << ") in "
              << store->path() << " as commit " << head.substr(0, 12) << "\n";
  }
  return 0;
}

int RunImport(const GlobalOptions& global, const std::string& file,
              const std::string& schema_arg) {
  auto schema = SchemaFromArgument(schema_arg);
  const std::string name = std::filesystem::path(file).filename().string();
  if (std::optional<RepositoryHolder> daemon = RunningDaemon(global)) {
    throw Error(ErrorKind::kBusy,
                "not importing into " + global.repo + ": process " + std::to_string(daemon->pid) +
                    " (a daemon) serves it; an import replaces the whole database, so stop "
                    "the daemon first");
  }

  // Everything that can be wrong with the input is found here, before the
  // repository is touched.
  StateDbManifest manifest;
  std::unique_ptr<Database> image;
  {
    Progress progress("reading " + name);
    try {
      image = ReadStateDbFile(file, schema, &manifest, progress.Callback());
    } catch (const Error& e) {
      // Make sure the one line names the file, without saying it twice.
      if (std::string(e.what()).find(name) != std::string::npos) throw;
      throw Error(e.kind(), file + ": " + e.what(), e.args());
    }
  }
  const size_t rows = image->TotalRows();
  const size_t tables = NonEmptyTables(*image);
  const std::string version = SchemaVersion(image->schema());

  std::unique_ptr<Store> store;
  {
    Progress progress("committing " + name);
    store = Store::Import(MakeStoreOptions(global), std::move(image), "import " + name,
                          progress.Callback(), {.generation_count = manifest.generation_count});
  }
  const std::string head = store->Head();
  if (global.json) {
    PrintJson({{"repo", store->path()},
               {"file", file},
               {"rows", rows},
               {"tables", tables},
               {"schema", version},
               {"generation", manifest.generation_count},
               {"commit", head}});
  } else {
    std::cout << "imported " << rows << " rows in " << tables << " tables from " << name
              << " (schema " << version << ") as commit " << head.substr(0, 12) << "\n";
  }
  return 0;
}

struct ExportArgs {
  std::string at;
  std::string output;
  bool gzip = false;
};

int RunExport(const GlobalOptions& global, const ExportArgs& args) {
  auto store = OpenReadOnly(global);
  const std::string rev = store->Resolve(args.at.empty() ? "master" : args.at);
  auto db = store->LoadAt(rev);
  const int64_t generation = store->GenerationAt(rev);

  if (args.output.empty() || args.output == "-") {
    if (args.gzip && isatty(STDOUT_FILENO) == 1) {
      UsageError("not writing gzip data to a terminal: use -o FILE or a pipe");
    }
    std::string text = FormatStateDb(*db, generation);
    if (args.gzip) text = statedb::Gzip(text);
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (std::fflush(stdout) != 0) throw Error(ErrorKind::kIo, "writing to stdout failed");
    return 0;
  }
  WriteStateDbFile(*db, generation, args.output, args.gzip);
  if (global.json) {
    PrintJson({{"file", args.output},
               {"commit", rev},
               {"rows", db->TotalRows()},
               {"tables", NonEmptyTables(*db)},
               {"generation", generation},
               {"gzip", args.gzip}});
  } else {
    std::cout << "exported " << db->TotalRows() << " rows in " << NonEmptyTables(*db)
              << " tables (generation " << generation << ") from commit " << rev.substr(0, 12)
              << " to " << args.output << (args.gzip ? " (gzip)" : "") << "\n";
  }
  return 0;
}

// A read-only open: a backup is taken beside a running daemon as well.
int RunBackup(const GlobalOptions& global, const std::string& file) {
  auto store = OpenReadOnly(global);
  const std::string head = store->Head();
  const size_t hosts = store->ListRefs("refs/hosts/").size();
  const size_t objects = store->Backup(file);
  if (global.json) {
    PrintJson({{"file", file}, {"master", head}, {"host_refs", hosts}, {"objects", objects}});
  } else {
    std::cout << "backed up master " << head.substr(0, 12) << " and " << hosts
              << " host refs (" << objects << " objects) to " << file << "\n";
  }
  return 0;
}

int RunRestore(const GlobalOptions& global, const std::string& file) {
  auto store = Store::Restore(MakeStoreOptions(global), file);
  const std::string head = store->Head();
  const size_t rows = store->db().TotalRows();
  if (global.json) {
    PrintJson({{"repo", global.repo}, {"file", file}, {"master", head}, {"rows", rows}});
  } else {
    std::cout << "restored " << global.repo << " from " << file << ": master "
              << head.substr(0, 12) << ", " << rows << " rows\n";
  }
  return 0;
}

}  // namespace

void RegisterRepoCommands(CLI::App& app, GlobalOptions& global, CommandTable& table) {
  {
    auto schema = std::make_shared<std::string>();
    auto* sub = app.add_subcommand("init", "Create a repository holding an empty database");
    sub->add_option("--schema", *schema,
                    "Schema file (JSON) or shipped version, e.g. 5.82 (default: newest)")
        ->type_name("FILE|VERSION");
    table.Add(sub, [&global, schema] { return RunInit(global, *schema); });
  }
  {
    auto file = std::make_shared<std::string>();
    auto schema = std::make_shared<std::string>();
    auto* sub = app.add_subcommand(
        "import", "Import xapi's state.db (plain or gzip) as one commit on master");
    sub->add_option("STATE_DB", *file, "state.db file to import")->required()->check(
        CLI::ExistingFile);
    sub->add_option("--schema", *schema,
                    "Schema file (JSON) or shipped version (default: the one the file's "
                    "manifest names)")
        ->type_name("FILE|VERSION");
    table.Add(sub, [&global, file, schema] { return RunImport(global, *file, *schema); });
  }
  {
    auto args = std::make_shared<ExportArgs>();
    auto* sub = app.add_subcommand("export", "Write the database as xapi's state.db");
    sub->add_option("--at", args->at,
                    "Revision or time (2026-11-24T10:00:00Z, @1700000000); default master")
        ->type_name("REV|TIME");
    sub->add_option("-o,--output", args->output, "Write to FILE atomically (default stdout)")
        ->type_name("FILE");
    sub->add_flag("--gzip", args->gzip, "Compress with gzip (as xapi's compress:true)");
    table.Add(sub, [&global, args] { return RunExport(global, *args); });
  }
  {
    auto file = std::make_shared<std::string>();
    auto* sub = app.add_subcommand(
        "backup", "Write the repository as a git bundle (works beside a running daemon)");
    sub->add_option("FILE", *file, "Bundle to write (git bundle verify / git clone read it)")
        ->required();
    table.Add(sub, [&global, file] { return RunBackup(global, *file); });
  }
  {
    auto file = std::make_shared<std::string>();
    auto* sub = app.add_subcommand("restore", "Make the repository at --repo from a backup");
    sub->add_option("FILE", *file, "Bundle written by backup (or git bundle create --all)")
        ->required()
        ->check(CLI::ExistingFile);
    table.Add(sub, [&global, file] { return RunRestore(global, *file); });
  }
}

}  // namespace xgdb::cli
