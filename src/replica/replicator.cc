#include "replica/replicator.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <random>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "replica/peer.h"
#include "replica/peer_message.h"
#include "store/sha1.h"
#include "replica/thin_pack.h"
#include "replica/topology.h"
#include "server/auth.h"
#include "server/client.h"
#include "store/layout.h"
#include "task/branch_apply.h"
#include "xgdb/error.h"
#include "xgdb/store.h"

namespace xgdb::replica {

using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

std::string HostRefOf(const std::string& uuid) { return std::string(store::kHostRefPrefix) + uuid; }

}  // namespace

std::string HeadsDigest(const Heads& heads) {
  store::Sha1 sum;
  for (const auto& [host, head] : heads) {
    sum.Update(host);
    sum.Update(" ");
    sum.Update(head);
    sum.Update("\n");
  }
  unsigned char digest[20];
  sum.Final(digest);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

PeerAddress ParsePeerAddress(const std::string& spec) {
  auto bad = [&](const std::string& why) -> PeerAddress {
    throw Error(ErrorKind::kInvalidArgument, "peer '" + spec + "': " + why);
  };
  size_t eq = spec.find('=');
  if (eq == std::string::npos) return bad("expected UUID=ADDRESS:PORT");
  PeerAddress peer;
  peer.uuid = spec.substr(0, eq);
  if (!store::IsHostUuid(peer.uuid)) return bad("the uuid may hold letters, digits and '-' only");
  std::string rest = spec.substr(eq + 1), port;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find("]:");
    if (close == std::string::npos) return bad("expected [ADDRESS]:PORT");
    peer.address = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0) return bad("expected ADDRESS:PORT");
    peer.address = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) == 0 || std::stoul(port) > 65535) {
    return bad("the port must be 1-65535");
  }
  peer.port = static_cast<uint16_t>(std::stoul(port));
  return peer;
}


Replicator::Replicator(Store& store, ReplicatorOptions options)
    : store_(store), options_(std::move(options)) {
  if (store_.HostRef() != HostRefOf(options_.host_uuid)) {
    throw Error(ErrorKind::kInvalidArgument,
                "the replicator's host uuid is not the store's (" + store_.HostRef() + ")");
  }
  if (!options_.secret_file.empty()) {
    secret_ = std::make_unique<server::SecretChecker>(std::vector<std::string>{options_.secret_file});
  }
  git_repository* raw = nullptr;
  store::Check(git_repository_open_bare(&raw, store_.path().c_str()),
               "opening " + store_.path() + " for the replicator");
  repo_.reset(raw);
  git_odb* odb = nullptr;
  store::Check(git_repository_odb(&odb, repo_.get()), "opening the object database");
  odb_.reset(odb);
  for (const PeerAddress& a : options_.peers) {
    if (a.uuid == options_.host_uuid) continue;  // a shared peer list names this host too
    auto peer = std::make_unique<Peer>();
    peer->address = a;
    peers_.push_back(std::move(peer));
  }
}

void Replicator::Start() {
  {
    std::lock_guard<std::mutex> lock(heads_mu_);
    heads_ = ReadHeads();
  }
  // This host's ref moves with master: read it once per move.
  head_listener_ = store_.AddHeadListener([this](const std::string&) {
    SetHead(options_.host_uuid, store_.RefTarget(store_.HostRef()));
    WakeNeighbours();
  });
  DeriveNow();
  quarantine_.Load(HeldCommits());
  FollowHostTable();
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    for (auto& peer : peers_) StartPeer(peer.get());
    started_ = true;
  }
  exchange_thread_ = std::thread([this] { ExchangeLoop(); });
  spdlog::info("replicating as {} with {} peer(s){}, fan-out {}", options_.host_uuid,
               Peers().size(), options_.peers_from_pool ? " (following the host table)" : "",
               options_.fanout);
}

void Replicator::Stop() {
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    if (!started_) return;
    started_ = false;
  }
  store_.RemoveHeadListener(head_listener_);
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  // The exchange thread adds peers: stopped first, then every peer's.
  if (exchange_thread_.joinable()) exchange_thread_.join();
  for (auto& peer : peers_) {
    {
      std::lock_guard<std::mutex> lock(peer->mu);
    }
    peer->cv.notify_all();
  }
  for (auto& peer : peers_) {
    if (peer->thread.joinable()) peer->thread.join();
  }
}

Heads Replicator::LocalHeads() {
  std::lock_guard<std::mutex> lock(heads_mu_);
  return heads_;
}

void Replicator::SetHead(const std::string& host, const std::string& head) {
  std::lock_guard<std::mutex> lock(heads_mu_);
  heads_[host] = head;
}

Heads Replicator::ReadHeads() {
  Heads heads;
  for (const std::string& ref : store_.ListRefs(store::kHostRefPrefix)) {
    std::string uuid = ref.substr(std::string(store::kHostRefPrefix).size());
    if (!store::IsHostUuid(uuid)) continue;
    std::string target = store_.RefTarget(ref);
    if (!target.empty()) heads[uuid] = target;
  }
  return heads;
}

TreeLinks Replicator::Links() {
  std::vector<std::string> live;
  for (Peer* p : Peers()) {
    std::lock_guard<std::mutex> lock(p->mu);
    if (!p->down) live.push_back(p->address.uuid);
  }
  return LinksOf(live, options_.host_uuid, options_.fanout);
}

bool Replicator::IsNeighbour(const std::string& uuid) { return Links().Has(uuid); }

void Replicator::WakeNeighbours() {
  TreeLinks links = Links();
  for (Peer* p : Peers()) {
    if (!links.Has(p->address.uuid)) continue;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      p->wake = true;
    }
    p->cv.notify_one();
  }
}

void Replicator::ExchangeLoop() {
  std::mt19937 rng(std::random_device{}());
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.exchange_ms),
                            [this] { return stop_.load(); })) {
    lock.unlock();
    FollowHostTable();
    if (tree_changed_.exchange(false)) WakeNeighbours();
    lock.lock();
    std::vector<Peer*> peers = Peers();
    if (peers.empty()) continue;
    Peer& p = *peers[std::uniform_int_distribution<size_t>(0, peers.size() - 1)(rng)];
    {
      std::lock_guard<std::mutex> peer_lock(p.mu);
      p.exchange = true;
    }
    p.cv.notify_one();
  }
}

void Replicator::PeerLoop(Peer& p) {
  while (!stop_ && !p.removed) {
    bool exchange = false, wake = false;
    {
      std::unique_lock<std::mutex> lock(p.mu);
      p.cv.wait_for(lock, std::chrono::milliseconds(options_.keepalive_ms),
                    [&] { return stop_ || p.removed || p.wake || p.exchange; });
      wake = p.wake;
      exchange = p.exchange;
      p.wake = p.exchange = false;
    }
    if (stop_ || p.removed) break;
    // Neighbours every keepalive (liveness and pushes); others when
    // anti-entropy picks them, or, when down, as a probe.
    if (!exchange && !IsNeighbour(p.address.uuid) && !wake) continue;
    bool was_down, quiet;
    {
      std::lock_guard<std::mutex> lock(p.mu);
      was_down = p.down;
      // Nothing to tell a neighbour that holds our heads (it may be the one
      // they came from) until its keepalive is due.
      quiet = p.known && NowMs() - p.last_call_ms < options_.keepalive_ms;
    }
    if (quiet && !exchange) {
      Heads mine = LocalHeads();
      std::lock_guard<std::mutex> lock(p.mu);
      if (p.heads == mine) continue;
    }
    try {
      Sync(p);
      if (was_down) {
        spdlog::info("peer {} is up again", p.address.uuid);
        WakeNeighbours();  // the tree changed
      }
    } catch (const Error& e) {
      p.connection.reset();
      bool now_down = false;
      {
        std::lock_guard<std::mutex> lock(p.mu);
        p.last_error = e.what();
        if (++p.misses >= options_.misses_before_down && !p.down) {
          p.down = true;
          p.known = false;
          now_down = true;
        }
      }
      if (now_down) {
        spdlog::warn("peer {} ({}:{}) is down: {}", p.address.uuid, p.address.address,
                     p.address.port, e.what());
        WakeNeighbours();  // children of a dead host re-attach
      }
    }
  }
}

std::string Replicator::Call(Peer& p, const std::string& body) {
  auto start = Clock::now();
  std::string secret = secret_ ? secret_->First() : "";
  server::Answer answer;
  for (int attempt = 0;; ++attempt) {
    bool reused = p.connection.has_value();
    try {
      if (!reused) {
        p.connection.emplace(server::Connection::Tcp(p.address.address, p.address.port,
                                                     options_.call_timeout_ms, options_.tls.get()));
      }
      answer = p.connection->Call(kPeerPath, body, secret, false);
      break;
    } catch (const Error&) {
      // A kept-alive connection the peer closed meanwhile: once more on a
      // new one. A new connection that fails is the peer's answer.
      p.connection.reset();
      if (!reused || attempt > 0) throw;
    }
  }
  if (!answer.keep_alive) p.connection.reset();
  if (answer.status != 200) {
    throw Error(ErrorKind::kIo, "peer " + p.address.uuid + " answered HTTP " +
                                    std::to_string(answer.status) +
                                    (answer.status == 401 || answer.status == 403
                                         ? " (it refuses our pool secret)"
                                         : ""));
  }
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::lock_guard<std::mutex> lock(p.mu);
  p.bytes_out += body.size();
  p.bytes_in += answer.body.size();
  p.rtt_ms = ms;
  p.last_call_ms = NowMs();
  return answer.body;
}

bool Replicator::HaveCommit(const std::string& hex) {
  git_oid id;
  if (git_oid_fromstr(&id, hex.c_str()) != 0) return false;
  return git_odb_exists(odb_.get(), &id) == 1;
}

std::vector<std::string> Replicator::Ahead(const Heads& mine, const Heads& theirs, bool* behind) {
  std::vector<std::string> wants;
  *behind = false;
  std::lock_guard<std::mutex> lock(git_mu_);
  for (const auto& [host, head] : mine) {
    auto it = theirs.find(host);
    if (it == theirs.end()) {
      wants.push_back(head);
    } else if (it->second == head) {
      continue;
    } else if (HaveCommit(it->second) && Contains(repo_.get(), head, it->second)) {
      wants.push_back(head);
    } else if (!RefusedLocked(host, it->second)) {
      *behind = true;  // theirs is ahead (or diverged: Apply says so)
    }
  }
  for (const auto& [host, head] : theirs) {
    if (!mine.count(host) && !RefusedLocked(host, head)) *behind = true;
  }
  return wants;
}

std::string Replicator::Pack(const std::vector<std::string>& wants, const Heads& theirs,
                             const std::string& their_master) {
  if (wants.empty()) return "";
  std::vector<std::string> haves;
  for (const auto& [host, head] : theirs) haves.push_back(head);
  if (!their_master.empty()) haves.push_back(their_master);
  std::lock_guard<std::mutex> lock(git_mu_);
  return BuildThinPack(repo_.get(), wants, haves);
}

PeerMessage Replicator::Exchange(Peer& p, const PeerMessage& request) {
  int64_t sent = WallMs();
  PeerMessage answer = DecodePeerMessage(Call(p, EncodePeerMessage(request)));
  if (answer.time_ms > 0) {
    // Its clock against ours at the middle of the round trip.
    int64_t received = WallMs();
    std::lock_guard<std::mutex> lock(p.mu);
    p.clock_skew_ms = answer.time_ms - (sent + received) / 2;
  }
  if (!answer.error.empty()) {
    throw Error(ErrorKind::kIo,
                "peer " + p.address.uuid + " refused our " + request.call + ": " + answer.error);
  }
  return answer;
}

void Replicator::Sync(Peer& p) {
  Heads mine = LocalHeads();
  bool known;
  Heads theirs;
  std::string their_master;
  {
    std::lock_guard<std::mutex> lock(p.mu);
    known = p.known;
    theirs = p.heads;
    their_master = p.master;
  }
  PeerMessage push;
  push.call = "push";
  push.from = options_.host_uuid;
  push.master = store_.Head();
  push.digest = HeadsDigest(mine);
  // What the peer holds is known: send only the heads that differ from it
  // (usually one), else all of them. A first contact carries no pack, so
  // that the next one holds only what the peer lacks.
  push.partial = known;
  for (const auto& [host, head] : mine) {
    auto it = theirs.find(host);
    if (!known || it == theirs.end() || it->second != head) push.heads[host] = head;
  }
  bool behind = false;
  std::vector<std::string> wants = known ? Ahead(mine, theirs, &behind) : std::vector<std::string>{};
  push.pack = Pack(wants, theirs, their_master);
  theirs = Learn(p, Exchange(p, push), mine, !push.pack.empty());
  wants = Ahead(mine, theirs, &behind);
  if (!wants.empty() && push.pack.empty()) {  // now it is known what to send
    push.pack = Pack(wants, theirs, p.master);
    theirs = Learn(p, Exchange(p, push), mine, true);
    Ahead(mine, theirs, &behind);
  }
  if (!behind) return;
  PeerMessage fetch = RequestWithAllHeads("fetch");
  PeerMessage got = Exchange(p, fetch);
  if (!got.pack.empty()) {
    std::lock_guard<std::mutex> lock(p.mu);
    ++p.packs_in;
  }
  std::vector<std::string> missing;
  Apply(p.address.uuid, got.heads, got.pack, &missing);
  Learn(p, got, fetch.heads, false);
}

PeerMessage Replicator::RequestWithAllHeads(const std::string& call) {
  PeerMessage m;
  m.call = call;
  m.from = options_.host_uuid;
  m.heads = LocalHeads();
  m.master = store_.Head();
  m.digest = HeadsDigest(m.heads);
  return m;
}

Heads Replicator::Learn(Peer& p, const PeerMessage& answer, const Heads& sent, bool sent_pack) {
  // An answer without heads means "I hold what you sent" (equal digests).
  Heads theirs = answer.partial ? sent : answer.heads;
  Heads mine = LocalHeads();
  Heads known;
  {
    std::lock_guard<std::mutex> lock(p.mu);
    if (p.known) known = p.heads;
  }
  // Calls cross: an answer may predate what the peer told us since in its
  // own call. What we know of it only moves forward.
  {
    std::lock_guard<std::mutex> lock(git_mu_);
    for (auto& [host, head] : theirs) {
      auto it = known.find(host);
      if (it != known.end() && it->second != head && HaveCommit(it->second) &&
          HaveCommit(head) && Contains(repo_.get(), it->second, head)) {
        head = it->second;
      }
    }
  }
  std::lock_guard<std::mutex> lock(p.mu);
  p.known = true;
  p.heads = theirs;
  p.master = answer.master;
  p.misses = 0;
  p.down = false;
  p.last_error.clear();
  p.last_ok_ms = NowMs();
  if (sent_pack) ++p.packs_out;
  if (theirs == mine) p.last_in_sync_ms = p.last_ok_ms;
  return theirs;
}

bool Replicator::RefusedLocked(const std::string& host, const std::string& head) {
  return HaveCommit(head) && quarantine_.Refused(repo_.get(), host, head);
}

std::vector<std::string> Replicator::HeldCommits() {
  std::vector<std::string> held;
  for (const auto& [host, head] : LocalHeads()) held.push_back(head);
  std::string master = store_.Head();
  if (!master.empty()) held.push_back(master);
  return held;
}

bool Replicator::Apply(const std::string& from, const Heads& heads, const std::string& pack,
                       std::vector<std::string>* missing) {
  std::lock_guard<std::mutex> apply_lock(apply_mu_);
  {
    std::lock_guard<std::mutex> lock(git_mu_);
    ReceivePack(store_, repo_.get(), pack, {});
  }
  bool moved = false;
  for (const auto& [host, head] : heads) {
    if (host == options_.host_uuid) continue;  // only this host moves its own ref
    std::string ref = HostRefOf(host), current = store_.RefTarget(ref);
    if (current == head) continue;
    bool forward;
    {
      std::lock_guard<std::mutex> lock(git_mu_);
      if (!HaveCommit(head)) {
        missing->push_back(head);
        continue;
      }
      if (!current.empty() && Contains(repo_.get(), current, head)) continue;  // old news
      if (quarantine_.Refused(repo_.get(), host, head)) continue;  // logged when first seen
      forward = current.empty() || Contains(repo_.get(), head, current);
    }
    if (!forward) {
      // Host refs only move forward: a head that drops commits we hold
      // comes from a peer that lies or lost its repository.
      spdlog::warn("refused {}'s head {} from peer {}: it does not contain our {}", host, head,
                   from, current);
      continue;
    }
    if (quarantine_.Check(host, head, HeldCommits())) continue;
    store_.MoveRef(ref, head, current, "replicate: from " + from);
    SetHead(host, head);
    moved = true;
  }
  if (moved) DeriveNow();
  return moved;
}

void Replicator::DeriveNow() {
  for (int attempt = 0; attempt < 5; ++attempt) {
    try {
      store_.UpdateMaster([&](const std::string& head) {
        Store::MasterMove move;
        move.own = false;
        Heads heads = ReadHeads();  // from the refs: the plan's own commit included
        DerivedMaster derived;
        store_.WithRepository(
            [&](git_repository* repo) { derived = DeriveMaster(repo, heads); });
        if (derived.commit.empty() || derived.commit == head) return move;
        std::vector<task::RowKey> keys;
        for (const FieldChange& c : store_.Diff(head, derived.commit)) {
          if (!c.table.empty() && !c.ref.empty()) keys.push_back({c.table, c.ref});
        }
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        move.commit = derived.commit;
        move.rows = task::RowsAt(store_, derived.commit, store_.db(), keys, nullptr);
        move.log_message = "replicate: master of " + std::to_string(heads.size()) + " heads";
        for (const std::string& line : derived.conflicts) {
          spdlog::info("replication merge {}: {}", derived.commit, line);
        }
        conflicts_ += derived.conflicts.size();
        return move;
      });
      return;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kConflict || attempt == 4) {
        spdlog::error("cannot derive master from the hosts' heads: {}", e.what());
        return;
      }
    }
  }
}

std::string Replicator::HandlePeerCall(std::string_view body) {
  PeerMessage answer;
  answer.from = options_.host_uuid;
  try {
    PeerMessage request = DecodePeerMessage(body);
    if (request.call.empty()) throw Error(ErrorKind::kInvalidArgument, "bad peer message: no call");
    Peer* p = FindPeer(request.from);
    if (request.call == "push") {
      std::vector<std::string> missing;
      Apply(request.from, request.heads, request.pack, &missing);
    } else if (request.call == "forward") {
      MakeForwardedWrite(request, &answer);
    }
    Heads mine = LocalHeads();
    answer.master = store_.Head();
    answer.digest = HeadsDigest(mine);
    // Equal digests: both hold the same heads; the answer need not list them.
    bool same = answer.digest == request.digest;
    answer.partial = same;
    if (!same) answer.heads = mine;
    if (request.call == "fetch" || request.call == "forward") {  // with what it lacks
      bool behind = false;
      std::vector<std::string> wants = Ahead(mine, request.heads, &behind);
      answer.pack = Pack(wants, request.heads, request.master);
    }
    if (p != nullptr) {  // what it holds now: our next push to it is exact
      bool was_down;
      {
        std::lock_guard<std::mutex> lock(p->mu);
        was_down = p->down;
        // A partial push names only what changed: its whole set is known
        // only when it equals ours.
        p->known = !request.partial || same;
        p->heads = request.partial ? mine : request.heads;
        p->master = request.master;
        p->misses = 0;
        p->down = false;
        p->bytes_in += body.size();
        if (same) p->last_in_sync_ms = NowMs();
      }
      if (was_down) {
        spdlog::info("peer {} is up again", request.from);
        WakeNeighbours();
      }
    }
  } catch (const Error& e) {
    spdlog::warn("refused a peer call: {}", e.what());
    answer.error_kind = Error::KindName(e.kind());
    answer.error = e.what();
  }
  answer.time_ms = WallMs();
  return EncodePeerMessage(answer);
}

}  // namespace xgdb::replica
