// File: tests/tasks/python_random_test.cc
// PythonRandom against CPython itself (/usr/bin/python3), for many seeds and
// both Random.sample algorithms.
#include "tasks/python_random.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/tasks/task_test_util.h"
#include "tests/testing/status_matchers.h"

namespace evald::tasks {
namespace {

using testing::RunPython;

struct Case {
  uint64_t seed;
  uint64_t n;
  uint64_t k;
  int repeats;  // successive samples from one generator
};

TEST(PythonRandomTest, SampleMatchesCPython) {
  // n <= setsize uses the pool algorithm (21 for k <= 5; 21 + 4^ceil(log4(3k))
  // above), larger n the set algorithm with rejection of repeats.
  std::vector<Case> cases = {
      {1234, 7473, 5, 40},
      {1234, 12, 5, 10},
      {0, 21, 5, 5},
      {0, 22, 5, 5},
      {7, 5, 5, 3},
      {42, 1, 1, 3},
      {42, 10, 0, 2},
      {99, 85, 6, 4},
      {99, 86, 6, 4},
      {3, 100, 30, 3},
      {123456789, 1000, 8, 5},
      {4294967296ULL, 50, 7, 4},
      {18446744073709551615ULL, 3000, 25, 3},
      {5, 70000, 64, 2},
      {2023, 37, 37, 2},
      {1, 2, 1, 20},
  };
  std::string script = "import random\n";
  for (const Case& c : cases) {
    absl::StrAppend(&script, "r = random.Random(", c.seed, ")\n",
                    "for _ in range(", c.repeats,
                    "): print(' '.join(map(str, r.sample(range(", c.n, "), ",
                    c.k, "))))\n");
  }
  std::istringstream expected(RunPython(script));
  for (const Case& c : cases) {
    PythonRandom rng(c.seed);
    for (int r = 0; r < c.repeats; ++r) {
      std::string line;
      std::getline(expected, line);
      ASSERT_OK_AND_ASSIGN(std::vector<uint64_t> got, rng.Sample(c.n, c.k));
      EXPECT_EQ(absl::StrJoin(got, " "), line)
          << "seed " << c.seed << " n " << c.n << " k " << c.k << " draw " << r;
    }
  }
}

TEST(PythonRandomTest, GetRandBitsAndRandBelowMatchCPython) {
  std::string script =
      "import random\n"
      "r = random.Random(1234)\n"
      "print(' '.join(str(r.getrandbits(k)) for k in range(0, 65)))\n"
      "print(' '.join(str(r._randbelow(n)) for n in [1, 2, 3, 7473, 2**32 - 1, "
      "2**32, 2**32 + 1, 10**15, 2**63]))\n";
  std::istringstream expected(RunPython(script));
  PythonRandom rng(1234);
  std::vector<uint64_t> bits;
  for (int k = 0; k <= 64; ++k) bits.push_back(rng.GetRandBits(k));
  std::vector<uint64_t> below;
  for (uint64_t n :
       {1ULL, 2ULL, 3ULL, 7473ULL, 4294967295ULL, 4294967296ULL, 4294967297ULL,
        1000000000000000ULL, 9223372036854775808ULL}) {
    below.push_back(rng.RandBelow(n));
  }
  std::string line;
  std::getline(expected, line);
  EXPECT_EQ(absl::StrJoin(bits, " "), line);
  std::getline(expected, line);
  EXPECT_EQ(absl::StrJoin(below, " "), line);
}

TEST(PythonRandomTest, RandomAndGaussMatchCPython) {
  // gauss() keeps the second value of each pair for the next call, so an odd
  // number of calls between random() calls checks the caching too.
  std::string script =
      "import random\n"
      "r = random.Random(0)\n"
      "print(repr(r.random()))\n"
      "print(' '.join(repr(r.gauss(0.5, 0.05)) for _ in range(5)))\n"
      "print(repr(r.random()))\n"
      "print(' '.join(repr(r.gauss(0.0, 1.0)) for _ in range(3)))\n";
  std::istringstream expected(RunPython(script));
  PythonRandom rng(0);
  auto parse = [](const std::string& line) {
    std::vector<double> out;
    for (absl::string_view part : absl::StrSplit(line, ' ')) {
      double v = 0;
      EXPECT_TRUE(absl::SimpleAtod(part, &v)) << part;
      out.push_back(v);
    }
    return out;
  };
  std::string line;
  std::getline(expected, line);
  EXPECT_EQ(rng.Random(), parse(line)[0]);
  std::getline(expected, line);
  for (double want : parse(line)) EXPECT_EQ(rng.Gauss(0.5, 0.05), want);
  std::getline(expected, line);
  EXPECT_EQ(rng.Random(), parse(line)[0]);
  std::getline(expected, line);
  for (double want : parse(line)) EXPECT_EQ(rng.Gauss(0.0, 1.0), want);
}

TEST(PythonRandomTest, SampleLargerThanPopulationIsAnError) {
  PythonRandom rng(1);
  EXPECT_THAT(rng.Sample(3, 4),
              evald::testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace evald::tasks
