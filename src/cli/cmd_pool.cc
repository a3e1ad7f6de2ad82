// The pool's view from one host (docs/replication.md): `peers` asks the
// running daemon how its peers are doing; `conflicts` lists the decisions
// replication merges recorded in master's history; `quarantine` lists the
// peers' heads the daemon refused (ownership, docs/replication.md).
#include <cstdio>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "xgdb/error.h"

namespace xgdb::cli {
namespace {

// What the running daemon's replicator says (the Peer_list call).
nlohmann::json ReplicationStatus(const GlobalOptions& global) {
  RequireRepository(global);
  std::optional<RepositoryHolder> daemon = Store::Holder(global.repo);
  if (!daemon) {
    throw Error(ErrorKind::kInvalidArgument, "no daemon serves " + global.repo +
                                                 ": peers are what a running daemon sees");
  }
  return CallDaemon(*daemon, "list peers", "/xapi_gitdb",
                    nlohmann::json::array({"Peer_list", nlohmann::json::object()}))[1];
}

int RunPeers(const GlobalOptions& global) {
  nlohmann::json status = ReplicationStatus(global);
  if (global.json) {
    PrintJson(status);
    return 0;
  }
  std::printf("host %s, master %s\n", status["host"].get<std::string>().c_str(),
              status["master"].get<std::string>().c_str());
  std::printf("%-38s %-21s %-7s %-6s %-18s %9s %8s %10s %10s\n", "PEER", "ADDRESS", "STATE",
              "ROLE", "LAG", "LAST (ms)", "RTT (ms)", "BYTES IN", "BYTES OUT");
  for (const auto& p : status["peers"]) {
    std::string last = p["last_exchange_ms_ago"].is_null()
                           ? "-"
                           : std::to_string(p["last_exchange_ms_ago"].get<int64_t>());
    // "none", or "N commits, M ms" ('?' where it cannot be told).
    std::string lag = "none";
    if (!p["in_sync"].get<bool>()) {
      auto text = [](const nlohmann::json& v) {
        return v.is_null() ? std::string("?") : std::to_string(v.get<int64_t>());
      };
      lag = text(p["lag_commits"]) + " commits, " + text(p["lag_ms"]) + " ms";
    }
    std::printf("%-38s %-21s %-7s %-6s %-18s %9s %8.1f %10llu %10llu\n",
                p["uuid"].get<std::string>().c_str(), p["address"].get<std::string>().c_str(),
                p["state"].get<std::string>().c_str(), p["role"].get<std::string>().c_str(),
                lag.c_str(), last.c_str(), p["rtt_ms"].get<double>(),
                static_cast<unsigned long long>(p["bytes_in"].get<uint64_t>()),
                static_cast<unsigned long long>(p["bytes_out"].get<uint64_t>()));
  }
  return 0;
}

int RunConflicts(const GlobalOptions& global, size_t max_commits) {
  std::unique_ptr<Store> store = OpenReadOnly(global);
  nlohmann::json out = nlohmann::json::array();
  for (const CommitInfo& c : store->Log("master", max_commits)) {
    std::istringstream lines(c.message);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("Conflict: ", 0) != 0) continue;
      out.push_back({{"commit", c.id}, {"time", c.time}, {"decision", line.substr(10)}});
    }
  }
  if (global.json) {
    PrintJson(out);
    return 0;
  }
  for (const auto& d : out) {
    std::printf("%s %s\n", d["commit"].get<std::string>().substr(0, 12).c_str(),
                d["decision"].get<std::string>().c_str());
  }
  return 0;
}

int RunQuarantine(const GlobalOptions& global) {
  nlohmann::json refused = ReplicationStatus(global)["quarantined"];
  if (global.json) {
    PrintJson(refused);
    return 0;
  }
  for (const auto& q : refused) {
    std::string fields;
    for (const auto& f : q["fields"]) fields += (fields.empty() ? "" : ", ") + f.get<std::string>();
    std::printf("host %s, head %s\n  %s\n", q["host"].get<std::string>().c_str(),
                q["head"].get<std::string>().c_str(), q["reason"].get<std::string>().c_str());
    if (!fields.empty()) std::printf("  fields: %s\n", fields.c_str());
  }
  return 0;
}

}  // namespace

void RegisterPoolCommands(CLI::App& app, GlobalOptions& global, CommandTable& table) {
  auto* peers = app.add_subcommand("peers", "How the daemon's replication peers are doing");
  peers->footer("Per peer: address, state (up, suspect, down), role in the tree, whether it\n"
                "holds every head this host holds, last exchange, round trip, bytes.");
  table.Add(peers, [&global] { return RunPeers(global); });

  auto* quarantine = app.add_subcommand(
      "quarantine", "Peers' heads refused for changing what their host does not own");
  quarantine->footer("Per host: the refused head (kept as refs/quarantine/<uuid>), the first\n"
                     "commit that broke a rule, why, and the fields it changed.");
  table.Add(quarantine, [&global] { return RunQuarantine(global); });

  auto max_commits = std::make_shared<size_t>(10000);
  auto* conflicts =
      app.add_subcommand("conflicts", "Concurrent changes replication settled, newest first");
  conflicts->footer("Each line: the merge commit, then what was kept over what.");
  conflicts->add_option("-n,--max-commits", *max_commits, "Commits of master to look through")
      ->capture_default_str();
  table.Add(conflicts, [&global, max_commits] { return RunConflicts(global, *max_commits); });
}

}  // namespace xgdb::cli
