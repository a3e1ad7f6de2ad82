#include "server/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <shared_mutex>
#include <set>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "lock/lock_calls.h"
#include "lock/lock_service.h"
#include "lock/locked_writes.h"
#include "replica/replicator.h"
#include "rpc/dispatcher.h"
#include "rpc/extension.h"
#include "server/auth.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/metrics_server.h"
#include "server/service_manager.h"
#include "event/event_calls.h"
#include "event/event_hub.h"
#include "task/task_calls.h"
#include "task/task_manager.h"
#include "xgdb/error.h"
#include "xgdb/store.h"
#include "xgdb/version.h"

namespace xgdb::server {

namespace {

// Thousands of slaves' connections need thousands of descriptors; the soft
// limit is often 1024.
void RaiseFileLimit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// Blocks of 1 MiB and more (a full Event_from resync's answer, a peer's
// pack, an import's text) are mapped for themselves and unmapped when freed,
// so their memory goes back to the system at once. glibc would otherwise
// raise this threshold after the first such free and keep the memory in
// each thread's arena: eight resyncs of a 2,000-VM pool left a daemon at
// 3.1 GB (docs/events.md, "Memory").
constexpr int kOwnMappingBytes = 1 << 20;

// Group commit keeps its promise (an acknowledged write is committed within
// about one interval) only while commits keep up with writes. When writers
// outrun the committer, a write is answered only once the backlog of
// uncommitted changes is back under this bound: clients slow down to the
// commit rate instead of the loss window growing without limit.
constexpr uint64_t kMaxUncommittedChanges = 2000;

// With sync_commit, a call that changed the database is answered only once
// a commit holding its change is on disk. A read that ran while someone
// else wrote may wait too; that costs at most one interval and is rare.
void WaitForCommit(Store& store, uint64_t before, bool sync_commit) {
  uint64_t after = store.db().Sequence();
  if (after == before) return;
  if (sync_commit) {
    store.WaitDurable(after);
  } else if (after - store.DurableSequence() > kMaxUncommittedChanges) {
    store.WaitDurable(after - kMaxUncommittedChanges);
  }
}

// Runs a call of xapi's protocol on master's image, holding master's write
// gate shared so a task merge never interleaves with it: under the grant
// `lock` names when not empty (fenced), a VM start taking its lock
// (docs/locks.md). Answers once the commit promise of the mode is kept,
// the guards having given the commit its trailers by then.
rpc::RpcResult CallOnMaster(Store& store, lock::LockService* locks, lock::VmStartGuard* vm_starts,
                            rpc::ProtocolVersion version, std::string_view body,
                            const std::string& lock, bool sync_commit) {
  uint64_t before = store.db().Sequence();
  auto make = [&] {
    std::shared_lock<std::shared_mutex> gate(store.master_gate());
    return rpc::Dispatcher::HandleOn(store.db(), version, body);
  };
  auto start_guarded = [&] { return vm_starts ? vm_starts->Write(version, body, make) : make(); };
  rpc::RpcResult result;
  if (lock.empty()) {
    result = start_guarded();
  } else if (locks == nullptr) {
    return rpc::RpcResult{500, "", "x-xgdb-lock: this daemon runs no lock service"};
  } else {
    result = lock::MakeFencedWrite(*locks, store, lock, version, body, start_guarded);
  }
  try {
    WaitForCommit(store, before, sync_commit);
  } catch (const Error& e) {
    // Not durable (a background error): the client must not take it as
    // done. The write stays in the image and a later retry commits it.
    result = rpc::RpcResult{500, "", e.what()};
  }
  return result;
}

// xapi's calls run on master's image, or on a task's image when they carry
// the x-xgdb-task header (docs/tasks.md); in a pool, a write to a row
// another host owns goes to that host (docs/replication.md), and a write
// starting a VM here takes its lock first (`vm_starts`, docs/locks.md). Our
// own calls (tasks, events, history) go to the extension registry, where a
// call may answer later.
// Every answer is counted in `metrics` on its way out.
Handler MakeHandler(Store& store, task::TaskManager& tasks,
                    const rpc::ExtensionRegistry& extensions, replica::Replicator* replicator,
                    lock::LockService* locks, lock::VmStartGuard* vm_starts, bool sync_commit,
                    Metrics& metrics) {
  return [&store, &tasks, &extensions, replicator, locks, vm_starts, sync_commit, &metrics](
             Request request, Responder answer) {
    Responder respond = [answer = std::move(answer), &metrics, version = request.version,
                         arrived = std::chrono::steady_clock::now()](rpc::RpcResult result) {
      std::chrono::duration<double> took = std::chrono::steady_clock::now() - arrived;
      metrics.ObserveRequest(version, result, took.count());
      answer(std::move(result));
    };
    if (request.version == rpc::ProtocolVersion::kPeer) {
      rpc::RpcResult result{500, "", "this daemon does not replicate (no --host-uuid)"};
      if (replicator != nullptr) result = {200, replicator->HandlePeerCall(request.body), ""};
      result.call = "peer";
      respond(std::move(result));
      return;
    }
    if (request.version == rpc::ProtocolVersion::kExtension) {
      // Our calls that change master (Task_commit, History_revert) write
      // their own commits before answering; the others write nothing there.
      // So no commit wait here: it would stall the event hub's thread,
      // which answers long polls, behind other clients' writes.
      extensions.Handle(request.body, rpc::CallContext{request.task}, std::move(respond));
      return;
    }
    if (!request.task.empty()) {  // not durable before Task_commit: no commit wait
      rpc::RpcResult result;
      try {
        tasks.Run(request.task, [&](Database& db) {
          result = rpc::Dispatcher::HandleOn(db, request.version, request.body);
        });
      } catch (const Error& e) {
        result = rpc::RpcResult{500, "", "task " + request.task + ": " + e.what()};
      }
      respond(std::move(result));
      return;
    }
    if (replicator != nullptr) {  // a write to another host's row: its owner makes it
      if (auto forwarded =
              replicator->ForwardIfOwnedElsewhere(request.version, request.body, request.lock)) {
        respond(std::move(*forwarded));
        return;
      }
    }
    respond(CallOnMaster(store, locks, vm_starts, request.version, request.body, request.lock,
                         sync_commit));
  };
}

// The pool master's host uuid, as this host's database says ("" if none).
std::string MasterUuid(const Database& db) {
  try {
    for (const std::string& pool : db.ReadRefs("pool")) {
      return db.ReadField("host", "uuid", db.ReadField("pool", "master", pool));
    }
  } catch (const Error&) {
  }
  return "";
}

// The lock service of a replicating daemon: its hosts are this one and its
// peers, its voters chosen from them (lock_service.h).
std::unique_ptr<lock::LockService> MakeLockService(const DaemonOptions& options,
                                                   const std::vector<replica::PeerAddress>& peers,
                                                   Store& store, SecretChecker& secrets,
                                                   std::shared_ptr<const TlsTrust> tls) {
  lock::LockServiceOptions o;
  o.self = {options.host_uuid, options.tcp_address, options.tcp_port};
  o.hosts.push_back(o.self);
  std::vector<std::string> uuids{options.host_uuid};
  for (const replica::PeerAddress& peer : peers) {
    if (peer.uuid == options.host_uuid) {
      o.self.address = peer.address;  // as the pool reaches this host
      o.hosts.front() = o.self;
      continue;
    }
    o.hosts.push_back({peer.uuid, peer.address, peer.port});
    uuids.push_back(peer.uuid);
  }
  o.host_ref = options.host_ref.empty() ? options.host_uuid : options.host_ref;
  o.voters = lock::ChooseVoters(uuids, MasterUuid(store.db()));
  // With --pool-peers the table also says where hosts are (--peer entries
  // win, as for the replicator).
  std::set<std::string> named;
  for (const std::string& spec : options.peers) named.insert(replica::ParsePeerAddress(spec).uuid);
  const uint16_t pool_port = options.peer_port ? options.peer_port : options.tcp_port;
  o.pool_hosts = [&store, &options, named, pool_port] {
    std::shared_lock<std::shared_mutex> gate(store.master_gate());
    lock::PoolHosts hosts;
    const Database& db = store.db();
    for (const std::string& ref : db.ReadRefs("host")) {
      hosts.uuids.push_back(db.ReadField("host", "uuid", ref));
    }
    hosts.master = MasterUuid(db);
    if (options.peers_from_pool) {
      for (const replica::PeerAddress& a :
           replica::PeersFromHostTable(db, options.host_uuid, pool_port)) {
        if (named.count(a.uuid) == 0) hosts.addresses.push_back({a.uuid, a.address, a.port});
      }
    }
    return hosts;
  };
  o.tls = tls;
  if (tls) {
    o.consensus_tls =
        std::make_shared<lock::ConsensusTls>(options.tls_cert_file, options.tls_key_file, tls);
  }
  o.consensus_port_offset = options.lock_port_offset;
  o.dir = options.repo_path + "/xgdb-raft";
  o.secrets = [&secrets] { return secrets.All(); };
  o.default_ttl_ms = options.lock_ttl_ms;
  o.join = options.lock_join;
  return std::make_unique<lock::LockService>(std::move(o));
}

}  // namespace

int RunDaemon(const DaemonOptions& options) {
  LogToJournalWhenRunBySystemd();
  spdlog::set_level(spdlog::level::from_str(options.log_level));

  // Block the stop signals before any thread exists, so every thread
  // inherits the mask and only sigwait() below ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  RaiseFileLimit();
  mallopt(M_MMAP_THRESHOLD, kOwnMappingBytes);

  // Before the store: its commits are counted here until it closes.
  Metrics metrics;
  std::unique_ptr<Store> store;
  try {
    StoreOptions store_options;
    store_options.on_commit = [&metrics](size_t rows, double seconds) {
      metrics.ObserveCommit(rows, seconds);
    };
    store_options.path = options.repo_path;
    store_options.fsync = options.fsync;
    store_options.host_uuid = options.host_uuid;
    // In a pool, commits name their host by uuid ("Host: <uuid>" trailers).
    if (!options.host_uuid.empty()) store_options.host_id = options.host_uuid;
    if (!options.unix_socket.empty()) {
      std::error_code ec;
      store_options.served_at = std::filesystem::absolute(options.unix_socket, ec).string();
    }
    store = Store::Open(store_options);
  } catch (const Error& e) {
    spdlog::critical("cannot open repository {}: {}", options.repo_path, e.what());
    return 1;
  }
  spdlog::info("opened {} at {} ({} rows)", options.repo_path, store->Head(),
               store->db().TotalRows());

  rpc::ExtensionRegistry extensions;
  // Event_from long polls wait in the hub, not on a thread each.
  event::EventHub events(*store);
  event::RegisterEventCalls(extensions, events);
  events.Start();
  std::unique_ptr<replica::Replicator> replicator;
  std::vector<replica::PeerAddress> peers;
  std::shared_ptr<const TlsTrust> peer_tls;  // --peer-ca
  // The lock service and what uses it: set once the replicator exists,
  // declared before it (its forwarded writes reach them).
  std::unique_ptr<SecretChecker> lock_secrets;
  std::unique_ptr<lock::LockService> locks;
  std::unique_ptr<lock::VmStartGuard> vm_starts;
  if (!options.host_uuid.empty()) {
    replica::ReplicatorOptions replica_options;
    replica_options.host_uuid = options.host_uuid;
    replica_options.fanout = options.fanout;
    replica_options.peers_from_pool = options.peers_from_pool;
    replica_options.peer_port = options.peer_port ? options.peer_port : options.tcp_port;
    // A forwarded write is answered once committed, whatever the mode: the
    // host that forwarded it holds nothing of it until then.
    // As a local write: fenced, and a VM moving away gives its lock back
    // (locks and vm_starts are set once the lock service exists).
    replica_options.make_write = [&store, &locks, &vm_starts](rpc::ProtocolVersion version,
                                                              std::string_view body,
                                                              const std::string& lock) {
      return CallOnMaster(*store, locks.get(), vm_starts.get(), version, body, lock, true);
    };
    if (!options.secret_files.empty()) replica_options.secret_file = options.secret_files.front();
    try {
      if (!options.peer_ca_file.empty()) peer_tls = TlsTrust::FromBundle(options.peer_ca_file);
      replica_options.tls = peer_tls;
      for (const std::string& spec : options.peers) {
        replica_options.peers.push_back(replica::ParsePeerAddress(spec));
      }
      peers = replica_options.peers;
      if (options.peers_from_pool) {  // the lock service's hosts, as the pool is now
        for (const replica::PeerAddress& a : replica::PeersFromHostTable(
                 store->db(), options.host_uuid, replica_options.peer_port)) {
          bool named = false;
          for (const replica::PeerAddress& p : peers) named = named || p.uuid == a.uuid;
          if (!named) peers.push_back(a);
        }
      }
      replicator = std::make_unique<replica::Replicator>(*store, replica_options);
    } catch (const Error& e) {
      spdlog::critical("cannot start replicating: {}", e.what());
      return 1;
    }
  }
  extensions.Register("Peer_list", [&replicator](const nlohmann::json&, const rpc::CallContext&,
                                                 rpc::ReplyFn reply) {
    if (!replicator) {
      throw Error(ErrorKind::kInvalidArgument,
                  "this daemon does not replicate: start it with --host-uuid and --peer");
    }
    reply(rpc::SuccessResult("Peer_list", replicator->Status()));
  });
  // The lock service needs the pool secret (its consensus is authenticated
  // with it) and a TCP port (other daemons forward to it there).
  if (replicator && options.locks && !options.secret_files.empty() && options.tcp_port != 0) {
    try {
      lock_secrets = std::make_unique<SecretChecker>(options.secret_files);
      locks = MakeLockService(options, peers, *store, *lock_secrets, peer_tls);
    } catch (const Error& e) {
      spdlog::critical("cannot set up the lock service: {}", e.what());
      return 1;
    }
  }
  lock::RegisterLockCalls(extensions, locks.get());
  // Starting a VM takes VM:<uuid> (docs/locks.md, "VM starts").
  if (locks && !options.host_ref.empty()) {
    vm_starts = std::make_unique<lock::VmStartGuard>(*store, *locks, options.host_ref);
  }

  task::TaskOptions task_options;
  task_options.reap_after_ms = options.task_timeout_ms;
  task_options.default_host = options.host_ref;
  if (locks) {
    // Fencing: a task guarded by a lock commits into master only while the
    // lock is still held under the task's token.
    task_options.check_guard = [service = locks.get()](const task::LockGuard& guard) {
      service->CheckHeld(guard.name, guard.token);
    };
  }
  task::TaskManager tasks(*store, task_options);
  task::RegisterTaskCalls(extensions, tasks);
  const auto started = std::chrono::steady_clock::now();
  std::string metrics_endpoint;  // set before the server starts
  extensions.Register("Status", [&, started](const nlohmann::json&, const rpc::CallContext&,
                                             rpc::ReplyFn reply) {
    auto uptime = std::chrono::steady_clock::now() - started;
    nlohmann::json status = {
        {"version", Version()},
        {"pid", getpid()},
        {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
        {"socket", options.unix_socket},
        {"tcp_port", options.tcp_port},
        {"host_uuid", options.host_uuid},
        {"served_head", store->ServedHead()},
        {"sync_commit", options.sync_commit},
        {"metrics", metrics_endpoint},
        {"peers", replicator ? replica::PeerStateCounts(replicator->Status()) : nlohmann::json(nullptr)},
        {"locks", locks ? locks->Status() : nlohmann::json(nullptr)}};
    reply(rpc::SuccessResult("Status", status));
  });
  extensions.Register("Repository_gc", [&](const nlohmann::json&, const rpc::CallContext&,
                                           rpc::ReplyFn reply) {
    size_t combined = store->Compact();
    reply(rpc::SuccessResult("Repository_gc",
                             {{"combined", combined}, {"packs", store->PackCount()}}));
  });
  ServerOptions server_options;
  server_options.unix_socket = options.unix_socket;
  server_options.tcp = options.tcp_port != 0;
  server_options.tcp_address = options.tcp_address;
  server_options.tcp_port = options.tcp_port;
  server_options.secret_files = options.secret_files;
  server_options.tls_cert_file = options.tls_cert_file;
  server_options.tls_key_file = options.tls_key_file;
  server_options.io_threads = options.worker_threads > 0 ? options.worker_threads : 2;
  // Waiting for a commit blocks a thread for up to one interval: give those
  // waits their own threads so reads keep flowing.
  server_options.handler_threads = options.sync_commit ? 64 : 8;
  server_options.max_body_bytes = options.max_body_bytes;

  store->StartCommitter(options.commit_interval_ms);
  HttpServer server(server_options, MakeHandler(*store, tasks, extensions, replicator.get(),
                                                locks.get(), vm_starts.get(),
                                                options.sync_commit, metrics));
  MetricSources sources;
  sources.store = store.get();
  sources.open_tasks = [&tasks] { return tasks.List().size(); };
  sources.event_waiters = [&events] { return events.waiting(); };
  sources.open_connections = [&server] { return server.open_connections(); };
  if (replicator) sources.replication = [&replicator] { return replicator->Status(); };
  if (locks) sources.locks = [&locks] { return locks->Status(); };
  metrics.SetSources(std::move(sources));
  std::unique_ptr<MetricsServer> metrics_server;
  try {
    if (options.metrics) {
      metrics_server = std::make_unique<MetricsServer>(
          options.metrics_address, options.metrics_port, [&metrics] { return metrics.Render(); });
      metrics_server->Start();
      metrics_endpoint = options.metrics_address + ":" + std::to_string(metrics_server->port());
    }
    server.Start();
  } catch (const Error& e) {
    spdlog::critical("cannot start the server: {}", e.what());
    store->StopCommitter();
    return 1;
  }
  if (replicator) replicator->Start();
  if (locks) {
    try {
      locks->Start();
    } catch (const Error& e) {
      spdlog::critical("cannot start the lock service: {}", e.what());
      server.Stop();
      store->StopCommitter();
      return 1;
    }
  }
  if (!options.pid_file.empty()) {
    std::ofstream(options.pid_file) << getpid() << "\n";
  }
  spdlog::info("serving {} (commit every {} ms{})", options.repo_path,
               options.commit_interval_ms, options.sync_commit ? ", writes wait for it" : "");
  // The watchdog pings only while the database's lock can be taken.
  ServiceManager systemd([&store] { store->db().Sequence(); });
  systemd.Ready("serving " + options.repo_path + " at " + store->Head());

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  spdlog::info("received {}: stopping", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  systemd.Stopping();
  if (metrics_server) metrics_server->Stop();  // it reads every module below
  if (locks) locks->Stop();
  if (replicator) replicator->Stop();  // no more calls out; peers' calls still answered
  events.Stop();  // answers every waiter while the server can still send
  server.Stop();
  int status = 0;
  try {
    store->StopCommitter();
    std::string id = store->Commit("shutdown");
    spdlog::info("final commit: {}", id.empty() ? "nothing pending" : id);
  } catch (const Error& e) {
    spdlog::critical("final commit failed: {}", e.what());
    status = 1;
  }
  if (!options.pid_file.empty()) std::remove(options.pid_file.c_str());
  spdlog::info("stopped");
  return status;
}

}  // namespace xgdb::server
