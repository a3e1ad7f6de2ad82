// Event tokens (docs/events.md, "Tokens"): where a client stands in the
// event stream. A token names a master commit and a point of the in-memory
// stream of non-persistent changes:
//
//   "<generation:20 digits>.<commit:40 hex>,<stream stamp:20 digits>"
//   e.g. "00000000000000000042.3f2a...c9,00001732451234567890"
//
// The generation (first-parent commit count, Store::GenerationAt) comes
// first and every part has a fixed width, so later tokens of one host sort
// after earlier ones as plain strings (xapi-data-model.md 6.3, 6.7 point 1);
// a bare commit id would not. "" means "from the beginning".
#ifndef XGDB_EVENT_TOKEN_H_
#define XGDB_EVENT_TOKEN_H_

#include <cstdint>
#include <optional>
#include <string>

namespace xgdb::event {

struct Position {
  int64_t generation = 0;  // first-parent commit count of `commit`
  std::string commit;      // 40 lowercase hex digits
  uint64_t stamp = 0;      // volatile stream stamp (volatile_stream.h)

  bool operator==(const Position& o) const {
    return generation == o.generation && commit == o.commit && stamp == o.stamp;
  }
};

// The token text of a position.
std::string FormatToken(const Position& p);
// nullopt for "" (the beginning); Error(kInvalidArgument, args {token})
// when the text is not a token.
std::optional<Position> ParseToken(const std::string& token);

}  // namespace xgdb::event

#endif  // XGDB_EVENT_TOKEN_H_
