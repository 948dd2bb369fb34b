// File: tests/tasks/py_regex_test.cc
// PyRegex findall/sub/search against Python's `re` on the same inputs.
#include "tasks/py_regex.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "tests/tasks/task_test_util.h"
#include "tests/testing/status_matchers.h"

namespace evald::tasks {
namespace {

std::string PyLiteral(const std::string& s) {
  std::string out;
  base::AppendJsonString(s, /*ensure_ascii=*/true, &out);
  return out;  // a JSON string is a valid Python str literal for these inputs
}

TEST(PyRegexTest, FindAllAndSubMatchPython) {
  const std::vector<std::string> patterns = {
      "#### (\\-?[0-9\\.\\,]+)",
      "(-?[$0-9.,]{2,})|(-?[0-9]+)",
      "The answer is (\\-?[0-9\\.\\,]+).",
      "The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))",
      "(?s).*#### ",
      "\\.$",
      "\\d*",
      "\\w+",
      "\\bcat\\b",
      "(?<=answer is )(.*)(?=.)",
      "x*",
  };
  const std::vector<std::string> texts = {
      "So 3 + 4 = 7.\n#### 7",
      "It costs $1,234.50 in total. The answer is 1,234.",
      "The final answer is $18.\nThe final answer is 20",
      "a12b 345 ",
      "caf\xc3\xa9 na\xc3\xafve \xd9\xa3\xd9\xa4 cat concat cat.",
      "line one\nline two #### 5\n",
      "",
      "ends with a period.\n",
  };
  std::string script = "import re, json\nout = []\n";
  for (const std::string& p : patterns) {
    for (const std::string& t : texts) {
      absl::StrAppend(&script, "out.append([[list(m) if isinstance(m, tuple) else [m] for m in re.findall(",
                      PyLiteral(p), ", ", PyLiteral(t), ")], re.sub(", PyLiteral(p), ", '', ", PyLiteral(t),
                      "), re.search(", PyLiteral(p), ", ", PyLiteral(t), ") is not None])\n");
    }
  }
  script += "print(json.dumps(out))\n";
  ASSERT_OK_AND_ASSIGN(base::Json expected, base::ParseJson(testing::RunPython(script)));
  size_t i = 0;
  for (const std::string& p : patterns) {
    ASSERT_OK_AND_ASSIGN(PyRegex regex, PyRegex::Compile(p));
    for (const std::string& t : texts) {
      const base::Json& row = expected.array()[i++];
      base::Json got_matches = base::Json::MakeArray();
      for (const auto& match : regex.FindAll(t)) {
        base::Json groups = base::Json::MakeArray();
        for (const std::string& g : match) groups.Push(base::Json::String(g));
        got_matches.Push(std::move(groups));
      }
      EXPECT_EQ(got_matches.Dump(), row.array()[0].Dump()) << "findall " << p << " on " << t;
      EXPECT_EQ(regex.Sub(t, ""), row.array()[1].string_value()) << "sub " << p << " on " << t;
      EXPECT_EQ(regex.Search(t), row.array()[2].bool_value()) << "search " << p << " on " << t;
    }
  }
}

TEST(PyRegexTest, FlagsAndErrors) {
  ASSERT_OK_AND_ASSIGN(PyRegex ci, PyRegex::Compile("hello", {.ignore_case = true}));
  EXPECT_TRUE(ci.Search("Say HELLO"));
  ASSERT_OK_AND_ASSIGN(PyRegex ml, PyRegex::Compile("^b$", {.multiline = true}));
  EXPECT_TRUE(ml.Search("a\nb\nc"));
  auto bad = PyRegex::Compile("(unclosed");
  EXPECT_THAT(bad, evald::testing::StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("(unclosed")));
}

}  // namespace
}  // namespace evald::tasks
