// The persistent B+-tree behind the in-memory image, against std::map as an
// oracle on randomized operations, plus the sharing guarantees clones rely
// on: copies are independent, and Diff reads only what differs.
#include "db/persistent_map.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace xgdb {
namespace db {
namespace {

using Map = PersistentMap<std::string, int>;
using Oracle = std::map<std::string, int>;

std::string Key(uint32_t i) { return "OpaqueRef:" + std::to_string(i * 2654435761u); }

void ExpectSame(const Map& m, const Oracle& o) {
  ASSERT_TRUE(m.CheckInvariants());
  ASSERT_EQ(m.size(), o.size());
  auto it = m.begin();
  for (const auto& [k, v] : o) {
    ASSERT_NE(it, m.end());
    EXPECT_EQ(it.key(), k);
    EXPECT_EQ(it.value(), v);
    ++it;
  }
  EXPECT_EQ(it, m.end());
}

// What Diff must report, computed from two oracles.
std::map<std::string, std::pair<std::optional<int>, std::optional<int>>> OracleDiff(
    const Oracle& a, const Oracle& b) {
  std::map<std::string, std::pair<std::optional<int>, std::optional<int>>> out;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end())
      out[k] = {v, std::nullopt};
    else if (it->second != v)
      out[k] = {v, it->second};
  }
  for (const auto& [k, v] : b)
    if (!a.count(k)) out[k] = {std::nullopt, v};
  return out;
}

std::map<std::string, std::pair<std::optional<int>, std::optional<int>>> MapDiff(
    const Map& a, const Map& b) {
  std::map<std::string, std::pair<std::optional<int>, std::optional<int>>> out;
  std::string last;
  bool first = true;
  Map::Diff(a, b, [&](const std::string& k, const int* before, const int* after) {
    EXPECT_TRUE(first || last < k) << "Diff not ascending at " << k;
    first = false;
    last = k;
    EXPECT_FALSE(out.count(k)) << "reported twice: " << k;
    out[k] = {before ? std::optional<int>(*before) : std::nullopt,
              after ? std::optional<int>(*after) : std::nullopt};
  });
  return out;
}

TEST(PersistentMapTest, EmptyMap) {
  Map m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.Find("x"), nullptr);
  EXPECT_EQ(m.FindMutable("x"), nullptr);
  EXPECT_FALSE(m.Erase("x"));
  EXPECT_EQ(m.begin(), m.end());
  EXPECT_EQ(m.LowerBound("a"), m.end());
  EXPECT_TRUE(m.CheckInvariants());
  EXPECT_TRUE(MapDiff(m, Map()).empty());
}

TEST(PersistentMapTest, RandomOperationsMatchStdMap) {
  std::mt19937 rng(7);
  Map m;
  Oracle o;
  for (int step = 0; step < 60000; ++step) {
    std::string k = Key(rng() % 5000);
    int op = rng() % 10;
    if (op < 5) {
      int v = static_cast<int>(rng());
      EXPECT_EQ(m.Set(k, v), !o.count(k));
      o[k] = v;
    } else if (op < 8) {
      EXPECT_EQ(m.Erase(k), o.erase(k) == 1);
    } else if (op < 9) {
      int* v = m.FindMutable(k);
      ASSERT_EQ(v != nullptr, o.count(k) == 1);
      if (v) o[k] = ++*v;
    } else {
      auto it = m.LowerBound(k);
      auto oi = o.lower_bound(k);
      if (oi == o.end()) {
        EXPECT_EQ(it, m.end());
      } else {
        ASSERT_NE(it, m.end());
        EXPECT_EQ(it.key(), oi->first);
      }
    }
    const int* f = m.Find(k);
    ASSERT_EQ(f != nullptr, o.count(k) == 1) << k;
    if (f) {
      EXPECT_EQ(*f, o[k]);
    }
    if (step % 5000 == 0) ExpectSame(m, o);
  }
  ExpectSame(m, o);
  // Erase everything: the tree shrinks back to nothing.
  for (const auto& [k, v] : o) ASSERT_TRUE(m.Erase(k));
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.Height(), 0);
  EXPECT_TRUE(m.CheckInvariants());
}

TEST(PersistentMapTest, SequentialInsertsKeepLowHeight) {
  Map m;
  for (int i = 0; i < 1000000; ++i) {
    char b[16];
    snprintf(b, sizeof b, "%08d", i);
    m.Set(b, i);
  }
  EXPECT_TRUE(m.CheckInvariants());
  // A million entries: at most 1 + log_8(1e6) levels, a handful of hops.
  EXPECT_LE(m.Height(), 7);
  EXPECT_EQ(*m.Find("00543210"), 543210);
}

TEST(PersistentMapTest, CopiesAreIndependentBothWays) {
  std::mt19937 rng(11);
  Map a;
  Oracle oa;
  for (int i = 0; i < 3000; ++i) {
    a.Set(Key(i), i);
    oa[Key(i)] = i;
  }
  Map b = a;
  Oracle ob = oa;
  for (int step = 0; step < 4000; ++step) {
    bool on_a = rng() % 2;
    Map& m = on_a ? a : b;
    Oracle& o = on_a ? oa : ob;
    std::string k = Key(rng() % 4000);
    if (rng() % 3) {
      m.Set(k, step);
      o[k] = step;
    } else {
      m.Erase(k);
      o.erase(k);
    }
  }
  ExpectSame(a, oa);
  ExpectSame(b, ob);
  EXPECT_EQ(MapDiff(a, b), OracleDiff(oa, ob));
}

// Copies of copies, each written after the next copy was taken: nodes and
// their (shared) key lists are copied on the right writes and no other.
TEST(PersistentMapTest, GenerationsOfCopiesStayIndependent) {
  std::mt19937 rng(5);
  std::vector<Map> maps(1);
  std::vector<Oracle> oracles(1);
  for (int i = 0; i < 2000; ++i) {
    maps[0].Set(Key(i), i);
    oracles[0][Key(i)] = i;
  }
  for (int gen = 1; gen < 6; ++gen) {
    maps.push_back(maps.back());
    oracles.push_back(oracles.back());
    for (int step = 0; step < 1500; ++step) {
      size_t which = rng() % maps.size();
      std::string k = Key(rng() % 2600);
      switch (rng() % 4) {
        case 0:
          maps[which].Erase(k);
          oracles[which].erase(k);
          break;
        case 1:  // a new value for a present key: the keys stay shared
          if (oracles[which].count(k)) {
            *maps[which].FindMutable(k) = -step;
            oracles[which][k] = -step;
          }
          break;
        default:
          maps[which].Set(k, step);
          oracles[which][k] = step;
      }
    }
  }
  for (size_t i = 0; i < maps.size(); ++i) ExpectSame(maps[i], oracles[i]);
}

TEST(PersistentMapTest, DiffOfDerivedCopyMatchesOracle) {
  std::mt19937 rng(3);
  for (int round = 0; round < 20; ++round) {
    Map base;
    Oracle ob;
    int n = 1 + static_cast<int>(rng() % 3000);
    for (int i = 0; i < n; ++i) {
      base.Set(Key(i), i);
      ob[Key(i)] = i;
    }
    Map now = base;
    Oracle on = ob;
    // A few edits, clustered or spread; one round erases nearly all.
    int edits = round == 5 ? n : static_cast<int>(rng() % 50);
    for (int e = 0; e < edits; ++e) {
      std::string k = Key(rng() % (n + 100));
      if (round == 5 || rng() % 3 == 0) {
        now.Erase(k);
        on.erase(k);
      } else {
        now.Set(k, -e);
        on[k] = -e;
      }
    }
    if (round == 6) {  // the copy grows two levels taller
      for (int i = 0; i < 40000; ++i) {
        now.Set(Key(n + 100 + i), i);
        on[Key(n + 100 + i)] = i;
      }
    }
    ASSERT_TRUE(now.CheckInvariants());
    EXPECT_EQ(MapDiff(base, now), OracleDiff(ob, on)) << "round " << round;
    EXPECT_EQ(MapDiff(now, base), OracleDiff(on, ob)) << "round " << round;
    ExpectSame(base, ob);  // the base never changed
  }
}

TEST(PersistentMapTest, DiffOfUnrelatedMapsIsStillExact) {
  Map a, b;
  Oracle oa, ob;
  for (int i = 0; i < 500; ++i) {
    a.Set(Key(i), i);
    oa[Key(i)] = i;
    b.Set(Key(i + 250), i + 250);
    ob[Key(i + 250)] = i + 250;
  }
  EXPECT_EQ(MapDiff(a, b), OracleDiff(oa, ob));
}

// Clone + k writes + Diff do work that depends on k and the height, not on
// the number of entries.
uint64_t CopiesAndVisits(int n, int k, uint64_t* visits) {
  Map base;
  for (int i = 0; i < n; ++i) base.Set(Key(i), i);
  uint64_t copies0 = PersistentMapStats::node_copies.load();
  uint64_t visits0 = PersistentMapStats::diff_visits.load();
  Map clone = base;
  for (int i = 0; i < k; ++i) *clone.FindMutable(Key(i * 97 % n)) += 1;
  size_t reported = 0;
  Map::Diff(base, clone, [&](const std::string&, const int*, const int*) { ++reported; });
  EXPECT_EQ(reported, static_cast<size_t>(k));
  *visits = PersistentMapStats::diff_visits.load() - visits0;
  return PersistentMapStats::node_copies.load() - copies0;
}

TEST(PersistentMapTest, CloneWriteDiffCostIndependentOfSize) {
  const int k = 10;
  uint64_t small_visits = 0, large_visits = 0;
  uint64_t small_copies = CopiesAndVisits(1000, k, &small_visits);
  uint64_t large_copies = CopiesAndVisits(100000, k, &large_visits);
  // Each write copies at most one path (height <= 4 here), each Diff step
  // opens at most a path on each side.
  EXPECT_LE(large_copies, static_cast<uint64_t>(k * 4));
  EXPECT_LE(large_visits, static_cast<uint64_t>(2 * k * 4));
  // 100x the entries costs two more levels of path (height 2 -> 4), not
  // 100x the work.
  EXPECT_LE(large_copies, 3 * small_copies);
  EXPECT_LE(large_visits, 3 * small_visits);
  EXPECT_GT(small_copies, 0u);
}

TEST(PersistentMapTest, UnsharedWritesCopyNothing) {
  Map m;
  for (int i = 0; i < 10000; ++i) m.Set(Key(i), i);
  uint64_t copies0 = PersistentMapStats::node_copies.load();
  for (int i = 0; i < 10000; i += 3) m.Set(Key(i), -i);
  for (int i = 1; i < 10000; i += 3) m.Erase(Key(i));
  EXPECT_EQ(PersistentMapStats::node_copies.load(), copies0);
  {
    Map held = m;  // shared while `held` lives
    m.Set(Key(0), 1);
    EXPECT_GT(PersistentMapStats::node_copies.load(), copies0);
  }
  uint64_t copies1 = PersistentMapStats::node_copies.load();
  m.Set(Key(3), 1);  // the copy made above is ours again
  EXPECT_EQ(PersistentMapStats::node_copies.load(), copies1);
}

TEST(PersistentMapTest, PairKeysRangeScan) {
  PersistentMap<std::pair<std::string, std::string>, char> m;
  m.Set({"alpha", "r2"}, 1);
  m.Set({"alpha", "r1"}, 1);
  m.Set({"beta", "r0"}, 1);
  m.Set({"", "r9"}, 1);
  std::vector<std::string> refs;
  for (auto it = m.LowerBound({"alpha", ""}); it != m.end() && it.key().first == "alpha"; ++it)
    refs.push_back(it.key().second);
  EXPECT_EQ(refs, (std::vector<std::string>{"r1", "r2"}));
}

}  // namespace
}  // namespace db
}  // namespace xgdb
