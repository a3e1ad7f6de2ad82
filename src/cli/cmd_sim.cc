// `sim`: a pool on one machine (docs/replication.md, "A simulated pool").
// Writes a pool database with N hosts (xgdb-gen-pool, beside this binary)
// or takes --import's, imports it once, copies the repository for each host
// (so they share history, as hosts of one pool do), and runs one real
// daemon per host on 127.0.0.1 with the others as peers. Prints a JSON line
// per host once all serve, then waits for SIGINT/SIGTERM and stops them.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli_common.h"
#include "server/client.h"
#include "xgdb/error.h"

namespace xgdb::cli {
namespace {

namespace fs = std::filesystem;

struct SimArgs {
  int hosts = 3;
  std::string dir;
  int vms = 0;  // 0: two per host
  std::string import_file;
  int fanout = 4;
  bool no_fsync = false;
  // Peers from the host table (serve --pool-peers): host i's row gets the
  // address 127.0.0.<i+2>, where its daemon listens on the pool's one port.
  bool pool_peers = false;
  // TLS between the daemons: each its own self-signed certificate, all of
  // them the pool's bundle (serve --tls-cert, --tls-key, --peer-ca).
  bool tls = false;
};

std::string LoopbackAddress(size_t i) { return "127.0.0." + std::to_string(i + 2); }

std::string SelfDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(ErrorKind::kIo, "cannot find this program: " + ec.message());
  return exe.parent_path().string();
}

// Starts argv with its output appended to `log`.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = fork();
  if (pid < 0) throw Error(ErrorKind::kIo, "fork failed");
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setpgid(0, 0);  // a Ctrl-C reaches sim, which stops the daemons in order
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // and a sim killed outright takes them along
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Runs argv to completion; Error(kIo) pointing at its output on failure.
void Run(const std::vector<std::string>& argv, const std::string& log) {
  int status = 0;
  waitpid(Spawn(argv, log), &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error(ErrorKind::kIo, argv[0] + " failed; see " + log);
  }
}

// A new P-256 key and a self-signed certificate for it naming `name`,
// valid for 30 days, as PEM files (the key's mode 0600).
void WriteSelfSignedCertificate(const std::string& name, const std::string& cert_file,
                                const std::string& key_file) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) throw Error(ErrorKind::kIo, "cannot make a key for " + name);
  X509_set_version(cert.get(), 2);
  std::random_device rd;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(rd() >> 1));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  X509_set_pubkey(cert.get(), key.get());
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    throw Error(ErrorKind::kIo, "cannot sign a certificate for " + name);
  }
  auto write = [](const std::string& path, const std::function<int(FILE*)>& pem) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE* f = fd >= 0 ? fdopen(fd, "w") : nullptr;
    bool ok = f != nullptr && pem(f) == 1;
    if (f != nullptr) ok = fclose(f) == 0 && ok;
    if (!ok) throw Error(ErrorKind::kIo, "cannot write " + path);
  };
  write(cert_file, [&](FILE* f) { return PEM_write_X509(f, cert.get()); });
  write(key_file, [&](FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
}

// `n` distinct free ports on 127.0.0.1: all bound at once (so they differ
// and no other sim takes them meanwhile), released for the daemons to bind.
// `n` free TCP ports on loopback, each with the port after it free too (a
// daemon's lock service listens there: --lock-port-offset 1). All are held
// until every one is found, so no two are the same.
std::vector<uint16_t> FreePorts(size_t n) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  auto bind_port = [](uint16_t port, uint16_t* bound) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (fd >= 0) close(fd);
      return -1;
    }
    *bound = ntohs(addr.sin_port);
    return fd;
  };
  for (int attempts = 0; ports.size() < n && attempts < 1000; ++attempts) {
    uint16_t port = 0, next = 0;
    int fd = bind_port(0, &port);
    if (fd < 0) break;
    fds.push_back(fd);
    if (port == 65535) continue;
    int fd2 = bind_port(port + 1, &next);
    if (fd2 < 0) continue;
    fds.push_back(fd2);
    ports.push_back(port);
  }
  for (int f : fds) close(f);
  if (ports.size() < n) throw Error(ErrorKind::kIo, "cannot find free TCP ports");
  return ports;
}

// Where the daemon on `socket` serves its metrics ("" when it cannot say).
std::string MetricsEndpoint(const std::string& socket) {
  try {
    server::Answer a =
        server::Connection::Unix(socket, 1000).Call("/xapi_gitdb", R"(["Status",{}])", "", false);
    nlohmann::json status = nlohmann::json::parse(a.body);
    return status.at(1).value("metrics", "");
  } catch (const std::exception&) {
    return "";
  }
}

bool Answers(const std::string& socket) {
  try {
    server::Connection::Unix(socket, 1000).Call("/xapi_gitdb", R"(["Peer_list",{}])", "", false);
    return true;
  } catch (const Error&) {
    return false;
  }
}

struct SimHost {
  std::string ref, uuid, dir, repo, socket, address;
  uint16_t port = 0;
  pid_t pid = -1;
  bool master = false;
  std::vector<std::string> argv;
};

int RunSim(const SimArgs& args) {
  if (args.hosts < 1) UsageError("--hosts must be at least 1");
  fs::path dir = fs::absolute(args.dir);
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    UsageError("--dir " + dir.string() + " is not empty (sim makes a fresh pool)");
  }
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::kIo, "cannot create " + dir.string() + ": " + ec.message());
  const std::string self = SelfDir() + "/xapi-gitdb";
  const std::string log = (dir / "sim.log").string();

  std::string pool_db = args.import_file;
  if (pool_db.empty()) {
    pool_db = (dir / "pool.db").string();
    int vms = args.vms > 0 ? args.vms : 2 * args.hosts;
    Run({SelfDir() + "/xgdb-gen-pool", "--hosts", std::to_string(args.hosts), "--vms",
         std::to_string(vms), "--out", pool_db},
        log);
  }
  const std::string base = (dir / "base").string();
  Run({self, "--repo", base, "import", pool_db}, log);

  // Hosts in uuid order: host i of the pool is the i-th host row.
  std::vector<SimHost> hosts;
  {
    StoreOptions options;
    options.path = base;
    options.fsync = false;  // copied before any daemon runs
    std::unique_ptr<Store> store = Store::Open(options);
    Database& db = store->db();
    std::string pool_master;
    for (const std::string& pool : db.ReadRefs("pool")) pool_master = db.ReadField("pool", "master", pool);
    for (const std::string& ref : db.ReadRefs("host")) {
      SimHost h;
      h.ref = ref;
      h.uuid = db.ReadField("host", "uuid", ref);
      h.master = ref == pool_master;
      hosts.push_back(h);
    }
    std::sort(hosts.begin(), hosts.end(), [](auto& a, auto& b) { return a.uuid < b.uuid; });
    if (hosts.size() < static_cast<size_t>(args.hosts)) {
      throw Error(ErrorKind::kInvalidArgument, "the pool has " + std::to_string(hosts.size()) +
                                                   " host rows, fewer than --hosts");
    }
    hosts.resize(static_cast<size_t>(args.hosts));
    if (args.pool_peers) {
      for (size_t i = 0; i < hosts.size(); ++i) {
        db.WriteField("host", hosts[i].ref, "address", LoopbackAddress(i));
      }
      store->Commit("sim: every host at its own loopback address");
    }
  }

  const std::string secret = (dir / "pool-secret").string();
  {
    std::random_device rd;
    std::ofstream out(secret);
    for (int i = 0; i < 4; ++i) out << std::hex << rd();
    out << "\n";
  }
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write, ec);
  for (size_t i = 0; i < hosts.size(); ++i) {
    SimHost& h = hosts[i];
    h.dir = (dir / ("host" + std::to_string(i))).string();
    h.repo = h.dir + "/repo";
    h.socket = h.dir + "/xapi-gitdb.sock";
    fs::create_directories(h.dir, ec);
    fs::copy(base, h.repo, fs::copy_options::recursive, ec);
    if (ec) throw Error(ErrorKind::kIo, "cannot copy the repository: " + ec.message());
  }
  const std::string bundle = (dir / "pool-ca-bundle.pem").string();
  if (args.tls) {
    std::ofstream out(bundle);
    for (SimHost& h : hosts) {
      WriteSelfSignedCertificate(h.uuid, h.dir + "/tls-cert.pem", h.dir + "/tls-key.pem");
      out << std::ifstream(h.dir + "/tls-cert.pem").rdbuf();
    }
    if (!out.flush()) throw Error(ErrorKind::kIo, "cannot write " + bundle);
  }
  auto stop_all = [&] {
    for (SimHost& h : hosts) kill(h.pid, SIGTERM);
    for (SimHost& h : hosts) waitpid(h.pid, nullptr, 0);
  };
  // A port may still be taken between its release and the daemon's bind
  // (another program, a parallel sim): then the pool starts again on others.
  for (int attempt = 1;; ++attempt) {
    // With --pool-peers every daemon listens on one port, each on its own
    // address (as real hosts do), and finds the others in the host table.
    std::vector<uint16_t> ports = FreePorts(args.pool_peers ? 1 : hosts.size());
    std::vector<std::string> peers;
    for (size_t i = 0; i < hosts.size(); ++i) {
      hosts[i].address = args.pool_peers ? LoopbackAddress(i) : "127.0.0.1";
      hosts[i].port = ports[args.pool_peers ? 0 : i];
      peers.push_back(hosts[i].uuid + "=127.0.0.1:" + std::to_string(hosts[i].port));
    }
    for (SimHost& h : hosts) {
      h.argv = {self, "--repo", h.repo, "serve", "--socket", h.socket, "--tcp",
                h.address + ":" + std::to_string(h.port), "--secret-file", secret, "--host-uuid",
                h.uuid, "--host-ref", h.ref, "--fanout", std::to_string(args.fanout),
                "--metrics", "127.0.0.1:0"};
      if (args.no_fsync) h.argv.push_back("--no-fsync");
      if (args.pool_peers) h.argv.push_back("--pool-peers");
      if (args.tls) {
        h.argv.insert(h.argv.end(), {"--tls-cert", h.dir + "/tls-cert.pem", "--tls-key",
                                     h.dir + "/tls-key.pem", "--peer-ca", bundle});
      }
      for (const std::string& p : args.pool_peers ? std::vector<std::string>{} : peers) {
        h.argv.push_back("--peer");
        h.argv.push_back(p);
      }
      h.pid = Spawn(h.argv, h.dir + "/daemon.log");
    }
    const SimHost* failed = nullptr;
    for (SimHost& h : hosts) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (failed == nullptr && !Answers(h.socket)) {
        if (std::chrono::steady_clock::now() > deadline || waitpid(h.pid, nullptr, WNOHANG) != 0) {
          failed = &h;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (failed == nullptr) break;
    stop_all();
    if (attempt == 3) {
      throw Error(ErrorKind::kIo, "the daemon of host " + failed->uuid + " did not start; see " +
                                      failed->dir + "/daemon.log");
    }
  }
  for (const SimHost& h : hosts) {
    nlohmann::ordered_json line = {{"host", h.ref},       {"uuid", h.uuid},
                           {"socket", h.socket},  {"peer", h.address + ":" + std::to_string(h.port)},
                           {"repo", h.repo},      {"pid", h.pid},
                           {"master", h.master},  {"metrics", MetricsEndpoint(h.socket)},
                           {"argv", h.argv}};
    std::cout << line.dump() << std::endl;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  stop_all();
  return 0;
}

}  // namespace

void RegisterSimCommand(CLI::App& app, GlobalOptions&, CommandTable& table) {
  auto args = std::make_shared<SimArgs>();
  auto* sub = app.add_subcommand("sim", "Run a pool of N replicating daemons on this machine");
  sub->footer(
      "Prints one JSON line per host once all serve, then runs until SIGINT or SIGTERM.");
  sub->add_option("--hosts", args->hosts, "Hosts (daemons)")->capture_default_str();
  sub->add_option("--dir", args->dir, "Empty directory for the repositories and sockets")
      ->required();
  sub->add_option("--vms", args->vms, "Guest VMs in the generated pool (default: 2 per host)");
  sub->add_option("--import", args->import_file, "Use this state.db instead of a generated pool")
      ->check(CLI::ExistingFile);
  sub->add_option("--fanout", args->fanout, "Fan-out of the replication tree")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_flag("--no-fsync", args->no_fsync, "Daemons do not fsync (tests only)");
  sub->add_flag("--pool-peers", args->pool_peers,
                "Daemons find each other in the host table (serve --pool-peers): each on its own "
                "loopback address 127.0.0.N, all on one port");
  sub->add_flag("--tls", args->tls,
                "TLS between the daemons: a self-signed certificate each, all of them the "
                "pool's bundle (pool-ca-bundle.pem)");
  table.Add(sub, [args] {
    // Blocked before any thread exists so that only sigwait sees them.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    return RunSim(*args);
  });
}

}  // namespace xgdb::cli
