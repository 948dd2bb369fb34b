// File: tests/base/natural_order_test.cc
// -----------------------------------------------------------------------------
#include "base/natural_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace evald::base {
namespace {

TEST(NaturalOrderTest, DigitRunsCompareAsNumbers) {
  std::vector<std::string> names = {
      "step-1200", "step-900",  "step-10000", "step-50",  "final",
      "step-900b", "step-0900", "ckpt/10/m",  "ckpt/9/m", "step-",
  };
  std::sort(names.begin(), names.end(), NaturalLess);
  EXPECT_EQ(names,
            (std::vector<std::string>{"ckpt/9/m", "ckpt/10/m", "final", "step-",
                                      "step-50", "step-900", "step-0900",
                                      "step-900b", "step-1200", "step-10000"}));
}

TEST(NaturalOrderTest, IsAStrictWeakOrder) {
  const std::vector<std::string> s = {"a1", "a01", "a1b", "a",  "",     "1",
                                      "01", "a10", "b",   "a2", "\xff", "a001"};
  for (const std::string& x : s) {
    EXPECT_FALSE(NaturalLess(x, x)) << x;
    for (const std::string& y : s) {
      if (x != y)
        EXPECT_NE(NaturalLess(x, y), NaturalLess(y, x)) << x << " " << y;
      for (const std::string& z : s) {
        if (NaturalLess(x, y) && NaturalLess(y, z))
          EXPECT_TRUE(NaturalLess(x, z)) << x << " " << y << " " << z;
      }
    }
  }
}

}  // namespace
}  // namespace evald::base
