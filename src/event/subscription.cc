#include "event/subscription.h"

#include <cctype>

#include "xgdb/error.h"

namespace xgdb::event {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Subscriptions Subscriptions::Parse(const std::vector<std::string>& classes) {
  Subscriptions s;
  for (const std::string& entry : classes) {
    if (entry == "*") {
      s.all_ = true;
      continue;
    }
    size_t slash = entry.find('/');
    std::string cls = Lower(entry.substr(0, slash));
    if (cls.empty() || (slash != std::string::npos && slash + 1 == entry.size())) {
      throw Error(ErrorKind::kInvalidArgument, "EVENT_SUBSCRIPTION_PARSE_FAILURE: '" + entry + "'",
                  {"EVENT_SUBSCRIPTION_PARSE_FAILURE", entry});
    }
    if (slash == std::string::npos) {
      s.tables_.insert(cls);
    } else {
      s.objects_.emplace(cls, entry.substr(slash + 1));
    }
  }
  return s;
}

bool Subscriptions::WantsWholeTable(const std::string& table_lower) const {
  return all_ || tables_.count(table_lower) > 0;
}

bool Subscriptions::MatchesTable(const std::string& table_lower) const {
  if (WantsWholeTable(table_lower)) return true;
  auto it = objects_.lower_bound({table_lower, ""});
  return it != objects_.end() && it->first == table_lower;
}

bool Subscriptions::Matches(const std::string& table_lower, const std::string& ref) const {
  return WantsWholeTable(table_lower) || objects_.count({table_lower, ref}) > 0;
}

std::vector<std::string> Subscriptions::RefsOf(const std::string& table_lower) const {
  std::vector<std::string> out;
  for (auto it = objects_.lower_bound({table_lower, ""});
       it != objects_.end() && it->first == table_lower; ++it) {
    out.push_back(it->second);
  }
  return out;
}

}  // namespace xgdb::event
