// `doctor`: checks what an operator would check before trusting a host's
// repository (docs/operations.md, "Check a host"), each with what to do when
// it fails. Exit status 0: nothing to do; 3: some check needs action.
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "xgdb/error.h"

namespace xgdb::cli {
namespace {

constexpr int kExitActionNeeded = 3;
constexpr char kDefaultConfig[] = "/etc/xapi-gitdb/xapi-gitdb.conf";
constexpr size_t kPackBound = 16;  // what the background repacker keeps to
constexpr double kMinFreeShare = 0.05;
constexpr uint64_t kMinFreeBytes = 256ull << 20;
constexpr int64_t kMaxClockSkewMs = 1000;

struct DoctorArgs {
  std::string config;
  std::vector<std::string> secret_files;
};

struct Check {
  std::string name;
  bool ok = true;
  std::string detail;  // what was found
  std::string action;  // what to do when !ok
};

struct ProgramResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh.
ProgramResult RunShell(const std::string& command) {
  ProgramResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs `argv` (each word quoted for the shell), output and errors together.
ProgramResult RunProgram(const std::vector<std::string>& argv) {
  std::string command;
  for (const std::string& a : argv) {
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    command += quoted + "' ";
  }
  return RunShell(command + "2>&1");
}

Check RepositoryCheck(const GlobalOptions& global) {
  Check c;
  c.name = "repository";
  try {
    auto store = OpenReadOnly(global);
    auto db = store->LoadAt("master");  // every row of master, checked
    c.detail = "master " + store->Head().substr(0, 12) + " reads whole: " +
               std::to_string(db->TotalRows()) + " rows";
  } catch (const Error& e) {
    c = {"repository", false, e.what(),
         "restore it from a backup or a peer's (docs/operations.md, \"Rebuild a lost host\")"};
  }
  return c;
}

Check FsckCheck(const GlobalOptions& global) {
  if (RunShell("command -v git >/dev/null 2>&1").exit_code != 0) {
    return {"fsck", true, "skipped: git is not installed", ""};
  }
  ProgramResult r = RunProgram({"git", "--git-dir=" + global.repo, "fsck", "--strict",
                                "--no-dangling", "--no-progress"});
  if (r.exit_code == 0) return {"fsck", true, "git fsck --strict: clean", ""};
  return {"fsck", false, "git fsck --strict: " + FirstLine(r.output),
          "restore it from a backup or a peer's (docs/operations.md)"};
}

Check PacksCheck(const GlobalOptions& global) {
  size_t packs = OpenReadOnly(global)->PackCount();
  std::string detail = std::to_string(packs) + " packs";
  if (packs <= kPackBound) return {"packs", true, detail, ""};
  return {"packs", false, detail + " (the repacker keeps up to " + std::to_string(kPackBound) + ")",
          "xapi-gitdb gc"};
}

Check DiskCheck(const GlobalOptions& global) {
  struct statvfs st {};
  if (statvfs(global.repo.c_str(), &st) != 0) {
    return {"disk", false, std::string("statvfs: ") + std::strerror(errno), "check the mount"};
  }
  uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  double share = st.f_blocks ? static_cast<double>(st.f_bavail) / st.f_blocks : 0;
  char detail[128];
  std::snprintf(detail, sizeof detail, "%.1f GB free (%.0f%%)", free_bytes / 1e9, share * 100);
  if (free_bytes >= kMinFreeBytes && share >= kMinFreeShare) return {"disk", true, detail, ""};
  return {"disk", false, detail,
          "free space on the repository's file system (xapi-gitdb gc; docs/operations.md)"};
}

// Group or others must not reach the repository or a secret.
Check PrivateFileCheck(const std::string& name, const std::string& path, bool directory) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return {name, false, path + ": " + std::strerror(errno), "create it (docs/operations.md)"};
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  std::string detail = path + " mode " + mode;
  if (directory != S_ISDIR(st.st_mode)) {
    return {name, false, detail + (directory ? " is not a directory" : " is not a file"), "fix it"};
  }
  if ((st.st_mode & 077) == 0) return {name, true, detail, ""};
  return {name, false, detail + ": readable by others", "chmod go-rwx " + path};
}

// The secret files the configuration names ("secret-file = [...]").
std::vector<std::string> ConfiguredSecrets(const std::string& config) {
  std::vector<std::string> out;
  for (const auto& item : CLI::ConfigTOML().from_file(config)) {
    if (item.name == "secret-file") out.insert(out.end(), item.inputs.begin(), item.inputs.end());
  }
  return out;
}

Check ConfigCheck(const GlobalOptions& global, const std::string& config) {
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  ProgramResult r = RunProgram({self, "--repo", global.repo, "serve", "--config", config, "--check"});
  if (r.exit_code == 0) return {"config", true, config + ": serve accepts it", ""};
  return {"config", false, config + ": " + FirstLine(r.output),
          "fix " + config + " (`xapi-gitdb serve --config " + config + " --check`)"};
}

Check DaemonCheck(const GlobalOptions& global) {
  std::optional<RepositoryHolder> daemon = Store::Holder(global.repo);
  if (!daemon) return {"daemon", true, "none serves the repository", ""};
  try {
    nlohmann::json s = CallDaemon(*daemon, "ask the daemon its status", "/xapi_gitdb",
                                  nlohmann::json::array({"Status", nlohmann::json::object()}))[1];
    std::string detail = "pid " + std::to_string(daemon->pid) + " answers";
    const nlohmann::json& peers = s["peers"];
    if (peers.is_object() && peers["down"].get<int>() > 0) {
      return {"daemon", false, detail + "; " + std::to_string(peers["down"].get<int>()) +
                                   " peers down",
              "xapi-gitdb peers (docs/replication.md)"};
    }
    return {"daemon", true, detail, ""};
  } catch (const Error& e) {
    return {"daemon", false, "pid " + std::to_string(daemon->pid) + ": " + e.what(),
            "restart it (systemctl restart xapi-gitdb)"};
  }
}

// Leases, fencing tokens and commit times assume clocks that agree: the
// daemon's peers report theirs with every answer (Peer_list clock_skew_ms).
Check ClockCheck(const GlobalOptions& global) {
  std::optional<RepositoryHolder> daemon = Store::Holder(global.repo);
  if (!daemon) return {"clock", true, "skipped: no daemon (peers' clocks come through it)", ""};
  nlohmann::json peers;
  try {
    peers = CallDaemon(*daemon, "list peers", "/xapi_gitdb",
                       nlohmann::json::array({"Peer_list", nlohmann::json::object()}))[1]["peers"];
  } catch (const Error&) {
    return {"clock", true, "skipped: the daemon does not replicate", ""};
  }
  int64_t worst = 0;
  std::string worst_peer;
  size_t measured = 0;
  for (const auto& p : peers) {
    if (!p.contains("clock_skew_ms") || p["clock_skew_ms"].is_null()) continue;
    ++measured;
    int64_t skew = std::llabs(p["clock_skew_ms"].get<int64_t>());
    if (skew >= worst) {
      worst = skew;
      worst_peer = p["uuid"].get<std::string>();
    }
  }
  std::string detail = std::to_string(measured) + " peers measured, largest skew " +
                       std::to_string(worst) + " ms" +
                       (worst_peer.empty() ? "" : " (" + worst_peer + ")");
  if (worst <= kMaxClockSkewMs) return {"clock", true, detail, ""};
  return {"clock", false, detail,
          "synchronise the clocks (NTP) of this host and " + worst_peer};
}

int RunDoctor(const GlobalOptions& global, const DoctorArgs& args) {
  RequireRepository(global);
  // A check that cannot run (the repository does not open) fails itself.
  auto guarded = [&global](const char* name, Check (*check)(const GlobalOptions&)) {
    try {
      return check(global);
    } catch (const Error& e) {
      return Check{name, false, e.what(), "see the repository check"};
    }
  };
  std::vector<Check> checks = {RepositoryCheck(global), FsckCheck(global),
                               guarded("packs", PacksCheck), DiskCheck(global),
                               PrivateFileCheck("permissions", global.repo, true)};
  std::string config = args.config;
  std::error_code ec;
  if (config.empty() && std::filesystem::exists(kDefaultConfig, ec)) config = kDefaultConfig;
  std::vector<std::string> secrets = args.secret_files;
  if (!config.empty()) {
    checks.push_back(ConfigCheck(global, config));
    if (secrets.empty() && checks.back().ok) secrets = ConfiguredSecrets(config);
  }
  for (const std::string& secret : secrets) {
    checks.push_back(PrivateFileCheck("secret", secret, false));
  }
  checks.push_back(DaemonCheck(global));
  checks.push_back(ClockCheck(global));

  bool ok = true;
  nlohmann::json out = nlohmann::json::array();
  for (const Check& c : checks) {
    ok = ok && c.ok;
    out.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}, {"action", c.action}});
  }
  if (global.json) {
    PrintJson({{"ok", ok}, {"checks", out}});
  } else {
    for (const Check& c : checks) {
      std::printf("%-5s %-12s %s%s\n", c.ok ? "ok" : "FAIL", c.name.c_str(), c.detail.c_str(),
                  c.ok ? "" : ("\n      -> " + c.action).c_str());
    }
    std::printf("%s\n", ok ? "nothing to do" : "action needed");
  }
  return ok ? 0 : kExitActionNeeded;
}

}  // namespace

void RegisterDoctorCommand(CLI::App& app, GlobalOptions& global, CommandTable& table) {
  auto args = std::make_shared<DoctorArgs>();
  auto* sub = app.add_subcommand("doctor", "Check the repository and its setting; say what to do");
  sub->footer("Checks: the repository reads whole, git fsck, pack count, free disk, the\n"
              "repository's and the secrets' permissions, the config file, the daemon,\n"
              "its peers' clocks.\n"
              "Exit status 0: nothing to do; 3: some check needs action.");
  sub->add_option("--config", args->config,
                  std::string("serve's config file to check (default ") + kDefaultConfig +
                      " when it exists)")
      ->type_name("FILE");
  sub->add_option("--secret-file", args->secret_files,
                  "A pool secret file to check (default: the config's secret-file)")
      ->type_name("FILE")
      ->allow_extra_args(false);
  table.Add(sub, [&global, args] { return RunDoctor(global, *args); });
}

}  // namespace xgdb::cli
