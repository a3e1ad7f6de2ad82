// What an Event_from call listens to (xapi-data-model.md 6.1): "*" (every
// class), "<class>" (every object of a class) or "<class>/<ref>" (one
// object). The class part is compared lower-cased (VM == vm), the string is
// split at the first '/' only, and unknown classes are accepted and simply
// never match.
#ifndef XGDB_EVENT_SUBSCRIPTION_H_
#define XGDB_EVENT_SUBSCRIPTION_H_

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace xgdb::event {

std::string Lower(std::string s);

class Subscriptions {
 public:
  // Error(kInvalidArgument, EVENT_SUBSCRIPTION_PARSE_FAILURE) for an entry
  // with an empty class or an empty ref.
  static Subscriptions Parse(const std::vector<std::string>& classes);

  // `table_lower` is the lower-cased table name.
  bool MatchesTable(const std::string& table_lower) const;
  bool Matches(const std::string& table_lower, const std::string& ref) const;
  // True when the whole class is wanted (not only single objects).
  bool WantsWholeTable(const std::string& table_lower) const;
  // The refs subscribed one by one in a table.
  std::vector<std::string> RefsOf(const std::string& table_lower) const;

 private:
  bool all_ = false;
  std::set<std::string> tables_;
  std::set<std::pair<std::string, std::string>> objects_;
};

}  // namespace xgdb::event

#endif  // XGDB_EVENT_SUBSCRIPTION_H_
