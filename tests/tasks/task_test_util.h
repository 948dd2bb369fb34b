// File: tests/tasks/task_test_util.h
// -----------------------------------------------------------------------------
// Test helpers for tasks/: an in-process Runner whose answers the test
// chooses, a runner of /usr/bin/python3 snippets (the reference for
// CPython-compatible behaviour), and small fixture datasets.
#ifndef EVALD_TESTS_TASKS_TASK_TEST_UTIL_H_
#define EVALD_TESTS_TASKS_TASK_TEST_UTIL_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "runners/runner.h"

namespace evald::tasks::testing {

// A Runner that answers loglikelihood requests with `score(request)` and
// generations with `generate(request)`, delivering results in reverse order
// (tasks must not rely on order). Records every call.
class FakeRunner : public runners::Runner {
 public:
  std::function<double(const runners::LoglikelihoodRequest&)> score =
      [](const runners::LoglikelihoodRequest&) { return -1.0; };
  std::function<std::string(const runners::GenerateRequest&)> generate =
      [](const runners::GenerateRequest&) { return std::string(); };
  // When set, requests at index >= cancel_after see the call's cancellation
  // flag raised before they are answered (simulates a cancel mid-call).
  std::atomic<bool>* raise_before_index_flag = nullptr;
  size_t raise_before_index = 0;

  // Makes ApplyChatTemplate fail on a system message, as templates
  // without a system role do.
  bool reject_system_role = false;
  // Loglikelihood requests whose context contains this text fail (e.g. a
  // prompt longer than the context window).
  std::string fail_context_containing;

  int loglikelihood_calls = 0;
  int generate_calls = 0;
  std::vector<runners::LoglikelihoodRequest> ll_requests;
  std::vector<runners::GenerateRequest> gen_requests;
  std::vector<std::vector<runners::ChatMessage>> chats;

  std::string model_name() const override { return "fake"; }
  int max_context() const override { return 1 << 20; }
  absl::Status Loglikelihood(
      absl::Span<const runners::LoglikelihoodRequest> requests,
      const runners::CallOptions& options,
      const runners::ResultCallback<runners::LoglikelihoodResult>& on_result)
      override;
  absl::Status Generate(absl::Span<const runners::GenerateRequest> requests,
                        const runners::CallOptions& options,
                        const runners::ResultCallback<runners::GenerateResult>&
                            on_result) override;
  // Renders "<|role|>content" per message, then "<|assistant|>" when asked.
  absl::StatusOr<std::string> ApplyChatTemplate(
      absl::Span<const runners::ChatMessage> messages,
      bool add_generation_prompt) const override;
  runners::RunnerStats stats() const override { return {}; }

 private:
  mutable absl::Mutex mu_;
  mutable std::vector<std::vector<runners::ChatMessage>> chat_log_;
};

// Runs `script` with /usr/bin/python3 and returns its stdout; aborts the test
// binary if Python fails (the expectation cannot be derived).
std::string RunPython(const std::string& script);

// A five-row dev file and a test file for an MMLU subject, in Hendrycks CSV
// form, under <dir>/dev and <dir>/test.
void WriteMmluSubject(const std::string& dir, const std::string& subject,
                      const std::string& dev_csv, const std::string& test_csv);

}  // namespace evald::tasks::testing

#endif  // EVALD_TESTS_TASKS_TASK_TEST_UTIL_H_
