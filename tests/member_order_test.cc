// The order of a set's or map's members (member_order.h): %order read back
// strictly, and the order of a merged column the same whichever side is
// ours. Through real repositories: store_format_test, tree_merge_test.
#include "store/member_order.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "store/name_codec.h"
#include "xgdb/error.h"

namespace xgdb::store {
namespace {

using Names = std::vector<std::string>;

TEST(MemberOrder, NoOrderFileMeansTreeOrderAndAnOrderFileIsReadBack) {
  Names tree = {"a", "b", "c"};
  EXPECT_EQ(MemberOrder(tree, std::nullopt, "p"), tree);
  EXPECT_EQ(MemberOrder(tree, OrderText({"c", "a", "b"}), "p"), (Names{"c", "a", "b"}));
  EXPECT_EQ(OrderText({"c", "a"}), "c\na\n");
}

TEST(MemberOrder, AnOrderFileThatDoesNotListEveryMemberOnceIsCorrupt) {
  Names tree = {"a", "b"};
  for (const char* text : {"a\n", "a\nb\nc\n", "a\na\nb\n", "a\nb", "b\n\na\n"}) {
    try {
      MemberOrder(tree, std::string(text), "xapi/VM/r/tags");
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << text;
      EXPECT_NE(std::string(e.what()).find("xapi/VM/r/tags/%order"), std::string::npos);
    }
  }
}

TEST(MemberOrder, NotesAreNeverMemberNames) {
  EXPECT_TRUE(IsColumnNote(kOrderEntry));
  EXPECT_TRUE(IsColumnNote(kVerbatimEntry));
  EXPECT_FALSE(DecodeName(kOrderEntry).has_value());
  EXPECT_FALSE(DecodeName(kVerbatimEntry).has_value());
  EXPECT_NE(EncodeName("%order"), kOrderEntry);
  EXPECT_NE(EncodeName("%verbatim"), kVerbatimEntry);
}

TEST(MemberOrder, RepeatedMembersKeepTheirFirstOccurrence) {
  EXPECT_EQ(DistinctSet("('b' 'a' 'b')"), (sexpr::StringSet{"b", "a"}));
  EXPECT_EQ(DistinctMap("(('k' '1') ('j' '2') ('k' '3'))"),
            (sexpr::StringMap{{"k", "1"}, {"j", "2"}}));
}

TEST(MergeMemberOrder, AdditionsComeFirstThenTheReorderingSidesOrder) {
  // add_to_map on each side.
  EXPECT_EQ(MergeMemberOrder({"m", "b"}, {"z", "m", "b"}, {"y", "m", "b"}, {"b", "m", "y", "z"}),
            (Names{"y", "z", "m", "b"}));
  // ours reordered, theirs added n and removed c.
  EXPECT_EQ(MergeMemberOrder({"m", "b", "c"}, {"c", "b", "m"}, {"n", "m", "b"}, {"b", "m", "n"}),
            (Names{"n", "b", "m"}));
}

// Property: for random bases and sides, the merged order is a permutation
// of the merged members and does not depend on which side is ours.
TEST(MergeMemberOrder, IsAPermutationAndSymmetric) {
  std::mt19937 rng(20261205);
  const Names pool = {"a", "b", "c", "d", "e", "f", "g"};
  auto pick = [&]() {
    Names out;
    for (const std::string& n : pool) {
      if (rng() % 2) out.push_back(n);
    }
    std::shuffle(out.begin(), out.end(), rng);
    return out;
  };
  for (int i = 0; i < 2000; ++i) {
    Names base = pick(), ours = pick(), theirs = pick();
    Names merged;  // what a member merge could keep: members of either side
    for (const std::string& n : pool) {
      bool in_o = std::count(ours.begin(), ours.end(), n) > 0;
      bool in_t = std::count(theirs.begin(), theirs.end(), n) > 0;
      if ((in_o || in_t) && rng() % 4 != 0) merged.push_back(n);
    }
    Names xy = MergeMemberOrder(base, ours, theirs, merged);
    Names yx = MergeMemberOrder(base, theirs, ours, merged);
    EXPECT_EQ(xy, yx);
    Names sorted = xy;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, merged);
  }
}

}  // namespace
}  // namespace xgdb::store
