// JsonReader: every read, its fallback, and the one-line error each failure
// gives, then a sweep of mutated documents that must read or fail cleanly.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "tests/testing/status_matchers.h"

namespace evald::base {
namespace {

using ::evald::testing::IsOkAndHolds;
using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

Json Parse(absl::string_view text) {
  JsonParseOptions options;
  options.allow_nan_literals = true;
  absl::StatusOr<Json> j = ParseJson(text, options);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *std::move(j) : Json();
}

const char kDoc[] = R"({
  "n": 7, "big": 9007199254740993, "neg": -3, "x": 2.5, "whole": 4.0, "t": true,
  "s": "text", "nul": null, "o": {"inner": {"k": 1}}, "a": [1, "two", null],
  "inf": 1e999, "nan": NaN, "e": "\u00e9"})";

TEST(JsonReaderTest, ReadsEachTypeWhenPresent) {
  const Json doc = Parse(kDoc);
  const JsonReader r(doc, "c.json");
  EXPECT_THAT(r.Field("n").Int(), IsOkAndHolds(7));
  EXPECT_THAT(r.Field("big").Int(), IsOkAndHolds(9007199254740993LL));
  EXPECT_THAT(r.Field("neg").Int(-3, -3), IsOkAndHolds(-3));
  EXPECT_THAT(r.Field("x").Number(), IsOkAndHolds(2.5));
  // An integer is a number too.
  EXPECT_THAT(r.Field("n").Number(), IsOkAndHolds(7.0));
  EXPECT_THAT(r.Field("t").Bool(), IsOkAndHolds(true));
  EXPECT_THAT(r.Field("s").String(), IsOkAndHolds("text"));
  EXPECT_THAT(r.Field("e").String(), IsOkAndHolds("\xc3\xa9"));
  ASSERT_OK_AND_ASSIGN(JsonReader o, r.Field("o").Object());
  EXPECT_EQ(o.path(), "o");
  EXPECT_THAT(o.Field("inner").Field("k").Int(), IsOkAndHolds(1));
  ASSERT_OK_AND_ASSIGN(JsonReader a, r.Field("a").Array());
  EXPECT_EQ(a.size(), 3u);
  EXPECT_THAT(a.Item(1).String(), IsOkAndHolds("two"));
  EXPECT_EQ(&a.json(), doc.Find("a"));
  EXPECT_EQ(r.size(), doc.object().size());
  EXPECT_EQ(r.Field("s").size(), 0u);
  EXPECT_EQ(r.where(), "c.json");
}

TEST(JsonReaderTest, AbsentAndNullAreMissingAndTakeTheFallback) {
  const Json doc = Parse(kDoc);
  const JsonReader r(doc, "c.json");
  for (const char* key : {"nope", "nul"}) {
    SCOPED_TRACE(key);
    const JsonReader f = r.Field(key);
    EXPECT_FALSE(f.present());
    EXPECT_TRUE(f.json().is_null());
    EXPECT_EQ(f.size(), 0u);
    EXPECT_THAT(f.IntOr(5), IsOkAndHolds(5));
    // The fallback is the caller's and is not range-checked.
    EXPECT_THAT(f.IntOr(0, 1, 10), IsOkAndHolds(0));
    EXPECT_THAT(f.NumberOr(1.5), IsOkAndHolds(1.5));
    EXPECT_THAT(f.BoolOr(true), IsOkAndHolds(true));
    EXPECT_THAT(f.StringOr("d"), IsOkAndHolds("d"));
    const std::string missing =
        absl::StrCat("c.json: field '", key, "' is missing");
    EXPECT_THAT(f.Int(), StatusIs(kInvalid, missing));
    EXPECT_THAT(f.Int(0, 1), StatusIs(kInvalid, missing));
    EXPECT_THAT(f.Number(), StatusIs(kInvalid, missing));
    EXPECT_THAT(f.Bool(), StatusIs(kInvalid, missing));
    EXPECT_THAT(f.String(), StatusIs(kInvalid, missing));
    EXPECT_THAT(f.Object(), StatusIs(kInvalid, missing));
    EXPECT_THAT(f.Array(), StatusIs(kInvalid, missing));
    EXPECT_THAT(f.Expected("a list of strings"), StatusIs(kInvalid, missing));
  }
  // Members of a missing object and items past the end are missing too.
  EXPECT_THAT(r.Field("nope").Field("deeper").Int(),
              StatusIs(kInvalid, "c.json: field 'nope.deeper' is missing"));
  EXPECT_THAT(r.Field("a").Item(3).Int(),
              StatusIs(kInvalid, "c.json: field 'a[3]' is missing"));
  EXPECT_THAT(r.Field("a").Item(2).StringOr("z"), IsOkAndHolds("z"));
  // Asked of a value of another type, Field and Item find nothing.
  EXPECT_FALSE(r.Field("s").Field("k").present());
  EXPECT_FALSE(r.Field("a").Field("0").present());
  EXPECT_FALSE(r.Field("s").Item(0).present());
}

// Item(i) of an object reads its members in file order, named by key; unlike
// Field, it reaches every member when a key repeats.
TEST(JsonReaderTest, ItemsOfAnObjectAreItsMembersInOrder) {
  const Json doc = Parse(R"({"v": {"a": 1, "<b>": null, "a": "two"}})");
  const JsonReader v = JsonReader(doc, "t.json").Field("v");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_THAT(v.Item(0).Int(), IsOkAndHolds(1));
  EXPECT_FALSE(v.Item(1).present());
  EXPECT_THAT(v.Item(1).Int(),
              StatusIs(kInvalid, R"(t.json: field 'v["<b>"]' is missing)"));
  EXPECT_THAT(
      v.Item(2).Int(),
      StatusIs(kInvalid,
               R"(t.json: field 'v.a': expected an integer, got "two")"));
  EXPECT_THAT(v.Field("a").Int(), IsOkAndHolds(1));
  EXPECT_FALSE(v.Item(3).present());
  EXPECT_EQ(v.Item(3).path(), "v[3]");
}

TEST(JsonReaderTest, WrongTypesNameTheFieldAndWhatWasFound) {
  const Json doc = Parse(kDoc);
  const JsonReader r(doc, "c.json");
  EXPECT_THAT(
      r.Field("s").Int(),
      StatusIs(kInvalid,
               R"(c.json: field 's': expected an integer, got "text")"));
  EXPECT_THAT(r.Field("whole").Int(),
              StatusIs(kInvalid,
                       "c.json: field 'whole': expected an integer, got 4.0"));
  EXPECT_THAT(
      r.Field("n").Int(8, 10),
      StatusIs(kInvalid,
               "c.json: field 'n': expected an integer in [8, 10], got 7"));
  EXPECT_THAT(
      r.Field("x").Int(0, 10),
      StatusIs(kInvalid,
               "c.json: field 'x': expected an integer in [0, 10], got 2.5"));
  EXPECT_THAT(
      r.Field("t").Number(),
      StatusIs(kInvalid, "c.json: field 't': expected a number, got true"));
  EXPECT_THAT(
      r.Field("inf").Number(),
      StatusIs(kInvalid,
               "c.json: field 'inf': expected a finite number, got Infinity"));
  EXPECT_THAT(
      r.Field("nan").NumberOr(1.0),
      StatusIs(kInvalid,
               "c.json: field 'nan': expected a finite number, got NaN"));
  EXPECT_THAT(
      r.Field("s").Bool(),
      StatusIs(kInvalid,
               R"(c.json: field 's': expected true or false, got "text")"));
  EXPECT_THAT(
      r.Field("n").String(),
      StatusIs(kInvalid, "c.json: field 'n': expected a string, got 7"));
  EXPECT_THAT(
      r.Field("a").Object(),
      StatusIs(
          kInvalid,
          R"(c.json: field 'a': expected an object, got [1, "two", null])"));
  EXPECT_THAT(
      r.Field("o").Array(),
      StatusIs(
          kInvalid,
          R"(c.json: field 'o': expected an array, got {"inner": {"k": 1}})"));
  EXPECT_THAT(
      r.Field("a").Item(1).Int(),
      StatusIs(kInvalid,
               R"(c.json: field 'a[1]': expected an integer, got "two")"));
  EXPECT_THAT(
      r.Field("o").Field("inner").Field("k").Bool(),
      StatusIs(kInvalid,
               "c.json: field 'o.inner.k': expected true or false, got 1"));
  // A fallback does not excuse a present value of the wrong type.
  EXPECT_THAT(r.Field("s").IntOr(1),
              StatusIs(kInvalid, HasSubstr("expected an integer")));
  EXPECT_THAT(r.Field("n").IntOr(1, 8, 10),
              StatusIs(kInvalid, HasSubstr("in [8, 10], got 7")));
  EXPECT_THAT(r.Field("s").NumberOr(1),
              StatusIs(kInvalid, HasSubstr("expected a number")));
  EXPECT_THAT(r.Field("s").BoolOr(true),
              StatusIs(kInvalid, HasSubstr("expected true or false")));
  EXPECT_THAT(r.Field("n").StringOr(""),
              StatusIs(kInvalid, HasSubstr("expected a string")));
  // Int's full range, and bounds at the edges of int64.
  EXPECT_THAT(r.Field("neg").Int(INT64_MIN, INT64_MAX), IsOkAndHolds(-3));
  EXPECT_THAT(
      r.Field("neg").Int(0, INT64_MAX),
      StatusIs(kInvalid, HasSubstr("in [0, 9223372036854775807], got -3")));
}

TEST(JsonReaderTest, CallersChecksReadTheSame) {
  const Json doc = Parse(kDoc);
  const JsonReader r(doc, "c.json");
  EXPECT_THAT(r.Field("x").Error("must exceed 'n'"),
              StatusIs(kInvalid, "c.json: field 'x': must exceed 'n'"));
  EXPECT_THAT(
      r.Field("x").Expected("a number > 3"),
      StatusIs(kInvalid, "c.json: field 'x': expected a number > 3, got 2.5"));
  // An error about a missing field that has a default is still about it.
  EXPECT_THAT(
      r.Field("nope").Error("defaults to 0, which is odd"),
      StatusIs(kInvalid, "c.json: field 'nope': defaults to 0, which is odd"));
}

TEST(JsonReaderTest, TheRootIsNamedByWhereAlone) {
  const Json arr = Parse("[1]");
  EXPECT_THAT(JsonReader(arr, "c.json").Object(),
              StatusIs(kInvalid, "c.json: expected an object, got [1]"));
  EXPECT_THAT(JsonReader(arr).Object(),
              StatusIs(kInvalid, "expected an object, got [1]"));
  EXPECT_THAT(JsonReader(arr, "c.json").Error("is empty"),
              StatusIs(kInvalid, "c.json: is empty"));
  // A document that is just null is the wrong type, not a missing field.
  const Json null;
  EXPECT_FALSE(JsonReader(null, "c.json").present());
  EXPECT_THAT(JsonReader(null, "c.json").Object(),
              StatusIs(kInvalid, "c.json: expected an object, got null"));
  // Without `where`, errors start at the field (request bodies).
  const Json body = Parse(R"({"max_tokens": "ten"})");
  EXPECT_THAT(
      JsonReader(body).Field("max_tokens").Int(),
      StatusIs(kInvalid,
               R"(field 'max_tokens': expected an integer, got "ten")"));
  // A reader can start part-way into a document.
  EXPECT_THAT(
      JsonReader(arr.array()[0], "c.json", "list[0]").String(),
      StatusIs(kInvalid, "c.json: field 'list[0]': expected a string, got 1"));
  EXPECT_THAT(JsonReader(arr, "c.json", "list").Item(0).Field("k").Int(),
              StatusIs(kInvalid, "c.json: field 'list[0].k' is missing"));
}

TEST(JsonReaderTest, PathsQuoteKeysThatAreNotPlainAndAbridgeLongOnes) {
  const Json doc = Parse(
      R"({"special_tokens": {"<s>": 1, "a.b": 2, "\u0120the": 3, "": 4}})");
  const JsonReader s = JsonReader(doc, "t.json").Field("special_tokens");
  EXPECT_THAT(
      s.Field("<s>").String(),
      StatusIs(
          kInvalid,
          R"(t.json: field 'special_tokens["<s>"]': expected a string, got 1)"));
  EXPECT_EQ(s.Field("a.b").path(), R"(special_tokens["a.b"])");
  EXPECT_EQ(s.Field("\xc4\xa0the").path(), R"(special_tokens["\u0120the"])");
  EXPECT_EQ(s.Field("").path(), R"(special_tokens[""])");
  EXPECT_EQ(s.Field("snake_case-1").path(), "special_tokens.snake_case-1");
  EXPECT_EQ(JsonReader(doc).Field("<s>").path(), R"(["<s>"])");
  // Long keys are cut, on a character boundary.
  const std::string long_key = std::string(63, 'k') + "\xc3\xa9" + "tail";
  EXPECT_EQ(
      s.Field(long_key).path(),
      absl::StrCat(R"(special_tokens[")", std::string(63, 'k'), R"(..."])"));
  EXPECT_EQ(
      s.Field(std::string(100, 'k')).path(),
      absl::StrCat(R"(special_tokens[")", std::string(64, 'k'), R"(..."])"));
}

TEST(JsonReaderTest, ValuesShownInErrorsAreShortAsciiAndOneLine) {
  Json doc = Json::MakeObject();
  doc.Set("long", Json::String(std::string(500, 'x')));
  doc.Set("bytes", Json::String("\xff\xfe\n\xc3\xa9"));
  const JsonReader r(doc, "c.json");
  absl::Status long_error = r.Field("long").Int().status();
  EXPECT_THAT(long_error, StatusIs(kInvalid, HasSubstr(R"(got "xxxxxxxxxx)")));
  EXPECT_TRUE(absl::EndsWith(long_error.message(), "...")) << long_error;
  EXPECT_LT(long_error.message().size(), 120u);
  // A container is shown only as far as the line allows, however large.
  Json big = Json::MakeArray();
  for (int i = 0; i < 100000; ++i)
    big.Push(Json::MakeObject({{"k", Json::Int(i)}}));
  doc.Set("big", std::move(big));
  EXPECT_THAT(
      r.Field("big").Object(),
      StatusIs(
          kInvalid,
          HasSubstr(
              R"(expected an object, got [{"k": 0}, {"k": 1}, {"k": 2},)")));
  EXPECT_LT(r.Field("big").Object().status().message().size(), 120u);
  absl::Status bytes_error = r.Field("bytes").Int().status();
  EXPECT_THAT(
      bytes_error,
      StatusIs(
          kInvalid,
          R"(c.json: field 'bytes': expected an integer, got "\ufffd\ufffd\n\u00e9")"));
}

// Without `where`, an error starts with the field, so that a caller can tell
// which one it is about (the OpenAI server's `param`).
TEST(JsonReaderTest, WithoutWhereErrorsStartAtTheField) {
  const Json doc = Parse(kDoc);
  const JsonReader r(doc);
  EXPECT_THAT(
      r.Field("a").Item(1).Int(),
      StatusIs(kInvalid, R"(field 'a[1]': expected an integer, got "two")"));
  EXPECT_THAT(r.Field("nope").Field("k").String(),
              StatusIs(kInvalid, "field 'nope.k' is missing"));
  EXPECT_THAT(r.Field("x").Error("bad"), StatusIs(kInvalid, "field 'x': bad"));
}

// Every read of every field of a document, after each field is replaced by
// each kind of value, and after random byte damage to its text: a read
// either succeeds or fails with one line naming the file and the field, and
// nothing aborts.
TEST(JsonReaderTest, MutatedDocumentsReadOrFailCleanly) {
  const std::string base =
      R"({"vocab_size": 10, "rope_scaling": {"factor": 2.0, "type": "linear"},
          "eos_token_id": [1, 2], "tie": false, "name": "m"})";
  const std::vector<std::string> replacements = {"null",
                                                 "true",
                                                 "0",
                                                 "-1",
                                                 "1.5",
                                                 "1e999",
                                                 "\"x\"",
                                                 "\"\\u00e9\"",
                                                 "[]",
                                                 "[null]",
                                                 "{}",
                                                 "{\"factor\": []}",
                                                 "9223372036854775807",
                                                 "-9223372036854775808",
                                                 "18446744073709551616"};
  // Each error, with the path of the reader that gave it.
  auto read_all = [](const Json& doc) {
    std::vector<std::pair<absl::Status, std::string>> errors;
    const JsonReader r(doc, "c.json");
    auto note = [&errors](const absl::Status& s, const JsonReader& from) {
      if (!s.ok()) errors.push_back({s, from.path()});
    };
    note(r.Object().status(), r);
    for (const char* key :
         {"vocab_size", "rope_scaling", "eos_token_id", "tie", "name", "x"}) {
      const JsonReader f = r.Field(key);
      note(f.Int().status(), f);
      note(f.Int(1, 1 << 30).status(), f);
      note(f.IntOr(3, 0, 5).status(), f);
      note(f.Number().status(), f);
      note(f.NumberOr(1).status(), f);
      note(f.Bool().status(), f);
      note(f.BoolOr(false).status(), f);
      note(f.String().status(), f);
      note(f.StringOr("").status(), f);
      note(f.Object().status(), f);
      note(f.Array().status(), f);
      note(f.Field("factor").Number().status(), f.Field("factor"));
      for (size_t i = 0; i < f.size() + 1; ++i) {
        note(f.Item(i).Int(0, INT32_MAX).status(), f.Item(i));
      }
    }
    return errors;
  };
  const Json original = Parse(base);
  int failures = 0;
  for (size_t m = 0; m < original.object().size(); ++m) {
    for (const std::string& replacement : replacements) {
      Json doc = original;
      doc.mutable_object()[m].second = Parse(replacement);
      for (const auto& [s, path] : read_all(doc)) {
        ++failures;
        EXPECT_EQ(s.code(), kInvalid) << s;
        EXPECT_TRUE(absl::StartsWith(
            s.message(), path.empty() ? "c.json: expected "
                                      : "c.json: field '" + path + "'"))
            << s;
        EXPECT_EQ(s.message().find('\n'), absl::string_view::npos) << s;
      }
    }
  }
  EXPECT_GT(failures, 0);
  std::mt19937 rng(20240611);
  int parsed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = static_cast<char>(rng() % 256);
          break;
        case 1:
          text.erase(at, 1 + rng() % 8);
          break;
        default:
          text.insert(at, 1, "{}[],:\"0-e.tn"[rng() % 13]);
      }
    }
    absl::StatusOr<Json> doc = ParseJson(text);
    if (!doc.ok()) continue;
    ++parsed;
    for (const auto& [s, path] : read_all(*doc)) {
      EXPECT_EQ(s.code(), kInvalid) << s;
      EXPECT_EQ(s.message().find('\n'), absl::string_view::npos) << s;
    }
  }
  // Enough damaged documents still parse for the sweep to mean something.
  EXPECT_GT(parsed, 100);
}

}  // namespace
}  // namespace evald::base
