// The S-expression reader and printer, with every example of
// remote-db-protocol.md 4.2 and xapi-data-model.md 3.
#include "schema/sexpr.h"

#include <gtest/gtest.h>

#include "xgdb/error.h"

namespace xgdb::sexpr {
namespace {

void ExpectParseError(std::string_view text, bool is_map) {
  try {
    if (is_map)
      ParseMap(text);
    else
      ParseSet(text);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kParse) << text;
  }
}

TEST(SexprTest, PrintsTheDataModelTable) {
  EXPECT_EQ(PrintSet({}), "()");
  EXPECT_EQ(PrintMap({}), "()");
  EXPECT_EQ(PrintSet({"a", "b"}), "('a' 'b')");
  EXPECT_EQ(PrintSet({""}), "('')");
  EXPECT_EQ(PrintMap({{"mode", "RO"}, {"empty", ""}}), "(('mode' 'RO') ('empty' ''))");
  EXPECT_EQ(PrintSet({"it's"}), "('it\\'s')");
  EXPECT_EQ(PrintSet({"C:\\temp\\"}), "('C:\\\\temp\\\\')");
  EXPECT_EQ(PrintSet({"say \"hi\""}), "('say \"hi\"')");
  EXPECT_EQ(PrintSet({"(e.g. -o ro)"}), "('(e.g. -o ro)')");
  EXPECT_EQ(PrintSet({"a b"}), "('a b')");
  EXPECT_EQ(PrintSet({"Grüße"}), "('Grüße')");
  EXPECT_EQ(PrintSet({"x\ny"}), "('x\ny')");
  EXPECT_EQ(PrintSet({"it's a \\ test"}), "('it\\'s a \\\\ test')");
  EXPECT_EQ(PrintMap({{"k", "it's a (test)"}}), "(('k' 'it\\'s a (test)'))");
}

TEST(SexprTest, ReadsWhatItPrints) {
  std::vector<StringSet> sets = {{}, {"a", "b"}, {""}, {"it's", "C:\\temp\\", "say \"hi\""},
                                 {"x\ny", "Grüße", "(e.g. -o ro)", ";not a comment"}};
  for (const auto& s : sets) EXPECT_EQ(ParseSet(PrintSet(s)), s);
  StringMap m = {{"mode", "RO"}, {"empty", ""}, {"k", "it's a (test)"}};
  EXPECT_EQ(ParseMap(PrintMap(m)), m);
}

TEST(SexprTest, AcceptsWhatXapisReaderAccepts) {
  EXPECT_EQ(ParseSet("( \"x\"   'y' )"), (StringSet{"x", "y"}));
  EXPECT_EQ(Canonical("( \"x\"   'y' )", false), "('x' 'y')");
  // The 2009-2025 writers escaped double quotes.
  EXPECT_EQ(ParseSet("('say \\\"hi\\\"')"), (StringSet{"say \"hi\""}));
  EXPECT_EQ(ParseSet("(\"it's\")"), (StringSet{"it's"}));
  // A backslash keeps the next character literally: \n is the letter n.
  EXPECT_EQ(ParseSet("('a\\nb' '\\x')"), (StringSet{"anb", "x"}));
  // Whitespace of every kind and ; comments.
  EXPECT_EQ(ParseSet("(\t'a'\n; a comment ('b')\n 'c' )"), (StringSet{"a", "c"}));
  EXPECT_EQ(ParseSet("; leading comment\n('a')"), (StringSet{"a"}));
  // Only the first expression is read.
  EXPECT_EQ(ParseSet("('a')('b')"), (StringSet{"a"}));
  EXPECT_EQ(ParseSet("('a') trailing junk ("), (StringSet{"a"}));
  EXPECT_EQ(ParseMap("(('k' 'v') (\"k2\" \"v2\"))"), (StringMap{{"k", "v"}, {"k2", "v2"}}));
  EXPECT_EQ(ParseMap("()"), StringMap{});
  EXPECT_EQ(ParseSet(" ( ) "), StringSet{});
  EXPECT_EQ(Canonical("(('k'   'v'))", true), "(('k' 'v'))");
}

TEST(SexprTest, RefusesWhatXapisReaderRefuses) {
  ExpectParseError("", false);
  ExpectParseError("   ", false);
  ExpectParseError("; only a comment", false);
  ExpectParseError("red", false);        // a symbol
  ExpectParseError("(a b)", false);      // symbols are not elements
  ExpectParseError("'a'", false);        // not a list
  ExpectParseError("('a'", false);       // unterminated list
  ExpectParseError("('a)", false);       // unterminated quote
  ExpectParseError("(\"a)", false);
  ExpectParseError(")", false);
  ExpectParseError("(('a' 'b'))", false);  // a map is not a set
  ExpectParseError("('a'b)", false);       // 'a'b lexes as one symbol
  ExpectParseError("('a' 'b')", true);     // a set is not a map
  ExpectParseError("(('a'))", true);
  ExpectParseError("(('a' 'b' 'c'))", true);
  ExpectParseError("((k v))", true);
  ExpectParseError("((('a' 'b')))", true);
  ExpectParseError(std::string(100000, '('), false);  // no unbounded recursion
}

}  // namespace
}  // namespace xgdb::sexpr
