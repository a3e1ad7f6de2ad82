// The lock service's replicated state (docs/locks.md): named locks with
// their holders and fencing tokens, and a few small keys for SM's
// compare-and-set flags.
//
// Every voter applies the same committed commands in the same order
// (consensus.h), so Apply must be a pure function of the table and the
// command: no clocks, no randomness, no iteration over unordered maps.
// Lease timers are not part of the table: they run on the leader only
// (lock_service.h), which turns a missed renewal into an "expire" command.
//
// Thread-safe: Apply runs on the consensus thread, the readers anywhere.
#ifndef XGDB_LOCK_LOCK_TABLE_H_
#define XGDB_LOCK_LOCK_TABLE_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lock/consensus.h"

namespace xgdb::lock {

struct Grant {
  std::string name;
  bool shared = false;
  std::string holder;  // the host ref that holds it
  std::string owner;   // who on that host ("" when the caller gave none)
  uint64_t token = 0;  // the consensus index of the grant; only grows
  int64_t ttl_ms = 0;
};

// Commands, as JSON objects (proto/locks.md gives each):
//   {"op":"acquire","name","shared","holder","owner","ttl_ms"}
//       -> {"granted":true,"token"} | {"granted":false,"holders":[grant...]}
//       Re-acquiring what the same (holder, owner) holds in the same mode
//       answers the existing grant: a retry after a lost reply is harmless.
//   {"op":"release","name","token"} and {"op":"expire","name","token"}
//       -> {"released":bool}
//   {"op":"cas","key","expect":string|null,"value":string|null}
//       -> {"ok":bool,"value":string|null (the value after the command)}
//       null `expect` means "absent" (add-if-absent); null `value` deletes.
class LockTable : public StateMachine {
 public:
  // Applies the command committed at `index` and returns its answer.
  // A malformed command answers {"error": "..."} and changes nothing.
  nlohmann::json Apply(uint64_t index, std::string_view command) override;

  // The whole table; Restore(Snapshot()) gives an equal table.
  std::string Snapshot() override;
  void Restore(std::string_view snapshot) override;  // Error(kCorrupt) when unreadable

  std::vector<Grant> Grants() const;  // by name, then token
  std::optional<Grant> FindGrant(const std::string& name, uint64_t token) const;
  std::optional<std::string> Value(const std::string& key) const;
  std::map<std::string, std::string> Values() const;
  // The token of the newest grant ever made of `name` (0: never granted):
  // a change guarded by an older token comes from a holder that lost it.
  uint64_t NewestToken(const std::string& name) const;
  uint64_t applied_index() const;

 private:
  struct Lock {
    std::vector<Grant> holders;  // one exclusive, or any number shared
  };
  nlohmann::json Acquire(uint64_t index, const nlohmann::json& command);
  nlohmann::json Release(const nlohmann::json& command);
  nlohmann::json CompareAndSet(const nlohmann::json& command);

  mutable std::mutex mu_;
  std::map<std::string, Lock> locks_;
  std::map<std::string, uint64_t> newest_;
  std::map<std::string, std::string> values_;
  uint64_t applied_ = 0;
};

nlohmann::json GrantJson(const Grant& grant);

}  // namespace xgdb::lock

#endif  // XGDB_LOCK_LOCK_TABLE_H_
