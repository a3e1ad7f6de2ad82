#include "lock/consensus.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "xgdb/error.h"

namespace xgdb::lock {

namespace {

// Answers of applied commands wait here (by index) for the proposer's
// callback; followers have no proposer, so old ones are dropped.
constexpr uint64_t kKeptAnswers = 1024;

Error RaftError(const char* what, int rv) {
  return Error(ErrorKind::kIo, std::string(what) + ": " + raft_strerror(rv));
}

// libraft's functions raft_transfer and raft_barrier hide their structs.
using TransferRequest = struct raft_transfer;
using BarrierRequest = struct raft_barrier;

bool NotLeader(int rv) { return rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST; }

constexpr unsigned kSnapshotEvery = 16384;

// How long a start waits for its port to be free.
constexpr int kPortWaitMs = 30000;

// Waits until "IP:PORT" can be bound as libuv binds it (SO_REUSEADDR), for
// at most kPortWaitMs. A voter restarted right after a crash finds the dead
// process's connections still on its port (FIN_WAIT until the peers close
// them, a second or so) and would fail to listen; it waits them out
// instead. Any other failure, or the time running out, is left for libraft
// to report.
void WaitForPort(const std::string& address) {
  size_t colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    return;
  }
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(address.c_str() + colon + 1)));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kPortWaitMs);
  for (bool logged = false;; logged = true) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rv = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int error = errno;
    close(fd);
    if (rv == 0 || error != EADDRINUSE || std::chrono::steady_clock::now() >= deadline) return;
    if (!logged) {
      spdlog::warn("lock service: consensus port {} is still in use (a previous process's "
                   "connections?); waiting up to {} s for it",
                   address, kPortWaitMs / 1000);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

uint64_t MemberIdOf(const std::string& host_uuid) {
  uint64_t id = 0;
  int digits = 0;
  for (char c : host_uuid) {
    int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : (c >= 'a' && c <= 'f')                     ? c - 'a' + 10
            : (c >= 'A' && c <= 'F')                     ? c - 'A' + 10
                                                         : -1;
    if (v < 0) continue;
    id = (id << 4) | static_cast<uint64_t>(v);
    if (++digits == 16) break;
  }
  return id == 0 ? 1 : id;
}

struct Consensus::Impl {
  ConsensusOptions options;
  StateMachine& machine;

  uv_loop_t loop{};
  uv_async_t wake{};
  uv_timer_t tick{};
  raft_io io{};
  raft_fsm fsm{};
  raft r{};
  std::unique_ptr<AuthTransport> transport;
  std::thread thread;
  bool started = false;
  std::atomic<bool> stopped{false};

  std::mutex queue_mu;
  std::vector<std::function<void()>> queue;

  std::atomic<bool> leader{false};
  std::atomic<uint64_t> leader_id{0};
  mutable std::mutex voters_mu;
  std::vector<uint64_t> voters;  // voters_mu
  std::map<uint64_t, nlohmann::json> answers;  // consensus thread only

  Impl(ConsensusOptions o, StateMachine& m) : options(std::move(o)), machine(m) {}

  // Runs `fn` on the consensus thread.
  void Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(queue_mu);
      queue.push_back(std::move(fn));
    }
    uv_async_send(&wake);
  }

  static void OnWake(uv_async_t* handle) {
    auto* self = static_cast<Impl*>(handle->data);
    std::vector<std::function<void()>> work;
    {
      std::lock_guard<std::mutex> lock(self->queue_mu);
      work.swap(self->queue);
    }
    for (auto& fn : work) fn();
  }

  static void OnTick(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    self->leader.store(raft_state(&self->r) == RAFT_LEADER);
    raft_id id = 0;
    const char* address = nullptr;
    raft_leader(&self->r, &id, &address);
    self->leader_id.store(id);
    std::vector<uint64_t> voters;
    for (unsigned i = 0; i < self->r.configuration.n; ++i) {
      const raft_server& s = self->r.configuration.servers[i];
      if (s.role == RAFT_VOTER) voters.push_back(s.id);
    }
    std::lock_guard<std::mutex> lock(self->voters_mu);
    self->voters = std::move(voters);
  }

  // The role of `id` in the current configuration; -1 when absent.
  int RoleOf(uint64_t id) const {
    for (unsigned i = 0; i < r.configuration.n; ++i) {
      if (r.configuration.servers[i].id == id) return r.configuration.servers[i].role;
    }
    return -1;
  }

  // A barrier or a membership change: true once committed, false when
  // this member does not lead (or no longer does).
  template <typename RaftRequest>
  struct Request {
    RaftRequest req;  // first: libraft hands this pointer back
    std::shared_ptr<std::promise<bool>> done;
    const char* what;
  };

  template <typename RaftRequest>
  static void OnDone(RaftRequest* req, int status) {
    auto* r = static_cast<Request<RaftRequest>*>(req->data);
    if (status == 0) {
      r->done->set_value(true);
    } else if (NotLeader(status)) {
      r->done->set_value(false);
    } else {
      r->done->set_exception(std::make_exception_ptr(RaftError(r->what, status)));
    }
    delete r;
  }

  static int FsmApply(raft_fsm* fsm, const raft_buffer* buf, void** result) {
    auto* self = static_cast<Impl*>(fsm->data);
    // libraft moves last_applied past an entry only after applying it.
    uint64_t index = raft_last_applied(&self->r) + 1;
    nlohmann::json answer = self->machine.Apply(
        index, std::string_view(static_cast<const char*>(buf->base), buf->len));
    self->answers[index] = std::move(answer);
    while (!self->answers.empty() && self->answers.begin()->first + kKeptAnswers < index) {
      self->answers.erase(self->answers.begin());
    }
    *result = nullptr;
    return 0;
  }

  static int FsmSnapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n) {
    auto* self = static_cast<Impl*>(fsm->data);
    std::string snapshot = self->machine.Snapshot();
    *bufs = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
    if (*bufs == nullptr) return RAFT_NOMEM;
    (*bufs)[0].len = snapshot.size();
    (*bufs)[0].base = raft_malloc(snapshot.size());
    if ((*bufs)[0].base == nullptr) {
      raft_free(*bufs);
      return RAFT_NOMEM;
    }
    std::memcpy((*bufs)[0].base, snapshot.data(), snapshot.size());
    *n = 1;
    return 0;
  }

  static int FsmRestore(raft_fsm* fsm, raft_buffer* buf) {
    auto* self = static_cast<Impl*>(fsm->data);
    try {
      self->machine.Restore(std::string_view(static_cast<const char*>(buf->base), buf->len));
    } catch (const Error& e) {
      spdlog::error("lock service: cannot restore a snapshot: {}", e.what());
      return RAFT_CORRUPT;
    }
    raft_free(buf->base);  // ours once restored
    return 0;
  }

  struct ApplyRequest {
    struct raft_apply req;  // first: libraft hands this pointer back
    Impl* impl;
    std::shared_ptr<std::promise<std::optional<Applied>>> done;
  };

  static void OnApplied(struct raft_apply* req, int status, void*) {
    auto* a = static_cast<ApplyRequest*>(req->data);
    if (status == 0) {
      Applied applied;
      applied.index = req->index;
      auto it = a->impl->answers.find(req->index);
      if (it != a->impl->answers.end()) {
        applied.answer = std::move(it->second);
        a->impl->answers.erase(it);
      }
      a->done->set_value(std::move(applied));
    } else if (NotLeader(status)) {
      a->done->set_exception(std::make_exception_ptr(
          Error(ErrorKind::kIo, "leadership lost before the command was applied; it may "
                                "still be")));
    } else {
      a->done->set_exception(std::make_exception_ptr(RaftError("apply", status)));
    }
    delete a;
  }
};

Consensus::Consensus(ConsensusOptions options, StateMachine& machine)
    : impl_(std::make_unique<Impl>(std::move(options), machine)) {}

Consensus::~Consensus() { Stop(); }

void Consensus::Start() {
  Impl& m = *impl_;
  std::error_code ec;
  std::filesystem::create_directories(m.options.dir, ec);
  if (ec) throw Error(ErrorKind::kIo, "cannot create " + m.options.dir + ": " + ec.message());
  WaitForPort(m.options.bind_address.empty() ? m.options.self.address : m.options.bind_address);
  uv_loop_init(&m.loop);
  m.transport = std::make_unique<AuthTransport>(&m.loop, m.options.secrets, m.options.bind_address,
                                                m.options.tls);
  int rv = raft_uv_init(&m.io, &m.loop, m.options.dir.c_str(), m.transport->transport());
  if (rv != 0) throw RaftError("raft_uv_init", rv);
  // Three segments are preallocated: 1 MiB each (not 8) keeps a voter's
  // log small on dom0; the table's commands are ~200 bytes.
  raft_uv_set_segment_size(&m.io, 1 << 20);
  m.fsm.version = 1;
  m.fsm.data = &m;
  m.fsm.apply = &Impl::FsmApply;
  m.fsm.snapshot = &Impl::FsmSnapshot;
  m.fsm.restore = &Impl::FsmRestore;
  rv = raft_init(&m.r, &m.io, &m.fsm, m.options.self.id, m.options.self.address.c_str());
  if (rv != 0) throw RaftError("raft_init", rv);
  raft_set_election_timeout(&m.r, m.options.election_timeout_ms);
  raft_set_heartbeat_timeout(&m.r, m.options.heartbeat_ms);
  // A member that was cut off (or stopped) must not depose a healthy leader
  // by coming back with a higher term.
  raft_set_pre_vote(&m.r, true);
  // A snapshot holds appends back while it is written and synced: at
  // libraft's default of one per 1,024 entries, the phases that took one
  // had an 8-client p99 of ~34 ms against 9-16 ms without (docs/
  // benchmarks.md, "Locks"). Commands are a few hundred bytes of JSON, so
  // 16,384 entries keep the log to a few MiB.
  raft_set_snapshot_threshold(&m.r, kSnapshotEvery);

  raft_configuration conf;
  raft_configuration_init(&conf);
  for (const ConsensusMember& v : m.options.voters) {
    rv = raft_configuration_add(&conf, v.id, v.address.c_str(), RAFT_VOTER);
    if (rv != 0) {
      raft_configuration_close(&conf);
      throw RaftError("configuration", rv);
    }
  }
  if (m.options.bootstrap) {
    rv = raft_bootstrap(&m.r, &conf);
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
      raft_configuration_close(&conf);
      throw RaftError("raft_bootstrap", rv);
    }
  }
  raft_configuration_close(&conf);

  rv = raft_start(&m.r);
  if (rv != 0) throw RaftError(raft_errmsg(&m.r), rv);
  uv_async_init(&m.loop, &m.wake, &Impl::OnWake);
  m.wake.data = &m;
  uv_timer_init(&m.loop, &m.tick);
  m.tick.data = &m;
  uv_timer_start(&m.tick, &Impl::OnTick, 10, 10);
  m.started = true;
  m.thread = std::thread([&m] { uv_run(&m.loop, UV_RUN_DEFAULT); });
}

void Consensus::Stop() {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return;
  m.stopped = true;
  m.Post([&m] {
    uv_timer_stop(&m.tick);
    raft_close(&m.r, [](raft* r) {
      auto* m = static_cast<Impl*>(r->fsm->data);
      raft_uv_close(&m->io);
      uv_close(reinterpret_cast<uv_handle_t*>(&m->tick), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&m->wake), nullptr);
    });
  });
  m.thread.join();
  m.transport.reset();
  uv_loop_close(&m.loop);
  m.leader.store(false);
}

std::optional<Consensus::Applied> Consensus::Propose(const std::string& command,
                                                     int timeout_ms) {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return std::nullopt;
  auto done = std::make_shared<std::promise<std::optional<Applied>>>();
  auto result = done->get_future();
  m.Post([&m, command, done] {
    auto* a = new Impl::ApplyRequest{{}, &m, done};
    a->req.data = a;
    // libraft 0.15 pads an entry to 8 bytes on disk but, reloading an open
    // segment after a crash, steps over it unpadded and drops the entries
    // after it as corrupt: commands are padded here (with blanks, which the
    // state machine's JSON ignores) so that on-disk lengths need no padding.
    raft_buffer buf;
    buf.len = (command.size() + 7) / 8 * 8;
    buf.base = raft_malloc(buf.len);
    std::memset(buf.base, ' ', buf.len);
    std::memcpy(buf.base, command.data(), command.size());
    int rv = raft_apply(&m.r, &a->req, &buf, 1, &Impl::OnApplied);
    if (rv != 0) {
      raft_free(buf.base);
      delete a;
      if (NotLeader(rv)) {
        done->set_value(std::nullopt);
      } else {
        done->set_exception(std::make_exception_ptr(RaftError("apply", rv)));
      }
    }
  });
  if (result.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
    throw Error(ErrorKind::kIo, "no consensus within " + std::to_string(timeout_ms) +
                                    " ms; the command may still be applied");
  }
  return result.get();
}

bool Consensus::Change(const ConsensusMember& member, bool voter, int timeout_ms) {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return false;
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  m.Post([&m, member, voter, done] {
    if (raft_state(&m.r) != RAFT_LEADER) {
      done->set_value(false);
      return;
    }
    int role = m.RoleOf(member.id);
    auto* c = new Impl::Request<raft_change>{{}, done, "membership change"};
    c->req.data = c;
    int rv = 0;
    if (voter && role < 0) {
      rv = raft_add(&m.r, &c->req, member.id, member.address.c_str(), &Impl::OnDone<raft_change>);
    } else if (voter && role != RAFT_VOTER) {
      rv = raft_assign(&m.r, &c->req, member.id, RAFT_VOTER, &Impl::OnDone<raft_change>);
    } else if (!voter && role >= 0) {
      rv = raft_remove(&m.r, &c->req, member.id, &Impl::OnDone<raft_change>);
    } else {
      delete c;
      done->set_value(false);  // already as asked
      return;
    }
    if (rv != 0) {
      delete c;
      if (NotLeader(rv) || rv == RAFT_CANTCHANGE) {
        done->set_value(false);
      } else {
        done->set_exception(std::make_exception_ptr(RaftError("membership change", rv)));
      }
    }
  });
  if (result.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
    throw Error(ErrorKind::kIo, "membership change not done within " +
                                    std::to_string(timeout_ms) + " ms (it goes on)");
  }
  return result.get();
}

void Consensus::TransferLeadership() {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return;
  m.Post([&m] {
    if (raft_state(&m.r) != RAFT_LEADER || m.r.transfer != nullptr) return;
    auto* t = new TransferRequest{};
    // 0: libraft picks the most up-to-date voter.
    if (raft_transfer(&m.r, t, 0, [](TransferRequest* done) { delete done; }) != 0) delete t;
  });
}

std::vector<uint64_t> Consensus::Voters() const {
  std::lock_guard<std::mutex> lock(impl_->voters_mu);
  return impl_->voters;
}

bool Consensus::Barrier(int timeout_ms) {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return false;
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  m.Post([&m, done] {
    auto* b = new Impl::Request<BarrierRequest>{{}, done, "barrier"};
    b->req.data = b;
    int rv = raft_barrier(&m.r, &b->req, &Impl::OnDone<BarrierRequest>);
    if (rv != 0) {
      delete b;
      if (NotLeader(rv)) {
        done->set_value(false);
      } else {
        done->set_exception(std::make_exception_ptr(RaftError("barrier", rv)));
      }
    }
  });
  if (result.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
    throw Error(ErrorKind::kIo, "no consensus within " + std::to_string(timeout_ms) + " ms");
  }
  return result.get();
}

bool Consensus::IsLeader() const { return impl_->leader.load(); }
uint64_t Consensus::LeaderId() const { return impl_->leader_id.load(); }

}  // namespace xgdb::lock
