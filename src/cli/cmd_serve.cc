// `serve`: runs the daemon (src/server/daemon.h) with options from flags
// and/or a config file (packaging/xapi-gitdb.conf). The file holds
// `key = value` lines whose keys are the long flag names
// ("socket = /run/xapi-gitdb.sock", "secret-file = [\"/etc/a\", \"/etc/b\"]",
// "sync = true"), '#' comments; flags given on the command line win.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "server/daemon.h"
#include "xgdb/error.h"

namespace xgdb::cli {
namespace {

// "ADDR:PORT", "[v6addr]:PORT", ":PORT" or "PORT" of `flag` into `address`
// (kept when the spec has none) and `port` (0 only when `any_port`).
void ParseAddress(const std::string& flag, const std::string& spec, bool any_port,
                  std::string* address, uint16_t* port_out) {
  std::string port = spec;
  if (!spec.empty() && spec[0] == '[') {
    size_t close = spec.find(']');
    if (close == std::string::npos || close + 1 >= spec.size() || spec[close + 1] != ':') {
      UsageError(flag + " " + spec + ": expected [ADDRESS]:PORT");
    }
    *address = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
  } else if (size_t colon = spec.rfind(':'); colon != std::string::npos) {
    if (colon > 0) *address = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  unsigned long value = 0;
  size_t used = 0;
  try {
    value = std::stoul(port, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != port.size() || (value == 0 && !any_port) || value > 65535) {
    UsageError(flag + " " + spec + ": port must be " + (any_port ? "0" : "1") + "-65535");
  }
  *port_out = static_cast<uint16_t>(value);
}

struct ServeArgs {
  CLI::App* sub = nullptr;
  std::string config_file;
  server::DaemonOptions options;
  std::string tcp;
  std::string metrics;
  bool no_fsync = false;
  bool no_socket = false;
  bool check = false;  // --check: validate, print, do not serve
};

// Fills every option the command line left alone from the config file, as
// if it had been given as a flag (so the flags' checks apply too). CLI11's
// own --config handling only runs on the top-level app, hence by hand.
void ApplyConfigFile(ServeArgs& args) {
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(args.config_file);
  } catch (const CLI::Error& e) {
    throw Error(ErrorKind::kInvalidArgument, "--config " + args.config_file + ": " + e.what());
  }
  for (const auto& item : items) {
    // Section markers ("[serve]") are accepted and ignored.
    if (item.name == "++" || item.name == "--") continue;
    CLI::Option* opt = item.name == "config" || item.name == "help"
                           ? nullptr
                           : args.sub->get_option_no_throw("--" + item.name);
    if (opt == nullptr) {
      throw Error(ErrorKind::kInvalidArgument,
                  "--config " + args.config_file + ": unknown key " + item.fullname());
    }
    if (opt->count() > 0) continue;  // the command line wins
    try {
      opt->add_result(item.inputs);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      throw Error(ErrorKind::kInvalidArgument,
                  "--config " + args.config_file + ": " + item.name + ": " + e.what());
    }
  }
}

int RunServe(const GlobalOptions& global, ServeArgs& args) {
  if (!args.config_file.empty()) ApplyConfigFile(args);
  server::DaemonOptions options = args.options;
  options.repo_path = global.repo;
  if (!args.tcp.empty()) {
    ParseAddress("--tcp", args.tcp, false, &options.tcp_address, &options.tcp_port);
  }
  if (!args.metrics.empty()) {
    options.metrics = true;
    ParseAddress("--metrics", args.metrics, true, &options.metrics_address,
                 &options.metrics_port);
  }
  if (args.no_socket) options.unix_socket.clear();
  if (args.no_fsync) options.fsync = false;
  if (options.unix_socket.empty() && options.tcp_port == 0) {
    UsageError("nothing to listen on: give --socket and/or --tcp");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    UsageError("--tls-cert and --tls-key go together");
  }
  if (!options.peer_ca_file.empty() && options.tls_cert_file.empty()) {
    UsageError("--peer-ca needs --tls-cert and --tls-key (peers speak TLS to this host too)");
  }
  if (options.tcp_port != 0 && options.secret_files.empty()) {
    UsageError("--tcp needs at least one --secret-file (TCP clients must present the pool secret)");
  }
  if (!options.peers.empty() && options.host_uuid.empty()) {
    UsageError("--peer needs --host-uuid (this host's uuid in the pool)");
  }
  if (!options.peers.empty() && options.secret_files.empty()) {
    UsageError("--peer needs --secret-file (peers are called with the pool secret)");
  }
  if (options.peers_from_pool && (options.host_uuid.empty() || options.secret_files.empty())) {
    UsageError("--pool-peers needs --host-uuid and --secret-file");
  }
  if (options.peers_from_pool && options.peer_port == 0 && options.tcp_port == 0) {
    UsageError("--pool-peers needs --peer-port or --tcp (the port the pool's daemons listen on)");
  }
  if (options.commit_interval_ms < 1) UsageError("--commit-interval-ms must be at least 1");
  // Fail here with the CLI's usual message rather than in the daemon's log
  // (the daemon still reports a corrupt repository itself).
  RequireRepository(global);
  if (args.check) {
    nlohmann::json checked = {{"repo", global.repo},
                              {"socket", options.unix_socket},
                              {"tcp", options.tcp_port ? options.tcp_address + ":" +
                                                             std::to_string(options.tcp_port)
                                                       : ""},
                              {"secret_files", options.secret_files},
                              {"metrics", options.metrics ? options.metrics_address + ":" +
                                                                std::to_string(options.metrics_port)
                                                          : ""},
                              {"host_uuid", options.host_uuid},
                              {"peers", options.peers},
                              {"pool_peers", options.peers_from_pool},
                              {"peer_ca", options.peer_ca_file},
                              {"sync", options.sync_commit},
                              {"commit_interval_ms", options.commit_interval_ms}};
    if (global.json) {
      PrintJson(checked);
    } else {
      std::cout << "configuration ok: " << checked.dump() << "\n";
    }
    return 0;
  }
  return server::RunDaemon(options);
}

}  // namespace

void RegisterServeCommand(CLI::App& app, GlobalOptions& global, CommandTable& table) {
  auto args = std::make_shared<ServeArgs>();
  server::DaemonOptions& o = args->options;
  auto* sub = app.add_subcommand("serve", "Serve xapi's remote-database protocol");
  sub->footer(
      "Serves v1 XML and v2 JSON over HTTP on a unix socket and optionally a TCP\n"
      "port, committing changes to the repository, until SIGTERM or SIGINT.");
  args->sub = sub;
  sub->add_option("--config", args->config_file,
                  "Read options from FILE (key = value, keys are the long flag names)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  sub->add_option("--socket", o.unix_socket, "Unix socket to listen on (mode 0600)")
      ->type_name("PATH")
      ->capture_default_str();
  sub->add_flag("--no-socket", args->no_socket, "Do not listen on a unix socket");
  sub->add_option("--tcp", args->tcp, "Also listen on TCP, e.g. 0.0.0.0:80 or [::]:80")
      ->type_name("ADDR:PORT");
  sub->add_option("--metrics", args->metrics,
                  "Serve Prometheus metrics on GET http://ADDR:PORT/metrics, no secret asked "
                  "(port 0: any free port)")
      ->type_name("ADDR:PORT");
  sub->add_option("--secret-file", o.secret_files,
                  "File holding a pool secret TCP clients must present (repeatable)")
      ->type_name("FILE")
      ->allow_extra_args(false);
  sub->add_option("--tls-cert", o.tls_cert_file, "PEM certificate: TLS on the TCP port")
      ->type_name("FILE");
  sub->add_option("--tls-key", o.tls_key_file, "PEM private key for --tls-cert")
      ->type_name("FILE");
  sub->add_option("--peer-ca", o.peer_ca_file,
                  "Call peers over TLS, trusting the certificates of this PEM bundle "
                  "(the pool's host certificates or their CA)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  sub->add_option("--commit-interval-ms", o.commit_interval_ms,
                  "Group commit: commit what changed every this many milliseconds")
      ->type_name("MS")
      ->capture_default_str();
  sub->add_flag("--sync", o.sync_commit, "Answer each write only after its commit");
  sub->add_flag("--no-fsync", args->no_fsync, "Do not fsync commits (tests only: unsafe)");
  sub->add_option("--threads", o.worker_threads, "Worker threads (0: 2)")
      ->type_name("N")
      ->capture_default_str();
  sub->add_option("--max-body-bytes", o.max_body_bytes, "Largest accepted request body")
      ->type_name("BYTES")
      ->capture_default_str();
  sub->add_option("--task-timeout-ms", o.task_timeout_ms,
                  "Abort tasks idle for longer than this (0: never)")
      ->type_name("MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--host-ref", o.host_ref,
                  "This host's ref: tasks may change only objects it owns (docs/ownership.md)")
      ->type_name("REF");
  sub->add_option("--host-uuid", o.host_uuid,
                  "This host's uuid: replicate with --peer hosts (docs/replication.md)")
      ->type_name("UUID");
  sub->add_option("--peer", o.peers,
                  "A peer's daemon, UUID=ADDRESS:PORT (its --tcp port; repeatable)")
      ->type_name("UUID=ADDR:PORT")
      ->allow_extra_args(false);
  sub->add_flag("--pool-peers", o.peers_from_pool,
               "Replicate with the pool's hosts too: each host row's uuid and address, at "
               "--peer-port, followed as rows come and go");
  sub->add_option("--peer-port", o.peer_port,
                  "The port the pool's daemons listen on (default: this one's --tcp port)")
      ->type_name("PORT")
      ->check(CLI::Range(1, 65535));
  sub->add_option("--fanout", o.fanout, "Fan-out of the replication tree")
      ->type_name("N")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_flag("--no-locks{false}", o.locks,
               "Run no lock service (it runs with --host-uuid, --peer and --tcp; docs/locks.md)");
  sub->add_flag("--lock-join", o.lock_join,
               "A host added to a running pool: join its lock service, never start one");
  sub->add_option("--lock-port-offset", o.lock_port_offset,
                  "The lock service's consensus port is each daemon's TCP port plus this")
      ->type_name("N")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_option("--log-level", o.log_level,
                  "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  sub->add_option("--pid-file", o.pid_file, "Write the daemon's pid here (removed on exit)")
      ->type_name("FILE");
  sub->add_flag("--check", args->check,
                "Check the options and the config file, print them, and exit without serving");
  table.Add(sub, [&global, args] { return RunServe(global, *args); });
}

}  // namespace xgdb::cli
