#include "tests/testing/fixtures.h"

#include "absl/strings/str_cat.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

std::string Gsm8kLine(int a, int b) {
  return absl::StrCat(
      R"({"question": "Sam has )", a, " apples and buys ", b,
      R"( more. How many apples does Sam have now?", "answer": "Sam has )", a,
      " + ", b, " = <<", a, "+", b, "=", a + b, ">>", a + b,
      R"( apples.\n#### )", a + b, "\"}\n");
}

}  // namespace

void WriteGsm8kFixture(const std::string& dir, int docs) {
  std::string test, train;
  for (int i = 0; i < docs; ++i) test += Gsm8kLine(i + 3, 2 * i + 1);
  for (int i = 0; i < 8; ++i) train += Gsm8kLine(i + 10, i + 2);
  WriteTestFile(dir + "/test.jsonl", test);
  WriteTestFile(dir + "/train.jsonl", train);
}

}  // namespace evald::testing
