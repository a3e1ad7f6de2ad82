#include "lock/lock_table.h"

#include <algorithm>

#include "xgdb/error.h"

namespace xgdb::lock {

namespace {

using json = nlohmann::json;

Grant GrantFrom(const json& j) {
  Grant g;
  g.name = j.at("name").get<std::string>();
  g.shared = j.at("shared").get<bool>();
  g.holder = j.at("holder").get<std::string>();
  g.owner = j.at("owner").get<std::string>();
  g.token = j.at("token").get<uint64_t>();
  g.ttl_ms = j.at("ttl_ms").get<int64_t>();
  return g;
}

json OptionalString(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

}  // namespace

json GrantJson(const Grant& grant) {
  return {{"name", grant.name},     {"shared", grant.shared}, {"holder", grant.holder},
          {"owner", grant.owner},   {"token", grant.token},   {"ttl_ms", grant.ttl_ms}};
}

json LockTable::Apply(uint64_t index, std::string_view command) {
  std::lock_guard<std::mutex> lock(mu_);
  applied_ = index;
  try {
    json c = json::parse(command);
    const std::string op = c.at("op").get<std::string>();
    if (op == "acquire") return Acquire(index, c);
    if (op == "release" || op == "expire") return Release(c);
    if (op == "cas") return CompareAndSet(c);
    return {{"error", "unknown command " + op}};
  } catch (const json::exception& e) {
    return {{"error", std::string("malformed command: ") + e.what()}};
  }
}

json LockTable::Acquire(uint64_t index, const json& c) {
  Grant wanted;
  wanted.name = c.at("name").get<std::string>();
  wanted.shared = c.value("shared", false);
  wanted.holder = c.at("holder").get<std::string>();
  wanted.owner = c.value("owner", "");
  wanted.ttl_ms = c.at("ttl_ms").get<int64_t>();
  Lock& lock = locks_[wanted.name];
  for (const Grant& g : lock.holders) {
    if (g.holder == wanted.holder && g.owner == wanted.owner && g.shared == wanted.shared) {
      return {{"granted", true}, {"token", g.token}};  // a retried acquire
    }
  }
  bool compatible = lock.holders.empty() ||
                    (wanted.shared && std::all_of(lock.holders.begin(), lock.holders.end(),
                                                  [](const Grant& g) { return g.shared; }));
  if (!compatible) {
    json holders = json::array();
    for (const Grant& g : lock.holders) holders.push_back(GrantJson(g));
    return {{"granted", false}, {"holders", holders}};
  }
  wanted.token = index;
  lock.holders.push_back(wanted);
  newest_[wanted.name] = index;
  return {{"granted", true}, {"token", index}};
}

json LockTable::Release(const json& c) {
  const std::string name = c.at("name").get<std::string>();
  const uint64_t token = c.at("token").get<uint64_t>();
  auto it = locks_.find(name);
  if (it == locks_.end()) return {{"released", false}};
  auto& holders = it->second.holders;
  auto g = std::find_if(holders.begin(), holders.end(),
                        [&](const Grant& h) { return h.token == token; });
  if (g == holders.end()) return {{"released", false}};
  holders.erase(g);
  if (holders.empty()) locks_.erase(it);
  return {{"released", true}};
}

json LockTable::CompareAndSet(const json& c) {
  const std::string key = c.at("key").get<std::string>();
  std::optional<std::string> expect;
  if (!c.at("expect").is_null()) expect = c.at("expect").get<std::string>();
  std::optional<std::string> current;
  if (auto it = values_.find(key); it != values_.end()) current = it->second;
  if (current != expect) return {{"ok", false}, {"value", OptionalString(current)}};
  if (c.at("value").is_null()) {
    values_.erase(key);
    current.reset();
  } else {
    current = c.at("value").get<std::string>();
    values_[key] = *current;
  }
  return {{"ok", true}, {"value", OptionalString(current)}};
}

std::string LockTable::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  json grants = json::array();
  for (const auto& [name, l] : locks_) {
    for (const Grant& g : l.holders) grants.push_back(GrantJson(g));
  }
  return json{{"format", 1},   {"applied", applied_}, {"grants", grants},
              {"newest", newest_}, {"values", values_}}
      .dump();
}

void LockTable::Restore(std::string_view snapshot) {
  std::map<std::string, Lock> locks;
  std::map<std::string, uint64_t> newest;
  std::map<std::string, std::string> values;
  uint64_t applied = 0;
  try {
    json s = json::parse(snapshot);
    if (s.at("format").get<int>() != 1) throw Error(ErrorKind::kCorrupt, "unknown format");
    for (const json& g : s.at("grants")) {
      Grant grant = GrantFrom(g);
      locks[grant.name].holders.push_back(grant);
    }
    newest = s.at("newest").get<std::map<std::string, uint64_t>>();
    values = s.at("values").get<std::map<std::string, std::string>>();
    applied = s.at("applied").get<uint64_t>();
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kCorrupt, std::string("lock table snapshot: ") + e.what());
  }
  std::lock_guard<std::mutex> lock(mu_);
  locks_ = std::move(locks);
  newest_ = std::move(newest);
  values_ = std::move(values);
  applied_ = applied;
}

std::vector<Grant> LockTable::Grants() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Grant> out;
  for (const auto& [name, l] : locks_) out.insert(out.end(), l.holders.begin(), l.holders.end());
  return out;
}

std::optional<Grant> LockTable::FindGrant(const std::string& name, uint64_t token) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = locks_.find(name);
  if (it == locks_.end()) return std::nullopt;
  for (const Grant& g : it->second.holders) {
    if (g.token == token) return g;
  }
  return std::nullopt;
}

std::optional<std::string> LockTable::Value(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, std::string> LockTable::Values() const {
  std::lock_guard<std::mutex> lock(mu_);
  return values_;
}

uint64_t LockTable::NewestToken(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = newest_.find(name);
  return it == newest_.end() ? 0 : it->second;
}

uint64_t LockTable::applied_index() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_;
}

}  // namespace xgdb::lock
