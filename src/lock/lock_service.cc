#include "lock/lock_service.h"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "lock/consensus.h"
#include "server/client.h"
#include "xgdb/error.h"

namespace xgdb::lock {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kForwardTimeoutMs = 3000;
constexpr int kMaxInFlight = 256;
// How often the leader compares the voters with the host table.
constexpr int kReconcileMs = 1000;
// Connections kept open to each other daemon for forwarded calls: a new TCP
// connection per call cost a handshake, an accept and a session each time.
constexpr size_t kIdlePerHost = 8;
constexpr int64_t kMaxSeconds = 3600;

std::string StringArg(const json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || !it->is_string() || it->get<std::string>().empty()) {
    throw Error(ErrorKind::kInvalidArgument, std::string("'") + name + "' must be a non-empty string");
  }
  return it->get<std::string>();
}

uint64_t TokenArg(const json& args) {
  auto it = args.find("token");
  if (it == args.end() || !it->is_number_unsigned()) {
    throw Error(ErrorKind::kInvalidArgument, "'token' must be the token Lock_acquire answered");
  }
  return it->get<uint64_t>();
}

// Seconds (a number, fractions allowed) as milliseconds, within [0, 1 h].
int64_t SecondsArg(const json& args, const char* name, int64_t default_ms) {
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) return default_ms;
  if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > kMaxSeconds) {
    throw Error(ErrorKind::kInvalidArgument,
                std::string("'") + name + "' must be a number of seconds from 0 to 3600");
  }
  return static_cast<int64_t>(it->get<double>() * 1000);
}

json OptionalStringArg(const json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) return nullptr;
  if (!it->is_string()) {
    throw Error(ErrorKind::kInvalidArgument, std::string("'") + name + "' must be a string or null");
  }
  return *it;
}

bool IsNoLeader(const json& answer) { return answer.contains("no_leader"); }

}  // namespace

LockService::LockService(LockServiceOptions options)
    : options_(std::move(options)), hosts_(options_.hosts) {}

LockService::~LockService() { Stop(); }

void LockService::Start() {
  if (started_) return;
  const auto& voters = options_.voters;
  // Every host runs a member: the first voters bootstrap the log; the
  // others start empty and wait until a leader makes them voters (Reconcile).
  ConsensusOptions c;
  c.self = MemberOf(options_.self);
  c.dir = options_.dir;
  c.secrets = options_.secrets;
  c.tls = options_.consensus_tls;
  c.election_timeout_ms = options_.election_timeout_ms;
  c.bootstrap = !options_.join &&
                std::find(voters.begin(), voters.end(), options_.self.uuid) != voters.end();
  for (const std::string& uuid : voters) {
    std::optional<LockHost> host = FindHost(uuid);
    if (!host) {
      throw Error(ErrorKind::kInvalidArgument, "voter " + uuid + " is not a known host");
    }
    c.voters.push_back(MemberOf(*host));
  }
  consensus_ = std::make_unique<Consensus>(std::move(c), table_);
  consensus_->Start();
  started_ = true;
  timer_ = std::thread([this] { TimerLoop(); });
  spdlog::info("lock service: started (first voters: {})", fmt::join(voters, ", "));
}

void LockService::Stop() {
  if (!started_) return;
  {
    std::unique_lock<std::mutex> lock(stop_mu_);
    stop_ = true;
    stop_cv_.notify_all();
    stop_cv_.wait(lock, [this] { return in_flight_ == 0; });
  }
  timer_.join();
  if (consensus_) consensus_->Stop();
  started_ = false;
}

json LockService::Call(const std::string& call, const json& args) {
  if (!args.is_object()) throw Error(ErrorKind::kInvalidArgument, call + " takes an object");
  auto leader_deadline = Clock::now() + milliseconds(options_.leader_wait_ms);
  if (call == "Lock_acquire") {
    json request{{"name", StringArg(args, "name")},
                 {"holder", options_.host_ref},
                 {"owner", args.value("owner", "")},
                 {"ttl_ms", SecondsArg(args, "ttl", options_.default_ttl_ms)}};
    std::string mode = args.value("mode", "exclusive");
    if (mode != "exclusive" && mode != "shared") {
      throw Error(ErrorKind::kInvalidArgument, "'mode' must be \"exclusive\" or \"shared\"");
    }
    request["shared"] = mode == "shared";
    if (request["ttl_ms"].get<int64_t>() < 1000) {
      throw Error(ErrorKind::kInvalidArgument, "'ttl' must be at least 1 second");
    }
    auto wait_deadline = Clock::now() + milliseconds(SecondsArg(args, "wait", 0));
    for (bool first = true;; first = false) {
      json answer = RouteToLeader(call, request, std::max(leader_deadline, wait_deadline));
      if (!answer.value("granted", false) && first) ++acquires_waited_;
      if (answer.value("granted", false)) {
        ++acquires_granted_;
        uint64_t token = answer.at("token").get<uint64_t>();
        int64_t ttl_ms = request["ttl_ms"].get<int64_t>();
        {
          std::lock_guard<std::mutex> lock(held_mu_);
          held_[token] = Held{request["name"], ttl_ms, Clock::now()};
        }
        return {{"name", request["name"]}, {"token", token},       {"holder", options_.host_ref},
                {"mode", mode},            {"ttl", ttl_ms / 1000.0}};
      }
      if (Clock::now() >= wait_deadline || stop_) {
        ++acquires_refused_;
        std::string by;
        for (const json& g : answer.value("holders", json::array())) {
          by += (by.empty() ? "" : ", ") + g.value("holder", "") + " (token " +
                std::to_string(g.value("token", uint64_t{0})) + ")";
        }
        throw Error(ErrorKind::kBusy, "lock " + request["name"].get<std::string>() +
                                          " is held by " + by);
      }
      Pause(milliseconds(50));
    }
  }
  if (call == "Lock_renew" || call == "Lock_release") {
    json request{{"name", StringArg(args, "name")}, {"token", TokenArg(args)}};
    json answer = RouteToLeader(call, request, leader_deadline);
    uint64_t token = request["token"];
    if (call == "Lock_release") {
      std::lock_guard<std::mutex> lock(held_mu_);
      held_.erase(token);
      return {{"released", answer.value("released", false)}};
    }
    if (!answer.value("renewed", false)) {
      throw Error(ErrorKind::kBusy, "lock " + request["name"].get<std::string>() +
                                        " is not held under token " + std::to_string(token) +
                                        " (released, or expired)");
    }
    std::lock_guard<std::mutex> lock(held_mu_);
    if (auto it = held_.find(token); it != held_.end()) it->second.renewed = Clock::now();
    return {{"renewed", true}};
  }
  if (call == "Lock_cas") {
    json request{{"key", StringArg(args, "key")},
                 {"expect", OptionalStringArg(args, "expect")},
                 {"value", OptionalStringArg(args, "value")}};
    return RouteToLeader(call, request, leader_deadline);
  }
  if (call == "Lock_get") {
    return RouteToLeader(call, json{{"key", StringArg(args, "key")}}, leader_deadline);
  }
  if (call == "Lock_list") return RouteToLeader(call, json::object(), leader_deadline);
  if (call == "Lock_check") {
    return RouteToLeader(call, json{{"name", StringArg(args, "name")}, {"token", TokenArg(args)}},
                         leader_deadline);
  }
  throw Error(ErrorKind::kBadRequest, "unknown call " + call);
}

void LockService::CheckHeld(const std::string& name, uint64_t token) {
  json answer = Call("Lock_check", {{"name", name}, {"token", token}});
  if (answer.value("held", false)) return;
  std::string newest = std::to_string(answer.value("newest", uint64_t{0}));
  throw Error(ErrorKind::kFenced,
              "lock " + name + " is no longer held under token " + std::to_string(token) +
                  " (its newest grant: token " + newest + ")",
              {name, std::to_string(token), newest});
}

void LockService::CallAsync(std::string call, json args, Done done) {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stop_ || in_flight_ >= kMaxInFlight) {
      Error e(ErrorKind::kBusy, stop_ ? "the daemon is stopping" : "too many lock calls at once");
      done(nullptr, &e);
      return;
    }
    ++in_flight_;
  }
  std::thread([this, call = std::move(call), args = std::move(args), done = std::move(done)] {
    try {
      json result = Call(call, args);
      done(&result, nullptr);
    } catch (const Error& e) {
      done(nullptr, &e);
    } catch (const std::exception& e) {
      Error error(ErrorKind::kIo, e.what());
      done(nullptr, &error);
    }
    std::lock_guard<std::mutex> lock(stop_mu_);
    --in_flight_;
    stop_cv_.notify_all();
  }).detach();
}

json LockService::RouteToLeader(const std::string& call, const json& args,
                                Clock::time_point deadline) {
  int redirects = 0;
  for (;;) {
    json answer = Route(call, args);
    if (!IsNoLeader(answer)) return answer;
    // A member that named the leader: go there at once (Route took the
    // hint), not after a pause; only "nobody leads" is waited out.
    if (!answer.value("leader", "").empty() && ++redirects <= 3) continue;
    if (Clock::now() >= deadline || stop_) {
      throw Error(ErrorKind::kIo,
                  "the lock service has no leader: fewer than a majority of its voters (" +
                      fmt::format("{}", fmt::join(Voters(), ", ")) + ") answer");
    }
    Pause(milliseconds(50));
  }
}

json LockService::Route(const std::string& call, const json& args) {
  if (consensus_ && consensus_->IsLeader()) return Execute(call, args);
  std::string target;
  std::vector<std::string> voters = Voters();
  {
    std::lock_guard<std::mutex> lock(route_mu_);
    target = !leader_hint_.empty() ? leader_hint_ : voters[next_voter_++ % voters.size()];
  }
  json answer;
  if (target == options_.self.uuid) {
    answer = Execute(call, args);
  } else {
    std::optional<LockHost> host = FindHost(target);
    try {
      if (!host) throw Error(ErrorKind::kIo, "unknown host");
      answer = Forward(*host, call, args);
    } catch (const Error& e) {
      spdlog::debug("lock service: {} on {} failed: {}", call, target, e.what());
      answer = json{{"no_leader", true}, {"leader", ""}};
    }
  }
  if (IsNoLeader(answer)) {
    std::lock_guard<std::mutex> lock(route_mu_);
    std::string hint = answer.value("leader", "");
    leader_hint_ = hint != target ? hint : "";
  } else {
    std::lock_guard<std::mutex> lock(route_mu_);
    leader_hint_ = target;
  }
  return answer;
}

json LockService::Forward(const LockHost& host, const std::string& call, const json& args) {
  std::vector<std::string> secrets = options_.secrets ? options_.secrets() : std::vector<std::string>{};
  json forwarded = args;
  forwarded["forwarded"] = true;
  server::Answer answer = Post(host, json::array({call, forwarded}).dump(),
                               secrets.empty() ? "" : secrets.front());
  if (answer.status != 200) {
    throw Error(ErrorKind::kIo, "HTTP " + std::to_string(answer.status) + ": " + answer.body);
  }
  json reply = json::parse(answer.body, nullptr, false);
  if (!reply.is_array() || reply.size() != 2) throw Error(ErrorKind::kIo, "not an answer");
  if (reply[0] == "Failure") {
    throw Error(ErrorKind::kIo, reply[1].value("message", "refused"));
  }
  return reply[1];
}

server::Answer LockService::Post(const LockHost& host, const std::string& body,
                                 const std::string& secret) {
  for (;;) {
    std::optional<server::Connection> connection;
    {
      std::lock_guard<std::mutex> lock(idle_mu_);
      std::vector<server::Connection>& idle = idle_[host.uuid];
      if (!idle.empty()) {
        connection.emplace(std::move(idle.back()));
        idle.pop_back();
      }
    }
    const bool reused = connection.has_value();
    if (!reused) connection.emplace(server::Connection::Tcp(host.address, host.port, kForwardTimeoutMs,
                                                                 options_.tls.get()));
    try {
      server::Answer answer = connection->Call("/xapi_gitdb", body, secret, false);
      if (answer.keep_alive) {
        std::lock_guard<std::mutex> lock(idle_mu_);
        std::vector<server::Connection>& idle = idle_[host.uuid];
        if (idle.size() < kIdlePerHost) idle.push_back(std::move(*connection));
      }
      return answer;
    } catch (const Error&) {
      // A kept connection the other daemon closed meanwhile (it restarted,
      // say): once more on a new one. A new connection's failure is final.
      if (!reused) throw;
    }
  }
}

json LockService::NoLeader() {
  std::optional<LockHost> leader = consensus_ ? HostOfMember(consensus_->LeaderId()) : std::nullopt;
  return {{"no_leader", true}, {"leader", leader ? leader->uuid : ""}};
}

std::optional<LockHost> LockService::FindHost(const std::string& uuid) const {
  std::lock_guard<std::mutex> lock(hosts_mu_);
  for (const LockHost& h : hosts_) {
    if (h.uuid == uuid) return h;
  }
  return std::nullopt;
}

std::optional<LockHost> LockService::HostOfMember(uint64_t member_id) const {
  if (member_id == 0) return std::nullopt;
  std::lock_guard<std::mutex> lock(hosts_mu_);
  for (const LockHost& h : hosts_) {
    if (MemberIdOf(h.uuid) == member_id) return h;
  }
  return std::nullopt;
}

void LockService::FollowAddresses(const PoolHosts& pool) {
  std::lock_guard<std::mutex> lock(hosts_mu_);
  for (const LockHost& given : pool.addresses) {
    if (given.uuid == options_.self.uuid) continue;  // this host listens where it was told
    auto known = std::find_if(hosts_.begin(), hosts_.end(),
                              [&](const LockHost& h) { return h.uuid == given.uuid; });
    if (known == hosts_.end()) {
      spdlog::info("lock service: host {} is at {}:{} (host table)", given.uuid, given.address,
                   given.port);
      hosts_.push_back(given);
    } else if (known->address != given.address || known->port != given.port) {
      spdlog::info("lock service: host {} moved from {}:{} to {}:{} (host table)", given.uuid,
                   known->address, known->port, given.address, given.port);
      *known = given;
    }
  }
}

std::optional<json> LockService::Propose(const json& command) {
  if (stop_) return std::nullopt;
  try {
    auto applied = consensus_->Propose(command.dump(), kConsensusTimeoutMs);
    if (!applied) return std::nullopt;
    return applied->answer;
  } catch (const Error& e) {
    // The outcome is unknown; the caller retries, which is harmless for
    // acquire (idempotent), release and expire.
    spdlog::warn("lock service: {} {}: {}", command.value("op", ""), command.value("name", ""),
                 e.what());
    return std::nullopt;
  }
}

json LockService::Execute(const std::string& call, const json& args) {
  if (!consensus_ || stop_) return NoLeader();
  std::optional<json> answer;
  if (call == "Lock_acquire") {
    return ExecuteAcquire(args);
  } else if (call == "Lock_renew") {
    return ExecuteRenew(args);
  } else if (call == "Lock_list") {
    return ExecuteList();
  } else if (call == "Lock_release") {
    answer = Propose({{"op", "release"}, {"name", StringArg(args, "name")}, {"token", TokenArg(args)}});
    if (answer) {
      std::lock_guard<std::mutex> lock(lease_mu_);
      deadlines_.erase(TokenArg(args));
    }
  } else if (call == "Lock_cas") {
    answer = Propose({{"op", "cas"},
                      {"key", StringArg(args, "key")},
                      {"expect", OptionalStringArg(args, "expect")},
                      {"value", OptionalStringArg(args, "value")}});
  } else if (call == "Lock_get") {
    if (!consensus_->Barrier(kConsensusTimeoutMs)) return NoLeader();
    std::optional<std::string> value = table_.Value(StringArg(args, "key"));
    return {{"value", value ? json(*value) : json(nullptr)}};
  } else if (call == "Lock_check") {
    if (!consensus_->Barrier(kConsensusTimeoutMs)) return NoLeader();
    const std::string name = StringArg(args, "name");
    return {{"held", table_.FindGrant(name, TokenArg(args)).has_value()},
            {"newest", table_.NewestToken(name)}};
  } else {
    throw Error(ErrorKind::kBadRequest, "unknown call " + call);
  }
  return answer ? *answer : NoLeader();
}

json LockService::ExecuteAcquire(const json& args) {
  json command{{"op", "acquire"},
               {"name", StringArg(args, "name")},
               {"shared", args.value("shared", false)},
               {"holder", StringArg(args, "holder")},
               {"owner", args.value("owner", "")},
               {"ttl_ms", args.at("ttl_ms").get<int64_t>()}};
  std::optional<json> answer = Propose(command);
  if (!answer) return NoLeader();
  if (answer->value("granted", false)) {
    std::lock_guard<std::mutex> lock(lease_mu_);
    deadlines_[answer->at("token").get<uint64_t>()] =
        Clock::now() + milliseconds(command["ttl_ms"].get<int64_t>());
  }
  return *answer;
}

json LockService::ExecuteRenew(const json& args) {
  if (!consensus_->IsLeader()) return NoLeader();
  const std::string name = StringArg(args, "name");
  const uint64_t token = TokenArg(args);
  std::optional<Grant> grant = table_.FindGrant(name, token);
  if (!grant) {  // a new leader may not have applied the grant yet
    if (!consensus_->Barrier(kConsensusTimeoutMs)) return NoLeader();
    grant = table_.FindGrant(name, token);
  }
  if (!grant) return {{"renewed", false}};
  std::lock_guard<std::mutex> lock(lease_mu_);
  deadlines_[token] = Clock::now() + milliseconds(grant->ttl_ms);
  return {{"renewed", true}};
}

json LockService::ExecuteList() {
  if (!consensus_->Barrier(kConsensusTimeoutMs)) return NoLeader();
  auto now = Clock::now();
  json locks = json::array();
  std::lock_guard<std::mutex> lock(lease_mu_);
  for (const Grant& g : table_.Grants()) {
    json j{{"name", g.name},   {"mode", g.shared ? "shared" : "exclusive"},
           {"holder", g.holder}, {"owner", g.owner},
           {"token", g.token}, {"ttl", g.ttl_ms / 1000.0}};
    auto it = deadlines_.find(g.token);
    int64_t left = it == deadlines_.end()
                       ? g.ttl_ms
                       : std::chrono::duration_cast<milliseconds>(it->second - now).count();
    j["expires_in"] = std::max<int64_t>(left, 0) / 1000.0;
    locks.push_back(std::move(j));
  }
  return {{"locks", locks}, {"values", table_.Values()}};
}

void LockService::Pause(milliseconds ms) {
  std::unique_lock<std::mutex> lock(stop_mu_);
  stop_cv_.wait_for(lock, ms, [this] { return stop_.load(); });
}

void LockService::TimerLoop() {
  auto reconciled = Clock::now();
  while (!stop_) {
    try {
      ExpireLeases();
      RenewHeld();
      if (options_.pool_hosts && Clock::now() - reconciled >= milliseconds(kReconcileMs)) {
        reconciled = Clock::now();
        PoolHosts pool = options_.pool_hosts();
        FollowAddresses(pool);
        if (was_leader_) Reconcile(pool);
      }
    } catch (const std::exception& e) {
      spdlog::warn("lock service: {}", e.what());
    }
    Pause(milliseconds(100));
  }
}

void LockService::ExpireLeases() {
  if (!consensus_) return;
  if (!consensus_->IsLeader()) {
    std::lock_guard<std::mutex> lock(lease_mu_);
    deadlines_.clear();
    was_leader_ = false;
    return;
  }
  if (!was_leader_) {
    // Apply everything the previous leader committed before timing grants:
    // each then gets its full TTL from now (the old leader's timers are lost).
    if (!consensus_->Barrier(kConsensusTimeoutMs)) return;
    was_leader_ = true;
    spdlog::info("lock service: this host leads; {} grant(s) get their full TTL again",
                 table_.Grants().size());
  }
  auto now = Clock::now();
  std::vector<Grant> expired;
  {
    std::lock_guard<std::mutex> lock(lease_mu_);
    std::set<uint64_t> live;
    for (const Grant& g : table_.Grants()) {
      live.insert(g.token);
      auto [it, added] = deadlines_.try_emplace(g.token, now + milliseconds(g.ttl_ms));
      if (!added && it->second <= now) expired.push_back(g);
    }
    std::erase_if(deadlines_, [&](const auto& d) { return live.count(d.first) == 0; });
  }
  for (const Grant& g : expired) {
    std::optional<json> answer = Propose({{"op", "expire"}, {"name", g.name}, {"token", g.token}});
    if (answer && answer->value("released", false)) {
      spdlog::info("lock service: lock {} of {} (token {}) expired: not renewed within {} ms",
                   g.name, g.holder, g.token, g.ttl_ms);
    }
  }
}

void LockService::RenewHeld() {
  auto now = Clock::now();
  std::vector<std::pair<uint64_t, std::string>> due;
  {
    std::lock_guard<std::mutex> lock(held_mu_);
    for (const auto& [token, h] : held_) {
      if (now - h.renewed >= milliseconds(h.ttl_ms / 3)) due.emplace_back(token, h.name);
    }
  }
  for (const auto& [token, name] : due) {
    try {
      Call("Lock_renew", json{{"name", name}, {"token", token}});
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kBusy) {
        std::lock_guard<std::mutex> lock(held_mu_);
        held_.erase(token);
        spdlog::warn("lock service: lost lock {} (token {}): {}", name, token, e.what());
      }
    }
  }
}

json LockService::Status() {
  std::optional<LockHost> leader = consensus_ ? HostOfMember(consensus_->LeaderId()) : std::nullopt;
  std::lock_guard<std::mutex> lock(held_mu_);
  std::vector<std::string> voters = Voters();
  bool votes = std::find(voters.begin(), voters.end(), options_.self.uuid) != voters.end();
  return {{"role", consensus_ && consensus_->IsLeader() ? "leader" : votes ? "voter" : "stand-by"},
          {"leader", leader ? leader->uuid : ""},
          {"voters", voters},
          {"held_here", held_.size()},
          {"grants", acquires_granted_.load()},
          {"waits", acquires_waited_.load()},
          {"refusals", acquires_refused_.load()}};
}

}  // namespace xgdb::lock
