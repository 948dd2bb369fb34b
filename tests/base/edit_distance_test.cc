// File: tests/base/edit_distance_test.cc
#include "base/edit_distance.h"

#include <gtest/gtest.h>

namespace evald::base {
namespace {

TEST(EditDistanceTest, CountsInsertionsDeletionsSubstitutionsAndSwaps) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("doc", ""), 3u);
  EXPECT_EQ(EditDistance("", "doc"), 3u);
  EXPECT_EQ(EditDistance("doc", "doc"), 0u);
  EXPECT_EQ(EditDistance("dco", "doc"), 1u);  // one adjacent swap
  EXPECT_EQ(EditDistance("doc_to_txt", "doc_to_text"), 1u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  // Optimal string alignment: a swapped pair is not edited again.
  EXPECT_EQ(EditDistance("ca", "abc"), 3u);
}

}  // namespace
}  // namespace evald::base
