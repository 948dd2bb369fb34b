// File: tests/testing/status_matchers.h
// -----------------------------------------------------------------------------
// gMock matchers for absl::Status / absl::StatusOr: IsOk(), StatusIs(code),
// StatusIs(code, message_matcher), IsOkAndHolds(matcher), plus
// ASSERT_OK / EXPECT_OK and ASSERT_OK_AND_ASSIGN.
#ifndef EVALD_TESTS_TESTING_STATUS_MATCHERS_H_
#define EVALD_TESTS_TESTING_STATUS_MATCHERS_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evald::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::evald::testing::GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s;
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + ::testing::PrintToString(code)) {
  const absl::Status& s = ::evald::testing::GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& s = ::evald::testing::GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(
             message_matcher, std::string(s.message()), result_listener);
}

MATCHER_P(IsOkAndHolds, matcher, "") {
  if (!arg.ok()) {
    *result_listener << "status: " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(matcher, *arg, result_listener);
}

}  // namespace evald::testing

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::evald::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::evald::testing::IsOk())

#define EVALD_TEST_CONCAT_INNER_(a, b) a##b
#define EVALD_TEST_CONCAT_(a, b) EVALD_TEST_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                    \
  ASSERT_OK_AND_ASSIGN_IMPL_(EVALD_TEST_CONCAT_(evald_test_so_, __LINE__), \
                             lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(so, lhs, expr) \
  auto so = (expr);                               \
  ASSERT_TRUE(so.ok()) << so.status();            \
  lhs = std::move(so).value()

#endif  // EVALD_TESTS_TESTING_STATUS_MATCHERS_H_
