#include "store/member_order.h"

#include <unordered_set>

#include "xgdb/error.h"

namespace xgdb::store {

bool IsColumnNote(std::string_view entry) {
  return entry == kOrderEntry || entry == kVerbatimEntry;
}

sexpr::StringSet DistinctSet(std::string_view text) {
  sexpr::StringSet all = sexpr::ParseSet(text), out;
  std::unordered_set<std::string_view> seen;
  for (const std::string& e : all) {
    if (seen.insert(e).second) out.push_back(e);
  }
  return out;
}

sexpr::StringMap DistinctMap(std::string_view text) {
  sexpr::StringMap all = sexpr::ParseMap(text), out;
  std::unordered_set<std::string_view> seen;
  for (const auto& kv : all) {
    if (seen.insert(kv.first).second) out.push_back(kv);
  }
  return out;
}

std::string OrderText(const std::vector<std::string>& order) {
  std::string out;
  for (const std::string& name : order) {
    out += name;
    out += '\n';  // encoded names never hold a newline (it is escaped)
  }
  return out;
}

std::vector<std::string> MemberOrder(const std::vector<std::string>& names,
                                     const std::optional<std::string>& order_text,
                                     const std::string& path) {
  if (!order_text) return names;
  auto corrupt = [&path](const std::string& why) {
    return Error(ErrorKind::kCorrupt, "corrupt repository: " + path + "/" + kOrderEntry + " " + why);
  };
  const std::string& text = *order_text;
  if (!text.empty() && text.back() != '\n') throw corrupt("does not end with a newline");
  std::unordered_set<std::string_view> present(names.begin(), names.end());
  std::unordered_set<std::string_view> listed;
  std::vector<std::string> order;
  order.reserve(names.size());
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view name(text.data() + start, end - start);
    if (!present.count(name)) throw corrupt("lists '" + std::string(name) + "', which is not a member");
    if (!listed.insert(name).second) throw corrupt("lists '" + std::string(name) + "' twice");
    order.emplace_back(name);
    start = end + 1;
  }
  if (order.size() != names.size()) throw corrupt("does not list every member");
  return order;
}

namespace {

std::vector<std::string> Only(const std::vector<std::string>& list,
                              const std::unordered_set<std::string_view>& keep) {
  std::vector<std::string> out;
  for (const std::string& name : list) {
    if (keep.count(name)) out.push_back(name);
  }
  return out;
}

std::unordered_set<std::string_view> SetOf(const std::vector<std::string>& list) {
  return {list.begin(), list.end()};
}

}  // namespace

std::vector<std::string> MergeMemberOrder(const std::vector<std::string>& base,
                                          const std::vector<std::string>& ours,
                                          const std::vector<std::string>& theirs,
                                          const std::vector<std::string>& merged) {
  auto in_base = SetOf(base), in_ours = SetOf(ours), in_theirs = SetOf(theirs);
  std::unordered_set<std::string_view> added, kept, common;
  for (const std::string& name : merged) (in_base.count(name) ? kept : added).insert(name);
  for (const std::string& name : base) {
    if (in_ours.count(name) && in_theirs.count(name)) common.insert(name);
  }
  // Each block follows one side's order first, then the other's. Which side
  // leads depends only on what the sides hold, never on which one is ours:
  // the side that added members (or that reordered the members all three
  // hold); when both or neither did, the smaller list by content.
  auto lead = [](const std::vector<std::string>& a, const std::vector<std::string>& b,
                 bool a_has, bool b_has) {
    if (a_has != b_has) return a_has;
    return a <= b;
  };
  std::vector<std::string> added_o = Only(ours, added), added_t = Only(theirs, added);
  bool ours_adds_first = lead(added_o, added_t, !added_o.empty(), !added_t.empty());
  std::vector<std::string> kept_o = Only(ours, kept), kept_t = Only(theirs, kept);
  std::vector<std::string> common_b = Only(base, common);
  bool ours_keeps_first = lead(kept_o, kept_t, Only(ours, common) != common_b,
                               Only(theirs, common) != common_b);

  std::unordered_set<std::string_view> placed;
  std::vector<std::string> out;
  out.reserve(merged.size());
  auto place = [&](const std::vector<std::string>& list) {
    for (const std::string& name : list) {
      if (placed.insert(name).second) out.push_back(name);
    }
  };
  place(ours_adds_first ? added_o : added_t);
  place(ours_adds_first ? added_t : added_o);
  place(ours_keeps_first ? kept_o : kept_t);
  place(ours_keeps_first ? kept_t : kept_o);
  place(merged);
  return out;
}

}  // namespace xgdb::store
