// JudgingQueue: the judge starts on the first finished sample while the
// producer (the candidate) is still going, later samples are batched into
// the next judge call, and failures and cancellation stop it cleanly.
#include "tasks/judging.h"

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/tasks/task_test_util.h"

namespace evald::tasks {
namespace {

using testing::FakeRunner;

// A judge whose first call blocks until the test releases it; records the
// size of every call.
class GatedJudge : public FakeRunner {
 public:
  absl::Status Generate(absl::Span<const runners::GenerateRequest> requests,
                        const runners::CallOptions& options,
                        const runners::ResultCallback<runners::GenerateResult>&
                            on_result) override {
    {
      absl::MutexLock lock(&mu_);
      call_sizes_.push_back(requests.size());
      if (call_sizes_.size() == 1) {
        auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return released_;
        };
        mu_.Await(absl::Condition(&released));
      }
    }
    if (fail) return absl::UnavailableError("judge endpoint is down");
    return FakeRunner::Generate(requests, options, on_result);
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }
  bool WaitForCalls(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return call_sizes_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
  }
  std::vector<size_t> call_sizes() {
    absl::MutexLock lock(&mu_);
    return call_sizes_;
  }
  bool fail = false;

 private:
  absl::Mutex mu_;
  bool released_ = false;
  std::vector<size_t> call_sizes_;
};

judge::JudgeItem Item(const std::string& question) {
  return {question, "an answer", "", ""};
}

TEST(JudgingQueueTest, GradesWhileTheProducerRunsAndBatchesWhatAccumulated) {
  GatedJudge runner;
  runner.generate = [](const runners::GenerateRequest& r) {
    return std::string(absl::StrContains(r.prompt, "q0") ? "Rating: [[9]]"
                                                         : "Rating: [[3]]");
  };
  judge::Judge judge(&runner, judge::DefaultTemplate(judge::Mode::kSingle));
  JudgeProgress progress;
  RunContext context;
  context.judge_progress = &progress;
  std::set<size_t> graded;
  std::vector<double> ratings;
  JudgingQueue queue(&judge, &context,
                     [&](size_t tag, std::vector<judge::JudgeRecord> records) {
                       graded.insert(tag);
                       EXPECT_EQ(records.size(), 1u);
                       ratings.push_back(records[0].rating);
                       return absl::OkStatus();
                     });
  queue.Add(0, {Item("q0")});
  // The judge is already grading the first sample; the producer is not done.
  ASSERT_TRUE(runner.WaitForCalls(1));
  queue.Add(1, {Item("q1")});
  queue.Add(2, {Item("q2")});
  EXPECT_EQ(progress.queued.load(), 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  runner.Release();
  queue.ProducerDone();
  ASSERT_TRUE(queue.Finish().ok());

  EXPECT_EQ(graded, (std::set<size_t>{0, 1, 2}));
  EXPECT_EQ(ratings.front(), 9.0);
  // One call for the first sample, one for the two that came meanwhile.
  EXPECT_EQ(runner.call_sizes(), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(progress.graded.load(), 3);
  EXPECT_EQ(progress.queued.load(), 0);
  // The first call ran (at least 20 ms) before the producer finished.
  EXPECT_GE(progress.overlap_us.load(), 20000);
  EXPECT_GE(progress.busy_us.load(), progress.overlap_us.load());
}

TEST(JudgingQueueTest, AJudgeCallThatFailsStopsTheQueueWithItsError) {
  GatedJudge runner;
  runner.fail = true;
  runner.Release();
  judge::Judge judge(&runner, judge::DefaultTemplate(judge::Mode::kSingle));
  RunContext context;
  int handed_back = 0;
  JudgingQueue queue(&judge, &context,
                     [&](size_t, std::vector<judge::JudgeRecord>) {
                       ++handed_back;
                       return absl::OkStatus();
                     });
  queue.Add(0, {Item("q0")});
  ASSERT_TRUE(runner.WaitForCalls(1));
  absl::Status status = queue.Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(queue.failed());
  EXPECT_EQ(handed_back, 0);
}

TEST(JudgingQueueTest, NothingIsHandedBackOnceTheRunIsCancelled) {
  GatedJudge runner;
  runner.generate = [](const runners::GenerateRequest&) {
    return std::string("[[5]]");
  };
  judge::Judge judge(&runner, judge::DefaultTemplate(judge::Mode::kSingle));
  std::atomic<bool> cancelled{false};
  JudgeProgress progress;
  RunContext context;
  context.cancelled = &cancelled;
  context.judge_progress = &progress;
  int handed_back = 0;
  JudgingQueue queue(&judge, &context,
                     [&](size_t, std::vector<judge::JudgeRecord>) {
                       ++handed_back;
                       return absl::OkStatus();
                     });
  queue.Add(0, {Item("q0")});
  ASSERT_TRUE(runner.WaitForCalls(1));
  cancelled.store(true);
  runner.Release();
  EXPECT_TRUE(queue.Finish().ok());
  EXPECT_EQ(handed_back, 0);  // a resumed run grades it again
  EXPECT_EQ(progress.queued.load(), 0);
}

TEST(JudgingQueueTest, AnErrorFromTheSinkIsReturned) {
  GatedJudge runner;
  runner.Release();
  judge::Judge judge(&runner, judge::DefaultTemplate(judge::Mode::kSingle));
  RunContext context;
  JudgingQueue queue(&judge, &context,
                     [&](size_t, std::vector<judge::JudgeRecord>) {
                       return absl::InternalError("store is full");
                     });
  queue.Add(0, {Item("q0")});
  EXPECT_EQ(queue.Finish().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace evald::tasks
