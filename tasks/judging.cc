// File: tasks/judging.cc
#include "tasks/judging.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace evald::tasks {
namespace {

// Samples graded in one judge call at most; more wait for the next call.
constexpr size_t kMaxGroupsPerCall = 64;

int64_t Micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace

JudgingQueue::JudgingQueue(const judge::Judge* judge, const RunContext* context,
                           OnGraded on_graded)
    : judge_(judge), context_(context), on_graded_(std::move(on_graded)) {
  worker_ = std::thread([this] { Loop(); });
}

JudgingQueue::~JudgingQueue() { (void)Finish(); }

void JudgingQueue::Add(size_t tag, std::vector<judge::JudgeItem> items) {
  if (failed_.load()) return;  // nothing more is graded
  if (context_->judge_progress != nullptr)
    context_->judge_progress->queued.fetch_add(1);
  absl::MutexLock lock(&mu_);
  pending_.push_back({tag, std::move(items)});
}

void JudgingQueue::ProducerDone() {
  absl::MutexLock lock(&mu_);
  if (producer_done_) return;
  producer_done_ = true;
  producer_done_at_ = std::chrono::steady_clock::now();
}

absl::Status JudgingQueue::Finish() {
  ProducerDone();
  if (worker_.joinable()) worker_.join();
  absl::MutexLock lock(&mu_);
  return status_;
}

void JudgingQueue::Loop() {
  while (true) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !pending_.empty() || producer_done_;
      };
      mu_.Await(absl::Condition(&ready));
      if (pending_.empty() || !status_.ok()) {
        if (context_->judge_progress != nullptr) {
          context_->judge_progress->queued.fetch_sub(
              static_cast<int64_t>(pending_.size()));
        }
        pending_.clear();
        return;
      }
      const size_t n = std::min(pending_.size(), kMaxGroupsPerCall);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    std::vector<judge::JudgeItem> items;
    for (Pending& p : batch) {
      for (judge::JudgeItem& item : p.items) items.push_back(std::move(item));
    }
    runners::CallOptions options;
    options.cancelled = context_->cancelled;
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::vector<judge::JudgeRecord>> records =
        judge_->Grade(items, options);
    const auto end = std::chrono::steady_clock::now();
    absl::Status status = records.status();
    {
      absl::MutexLock lock(&mu_);
      const auto generation_end =
          producer_done_ ? std::min(producer_done_at_, end) : end;
      if (context_->judge_progress != nullptr) {
        context_->judge_progress->busy_us.fetch_add(Micros(end - start));
        context_->judge_progress->overlap_us.fetch_add(
            std::max<int64_t>(0, Micros(generation_end - start)));
      }
    }
    const bool cancelled =
        context_->cancelled != nullptr && context_->cancelled->load();
    size_t next = 0;
    for (Pending& p : batch) {
      if (context_->judge_progress != nullptr)
        context_->judge_progress->queued.fetch_sub(1);
      if (!status.ok() || cancelled) continue;
      std::vector<judge::JudgeRecord> mine(
          std::make_move_iterator(records->begin() +
                                  static_cast<std::ptrdiff_t>(next)),
          std::make_move_iterator(
              records->begin() +
              static_cast<std::ptrdiff_t>(next + p.items.size())));
      next += p.items.size();
      status = on_graded_(p.tag, std::move(mine));
      if (status.ok() && context_->judge_progress != nullptr) {
        context_->judge_progress->graded.fetch_add(1);
      }
    }
    if (!status.ok()) {
      absl::MutexLock lock(&mu_);
      if (status_.ok()) status_ = status;
      failed_.store(true);
    }
  }
}

absl::Status SampleSink::Emit(SampleResult sample) {
  absl::MutexLock lock(&mu_);
  if (!status_.ok()) return status_;
  status_ = (*on_sample_)(std::move(sample));
  if (!status_.ok()) relay_->Cancel();
  return status_;
}

absl::Status SampleSink::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

std::string VerdictText(judge::Mode mode, const judge::JudgeRecord& record) {
  if (!record.error.empty()) return "error";
  if (!record.parsed) return "unparsable";
  switch (mode) {
    case judge::Mode::kSingle:
      return absl::StrFormat("%g", record.rating);
    case judge::Mode::kPairwise:
      return *record.pair == judge::PairVerdict::kA   ? "A"
             : *record.pair == judge::PairVerdict::kB ? "B"
                                                      : "tie";
    case judge::Mode::kReference:
      return *record.correct ? "correct" : "incorrect";
  }
  return "unparsable";
}

JudgeCall ToJudgeCall(judge::Mode mode, const judge::JudgeRecord& record,
                      std::string order) {
  JudgeCall call;
  call.order = std::move(order);
  call.prompt = record.prompt;
  call.raw = record.raw;
  call.verdict = VerdictText(mode, record);
  call.error = record.error;
  return call;
}

}  // namespace evald::tasks
