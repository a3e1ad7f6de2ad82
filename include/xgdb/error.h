// The one error type of xapi-gitdb.
//
// Every fallible call in the library throws xgdb::Error (and nothing else
// crosses a module boundary). Its kind mirrors what xapi's remote database
// protocol can say in-band (DBCache_NotFound, Duplicate_key, ...), plus the
// kinds only this project needs (conflict, ownership, corrupt store, ...).
// The translation to wire answers happens in exactly one place:
// src/rpc/error_codec.cc.
#ifndef XGDB_ERROR_H_
#define XGDB_ERROR_H_

#include <stdexcept>
#include <string>
#include <vector>

namespace xgdb {

enum class ErrorKind {
  // Carried in-band by the xapi protocol (HTTP 200 with a failure body).
  kNotFound,            // DBCache_NotFound (what, a, b); see args()
  kDuplicateKey,        // Duplicate_key (table, field, ref, key)
  kUniqueness,          // Uniqueness_constraint_violation (table, field, value)
  kReadMissingUuid,     // Read_missing_uuid (table, "", uuid)
  kTooManyValues,       // Too_many_values (table, "", uuid); never raised today
  // Not encodable by the xapi protocol: the server answers HTTP 500.
  kIntegrityViolation,  // create_row of an existing ref with other values
  kInvalidValue,        // value is not valid UTF-8 / XML-legal
  kEmptyKeyInMap,       // a map key is empty
  kParse,               // S-expression or type error in a value
  kBadRequest,          // malformed request: bad XML/JSON, wrong arity, unknown call
  // Ours.
  kConflict,            // three-way merge conflict (table, ref, field)
  kOwnership,           // change to an object owned by another host
  kCorrupt,             // repository missing, corrupt or half-written
  kIo,                  // file system / libgit2 failure
  kInvalidArgument,     // bad input to a command (state.db syntax, CLI usage)
  kBusy,                // held by another (a repository another process writes)
  kFenced,              // guarded by a lock token that is no longer held
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message,
        std::vector<std::string> args = {})
      : std::runtime_error(message), kind_(kind), args_(std::move(args)) {}

  // DBCache_NotFound with xapi's three arguments, e.g.
  // NotFound("missing row", table, ref) or NotFound("missing field", f, "").
  static Error NotFound(const std::string& what, const std::string& a,
                        const std::string& b);

  ErrorKind kind() const { return kind_; }
  // The wire arguments of the in-band kinds, in wire order.
  const std::vector<std::string>& args() const { return args_; }
  // True for the kinds xapi's protocol carries in a 200 answer.
  bool in_band() const;
  // Short name of the kind for logs and the CLI ("not found", "conflict").
  static const char* KindName(ErrorKind kind);

 private:
  ErrorKind kind_;
  std::vector<std::string> args_;
};

}  // namespace xgdb

#endif  // XGDB_ERROR_H_
