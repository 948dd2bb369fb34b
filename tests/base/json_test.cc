#include "base/json.h"

#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace evald::base {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

TEST(JsonTest, ParsesNestedDocumentInOrder) {
  ASSERT_OK_AND_ASSIGN(
      Json j,
      ParseJson(R"( {"b": [1, 2.5, "x"], "a": {"n": null, "t": true}} )"));
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j.object().size(), 2u);
  EXPECT_EQ(j.object()[0].first, "b");
  const Json* b = j.Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->array()[0].is_int());
  EXPECT_EQ(b->array()[0].int_value(), 1);
  EXPECT_FALSE(b->array()[1].is_int());
  EXPECT_DOUBLE_EQ(b->array()[1].number_value(), 2.5);
  EXPECT_EQ(b->array()[2].string_value(), "x");
  EXPECT_TRUE(j.Find("a")->Find("n")->is_null());
  EXPECT_EQ(j.Find("missing"), nullptr);
}

TEST(JsonTest, KeepsLargeIntegersExact) {
  ASSERT_OK_AND_ASSIGN(Json j, ParseJson("9007199254740993"));
  EXPECT_EQ(j.int_value(), 9007199254740993LL);
}

TEST(JsonTest, DecodesEscapesAndSurrogatePairs) {
  ASSERT_OK_AND_ASSIGN(Json j, ParseJson(R"("a\n\u00e9\ud83d\ude00\/")"));
  EXPECT_EQ(j.string_value(), "a\n\xc3\xa9\xf0\x9f\x98\x80/");
}

TEST(JsonTest, RejectsLoneSurrogateUnlessAllowed) {
  EXPECT_THAT(ParseJson(R"("\ud800")"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  JsonParseOptions opts;
  opts.allow_lone_surrogates = true;
  EXPECT_OK(ParseJson(R"("\ud800")", opts));
}

TEST(JsonTest, ErrorsNameLineAndColumn) {
  EXPECT_THAT(ParseJson("{\n  \"a\": 1,\n  \"b\" 2\n}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 3, column 7")));
  EXPECT_THAT(ParseJson("[1, 2"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseJson("01"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseJson("1 2"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseJson("\"a\tb\""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseJson("NaN"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(JsonTest, BoundsNestingDepth) {
  std::string deep(100000, '[');
  EXPECT_THAT(ParseJson(deep), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("nesting too deep")));
}

TEST(JsonTest, DumpRoundTripsAndMatchesPythonSeparators) {
  ASSERT_OK_AND_ASSIGN(Json j, ParseJson(R"({"a":[1,2.5,"\u00e9"],"b":{}})"));
  EXPECT_EQ(j.Dump(), R"({"a":[1,2.5,"é"],"b":{}})");
  Json::DumpOptions py;
  py.spaced_separators = true;
  py.ensure_ascii = true;
  EXPECT_EQ(j.Dump(py), R"({"a": [1, 2.5, "\u00e9"], "b": {}})");
  ASSERT_OK_AND_ASSIGN(Json back, ParseJson(j.Dump()));
  EXPECT_EQ(back, j);
}

TEST(JsonTest, PythonFloatRepr) {
  EXPECT_EQ(PythonFloatRepr(1.0), "1.0");
  EXPECT_EQ(PythonFloatRepr(0.1), "0.1");
  EXPECT_EQ(PythonFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PythonFloatRepr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(PythonFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PythonFloatRepr(0.00001), "1e-05");
  EXPECT_EQ(PythonFloatRepr(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(PythonFloatRepr(123.456), "123.456");
}

}  // namespace
}  // namespace evald::base
