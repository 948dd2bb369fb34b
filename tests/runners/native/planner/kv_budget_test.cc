#include "runners/native/planner/kv_budget.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace evald::runners::native::planner {
namespace {

TEST(KvBudgetTest, MinimumsAreGuaranteedAndOversubscriptionRefused) {
  KvBudget budget(100);
  ASSERT_TRUE(budget.Register("candidate", 30).ok());
  ASSERT_TRUE(budget.Register("judge", 50).ok());
  EXPECT_EQ(budget.SharedFree(), 20);
  absl::Status status = budget.Register("third", 21);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("third"), std::string::npos);
  EXPECT_EQ(budget.Register("judge", 1).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(KvBudgetTest, IdleJudgeLendsItsShareToTheCandidate) {
  KvBudget budget(100);
  ASSERT_TRUE(budget.Register("candidate", 30).ok());
  ASSERT_TRUE(budget.Register("judge", 50).ok());
  // The candidate may take its own 30 plus the 20 nobody is guaranteed.
  auto grant = budget.Acquire("candidate", 80);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(*grant, 50);
  EXPECT_EQ(budget.SharedFree(), 0);
  // The judge still gets its whole minimum while the candidate is busy.
  grant = budget.Acquire("judge", 60);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(*grant, 50);
  // Judge idles: its blocks return, but its minimum stays reserved for it.
  ASSERT_TRUE(budget.Release("judge", 50).ok());
  grant = budget.Acquire("candidate", 10);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(*grant, 0);
  // Candidate finishes its long sequences; the shared remainder is free again.
  ASSERT_TRUE(budget.Release("candidate", 50).ok());
  EXPECT_EQ(budget.SharedFree(), 20);
  EXPECT_EQ(budget.Release("candidate", 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(budget.Acquire("nobody", 1).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(KvBudgetTest, FixedReservationsAreNeverLentAndGrantsComeInWholeUnits) {
  KvBudget budget(100);
  ASSERT_TRUE(budget.Register("candidate", 10, /*fixed_bytes=*/40).ok());
  EXPECT_EQ(budget.SharedFree(), 50);
  // A judge whose weights and minimum together exceed what is left.
  absl::Status status = budget.Register("judge", 20, 35);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("judge"), std::string::npos);
  ASSERT_TRUE(budget.Register("judge", 20, 30).ok());
  // 60 wanted in units of 8: own minimum 10 + shared 0 = 10, so one unit.
  auto grant = budget.Acquire("candidate", 64, 8);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(*grant, 8);
  EXPECT_EQ(budget.Acquire("candidate", 8, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KvBudgetTest, AShortGrantMarksTheModelStarvedForTheOthersToSee) {
  KvBudget budget(100);
  ASSERT_TRUE(budget.Register("candidate", 10).ok());
  ASSERT_TRUE(budget.Register("judge", 10).ok());
  ASSERT_TRUE(budget.Acquire("candidate", 90).ok());
  EXPECT_FALSE(budget.OthersStarved("candidate"));
  auto grant = budget.Acquire("judge", 30);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(*grant, 10);
  EXPECT_TRUE(budget.OthersStarved("candidate"));
  EXPECT_FALSE(budget.OthersStarved("judge"));
  // The candidate gives back what it does not use; the judge's next request
  // is met in full and it is no longer starved.
  ASSERT_TRUE(budget.Release("candidate", 40).ok());
  ASSERT_TRUE(budget.Acquire("judge", 20).ok());
  EXPECT_FALSE(budget.OthersStarved("candidate"));
  budget.Unregister("judge");
  EXPECT_EQ(budget.SharedFree(), 50);
}

TEST(KvBudgetTest, ConcurrentBorrowersNeverExceedTheTotal) {
  KvBudget budget(1000);
  ASSERT_TRUE(budget.Register("a", 100).ok());
  ASSERT_TRUE(budget.Register("b", 100).ok());
  std::vector<std::thread> threads;
  for (const char* name : {"a", "b"}) {
    threads.emplace_back([&budget, name] {
      for (int i = 0; i < 5000; ++i) {
        auto grant = budget.Acquire(name, 7);
        ASSERT_TRUE(grant.ok());
        ASSERT_TRUE(budget.Release(name, *grant).ok());
        ASSERT_TRUE(budget.Acquire(name, 1).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(budget.Held("a") + budget.Held("b") + budget.SharedFree(), 1000);
  EXPECT_LE(budget.Held("a") + budget.Held("b"), 1000);
}

}  // namespace
}  // namespace evald::runners::native::planner
