// The name codec: every name from the wire maps to one safe tree entry name
// and back, exactly.
#include "store/name_codec.h"

#include <gtest/gtest.h>

#include "store/layout.h"
#include "support/paths.h"

namespace xgdb::store {
namespace {

void ExpectRoundTrip(const std::string& raw) {
  std::string enc = EncodeName(raw);
  ASSERT_FALSE(enc.empty());
  EXPECT_EQ(enc.find('/'), std::string::npos) << enc;
  EXPECT_EQ(enc.find('\0'), std::string::npos) << enc;
  EXPECT_NE(enc[0], '.') << enc;
  EXPECT_LE(enc.size(), kMaxInlineName);
  for (unsigned char c : enc) EXPECT_TRUE(c >= 0x20 && c != 0x7F) << enc;
  if (IsHashedName(enc)) {
    EXPECT_EQ(enc, HashedName(raw));
    EXPECT_FALSE(DecodeName(enc).has_value());
  } else {
    auto back = DecodeName(enc);
    ASSERT_TRUE(back.has_value()) << enc;
    EXPECT_EQ(*back, raw);
  }
}

TEST(NameCodec, OrdinaryNamesStayReadable) {
  EXPECT_EQ(EncodeName("OpaqueRef:3a4b-77"), "OpaqueRef:3a4b-77");
  EXPECT_EQ(EncodeName("name__label"), "name__label");
  EXPECT_EQ(EncodeName("vm data key_1"), "vm data key_1");
  EXPECT_EQ(EncodeName("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(EncodeName("a.b.c"), "a.b.c");  // only a leading dot is escaped
}

TEST(NameCodec, UnsafeNamesAreEscaped) {
  EXPECT_EQ(EncodeName("vm-data/x"), "vm-data%2Fx");
  EXPECT_EQ(EncodeName("../../etc"), "%2E.%2F..%2Fetc");
  EXPECT_EQ(EncodeName("."), "%2E");
  EXPECT_EQ(EncodeName(".."), "%2E.");
  EXPECT_EQ(EncodeName(".git"), "%2Egit");
  EXPECT_EQ(EncodeName(""), "%");
  EXPECT_EQ(EncodeName("%"), "%25");
  EXPECT_EQ(EncodeName("%2F"), "%252F");
  EXPECT_EQ(EncodeName(std::string("a\0b", 3)), "a%00b");
  EXPECT_EQ(EncodeName("tab\there\n"), "tab%09here%0A");
  EXPECT_EQ(EncodeName("\x7F"), "%7F");
  EXPECT_EQ(EncodeName("\xFF\xFE"), "%FF%FE");            // not UTF-8
  EXPECT_EQ(EncodeName("\xC3"), "%C3");                     // truncated sequence
  EXPECT_EQ(EncodeName("\xC0\xAF"), "%C0%AF");              // overlong '/'
  EXPECT_EQ(EncodeName("\xED\xA0\x80"), "%ED%A0%80");       // surrogate
  EXPECT_EQ(EncodeName("%H" + std::string(40, 'a')), "%25H" + std::string(40, 'a'));
}

TEST(NameCodec, EdgeCasesRoundTrip) {
  for (const std::string& raw :
       {std::string(""), std::string("/"), std::string("\0", 1), std::string("."),
        std::string(".."), std::string(".git"), std::string("%"), std::string("%2F"),
        std::string("%%25"), std::string("a/b/../c"), std::string("\xFF"),
        std::string("x\xE2\x82"), std::string("\xF4\x90\x80\x80"), std::string(300, 'k'),
        std::string(199, 'a'), std::string(200, 'a'), std::string(201, 'a'),
        std::string(67, '/'), std::string(66, '/') + "ab", std::string("\xE2\x82\xAC") + ".",
        std::string("%H") + std::string(40, '0')}) {
    SCOPED_TRACE(raw);
    ExpectRoundTrip(raw);
  }
  for (int c = 0; c < 256; ++c) ExpectRoundTrip(std::string(1, static_cast<char>(c)));
}

TEST(NameCodec, LongNamesAreHashedWithTheGitBlobId) {
  std::string raw(300, 'k');
  std::string enc = EncodeName(raw);
  EXPECT_TRUE(IsHashedName(enc));
  // The same id `git hash-object` gives for the raw name.
  test::TempDir dir;
  test::WriteFile(dir / "name", raw);
  auto r = test::Run("git hash-object " + test::ShellQuote(dir / "name"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(enc, "%H" + r.output.substr(0, 40));
  // A name whose escapes push it over the limit is hashed too.
  EXPECT_TRUE(IsHashedName(EncodeName(std::string(67, '/'))));
  EXPECT_EQ(EncodeName(std::string(66, '/')), [] {
    std::string s;
    for (int i = 0; i < 66; ++i) s += "%2F";
    return s;
  }());
  EXPECT_EQ(EncodeName(std::string(200, 'a')), std::string(200, 'a'));
}

TEST(NameCodec, OnlyCanonicalSpellingsDecode) {
  EXPECT_FALSE(DecodeName("").has_value());
  EXPECT_FALSE(DecodeName("%2f").has_value());   // lowercase hex
  EXPECT_FALSE(DecodeName("%41").has_value());   // 'A' needs no escape
  EXPECT_FALSE(DecodeName("%2").has_value());    // truncated escape
  EXPECT_FALSE(DecodeName("a%").has_value());
  EXPECT_FALSE(DecodeName(".git").has_value());  // a raw leading dot
  EXPECT_FALSE(DecodeName("%ZZ").has_value());
  EXPECT_FALSE(DecodeName("\xFF").has_value());  // raw invalid UTF-8
  EXPECT_FALSE(DecodeName("a\tb").has_value());  // raw control byte
  EXPECT_FALSE(DecodeName(std::string(201, 'a')).has_value());
  EXPECT_EQ(DecodeName("%").value(), "");
  EXPECT_EQ(DecodeName("%2E.").value(), "..");
  EXPECT_EQ(DecodeName("a.%2Fb").value(), "a./b");
}

TEST(Layout, FanoutIsTheRefPrefixOrAHash) {
  EXPECT_EQ(BucketPath("OpaqueRef:3a4b5c6d-0000-0000-0000-000000000000"), "3/a/4/b");
  // Not enough lowercase hex digits after "OpaqueRef:": the hash's.
  std::string hashed = HashedName("OpaqueRef:NULL").substr(2, 4);
  EXPECT_EQ(BucketPath("OpaqueRef:NULL"), hashed.substr(0, 1) + "/" + hashed.substr(1, 1) + "/" +
                                              hashed.substr(2, 1) + "/" + hashed.substr(3, 1));
  EXPECT_NE(BucketPath("OpaqueRef:AB12"), "A/B/1/2");
  EXPECT_EQ(BucketPath("OpaqueRef:3a4"), BucketPath("OpaqueRef:3a4", kFanout));
  EXPECT_EQ(BucketPath("OpaqueRef:3a4").size(), 7u);
  EXPECT_EQ(BucketPath("weird", kFormat1Fanout), HashedName("weird").substr(2, 2));
  EXPECT_EQ(BucketPath("OpaqueRef:3a4b", kFormat1Fanout), "3a");
  for (const char* ref : {"", "x", "OpaqueRef:", "OpaqueRef:zz", "OpaqueRef:0123"}) {
    std::string path = BucketPath(ref);
    for (size_t i = 0; i < path.size(); i += 2) {
      EXPECT_TRUE(IsBucketName(path.substr(i, 1))) << ref;
    }
  }
  EXPECT_FALSE(IsBucketName("3a"));
  EXPECT_TRUE(IsBucketName("3a", kFormat1Fanout));
  EXPECT_EQ(RowDir("VM", "OpaqueRef:3a4b"), "xapi/VM/3/a/4/b/OpaqueRef:3a4b");
  EXPECT_EQ(RowDir("VM", "../x").find("/../"), std::string::npos);
}

}  // namespace
}  // namespace xgdb::store
