#include "replica/topology.h"

#include <algorithm>

namespace xgdb::replica {

bool TreeLinks::Has(const std::string& uuid) const {
  return uuid == parent || std::find(children.begin(), children.end(), uuid) != children.end();
}

TreeLinks LinksOf(std::vector<std::string> live, const std::string& self, int fanout) {
  if (fanout < 1) fanout = 1;
  live.push_back(self);
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  size_t i = static_cast<size_t>(std::find(live.begin(), live.end(), self) - live.begin());
  size_t f = static_cast<size_t>(fanout);
  TreeLinks links;
  if (i > 0) links.parent = live[(i - 1) / f];
  for (size_t c = i * f + 1; c <= i * f + f && c < live.size(); ++c) {
    links.children.push_back(live[c]);
  }
  return links;
}

}  // namespace xgdb::replica
