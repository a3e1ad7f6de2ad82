// Looking after a repository (docs/operations.md): `status` says what it
// holds and how the daemon serving it is doing, like `etcdctl endpoint
// status`; `gc` combines its packs now.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "xgdb/error.h"
#include "xgdb/version.h"

namespace xgdb::cli {
namespace {

std::string Megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::string Duration(int64_t seconds) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lldh %02lldm %02llds", static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  return buf;
}

// What the repository holds, read-only (works beside a daemon), and what
// the daemon serving it, if any, says of itself.
nlohmann::json Status(const GlobalOptions& global) {
  std::unique_ptr<Store> store = OpenReadOnly(global);
  Store::Stats stats = store->GetStats();
  CommitInfo head = store->GetCommit("master");
  nlohmann::json rows = nlohmann::json::object();
  size_t total = 0;
  for (const auto& [table, n] : stats.rows) {
    rows[table] = n;
    total += n;
  }
  const Schema& schema = *store->schema();
  nlohmann::json out = {
      {"repo", global.repo},
      {"version", Version()},
      {"format", stats.format},
      {"schema", std::to_string(schema.major_version()) + "." +
                     std::to_string(schema.minor_version())},
      {"master", head.id},
      {"master_time", FormatIsoTime(head.time)},
      {"master_subject", FirstLine(head.message)},
      {"generation", store->GenerationAt("master")},
      {"host_refs", store->ListRefs("refs/hosts/").size()},
      {"rows", rows},
      {"total_rows", total},
      {"packs", stats.packs},
      {"pack_bytes", stats.pack_bytes},
      {"repository_bytes", stats.repository_bytes},
      {"daemon", nullptr}};
  if (std::optional<RepositoryHolder> daemon = Store::Holder(global.repo)) {
    try {
      out["daemon"] = CallDaemon(*daemon, "ask the daemon its status", "/xapi_gitdb",
                                 nlohmann::json::array({"Status", nlohmann::json::object()}))[1];
    } catch (const Error& e) {
      out["daemon"] = {{"pid", daemon->pid}, {"error", e.what()}};
    }
  }
  return out;
}

void PrintStatus(const nlohmann::json& s) {
  std::printf("repository  %s (format %d, schema %s; xapi-gitdb %s)\n",
              s["repo"].get<std::string>().c_str(), s["format"].get<int>(),
              s["schema"].get<std::string>().c_str(), s["version"].get<std::string>().c_str());
  std::printf("master      %.12s  %s  %s\n", s["master"].get<std::string>().c_str(),
              s["master_time"].get<std::string>().c_str(),
              s["master_subject"].get<std::string>().c_str());
  std::printf("generation  %lld\n", static_cast<long long>(s["generation"].get<int64_t>()));
  std::printf("disk        %s (%zu packs, %s)\n",
              Megabytes(s["repository_bytes"].get<uint64_t>()).c_str(), s["packs"].get<size_t>(),
              Megabytes(s["pack_bytes"].get<uint64_t>()).c_str());
  std::string tables;
  for (const auto& [table, n] : s["rows"].items()) {
    if (!tables.empty()) tables += ", ";
    tables += table + " " + std::to_string(n.get<size_t>());
  }
  std::printf("rows        %zu in %zu tables: %s\n", s["total_rows"].get<size_t>(),
              s["rows"].size(), tables.c_str());
  std::printf("host refs   %zu\n", s["host_refs"].get<size_t>());
  const nlohmann::json& d = s["daemon"];
  if (d.is_null()) {
    std::printf("daemon      none serves this repository\n");
    return;
  }
  if (d.contains("error")) {
    std::printf("daemon      pid %lld does not answer: %s\n",
                static_cast<long long>(d["pid"].get<int64_t>()),
                d["error"].get<std::string>().c_str());
    return;
  }
  std::printf("daemon      pid %lld, up %s, xapi-gitdb %s, serving %s%s\n",
              static_cast<long long>(d["pid"].get<int64_t>()),
              Duration(d["uptime_s"].get<int64_t>()).c_str(),
              d["version"].get<std::string>().c_str(), d["socket"].get<std::string>().c_str(),
              d["tcp_port"].get<int>() ? (" and tcp port " + std::to_string(d["tcp_port"].get<int>())).c_str() : "");
  if (!d.value("metrics", "").empty()) {
    std::printf("metrics     http://%s/metrics\n", d["metrics"].get<std::string>().c_str());
  }
  if (!d["peers"].is_null()) {
    const nlohmann::json& p = d["peers"];
    std::printf("peers       %d up, %d suspect, %d down, %d unknown\n", p["up"].get<int>(),
                p["suspect"].get<int>(), p["down"].get<int>(), p["unknown"].get<int>());
  }
  if (!d["locks"].is_null()) {
    const nlohmann::json& l = d["locks"];
    std::printf("locks       %s (leader %s, %zu voters)\n", l["role"].get<std::string>().c_str(),
                l["leader"].get<std::string>().empty() ? "unknown"
                                                       : l["leader"].get<std::string>().c_str(),
                l["voters"].size());
  }
}

int RunStatus(const GlobalOptions& global) {
  nlohmann::json s = Status(global);
  if (global.json) {
    PrintJson(s);
  } else {
    PrintStatus(s);
  }
  return 0;
}

// Through the daemon when one serves the repository (it is the one writer).
int RunGc(const GlobalOptions& global) {
  RequireRepository(global);
  nlohmann::json result;
  if (std::optional<RepositoryHolder> daemon = RunningDaemon(global)) {
    result = CallDaemon(*daemon, "gc", "/xapi_gitdb",
                        nlohmann::json::array({"Repository_gc", nlohmann::json::object()}))[1];
  } else {
    std::unique_ptr<Store> store = OpenStore(global);
    size_t combined = store->Compact();
    result = {{"combined", combined}, {"packs", store->PackCount()}};
  }
  if (global.json) {
    PrintJson(result);
  } else {
    std::cout << "combined " << result["combined"].get<size_t>() << " packs; "
              << result["packs"].get<size_t>() << " now\n";
  }
  return 0;
}

}  // namespace

void RegisterStatusCommands(CLI::App& app, GlobalOptions& global, CommandTable& table) {
  auto* status = app.add_subcommand(
      "status", "What the repository holds and how the daemon serving it is doing");
  status->footer("Reads the repository read-only (beside a daemon too) and asks the daemon, "
                 "if one serves it,\nfor its uptime, peers and lock service role.");
  table.Add(status, [&global] { return RunStatus(global); });
  auto* gc = app.add_subcommand("gc", "Combine the repository's packs into one now");
  table.Add(gc, [&global] { return RunGc(global); });
}

}  // namespace xgdb::cli
