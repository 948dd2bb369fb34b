// File: tasks/task_util.h
// -----------------------------------------------------------------------------
// Pieces every lm-eval-compatible task shares: lm-eval's prompt assembly (plain
// text and chat messages, with its delimiter rules), the mean/stderr statistics
// lm-eval reports, and a relay that forwards a run's cancellation flag to a
// Runner call while the task can also stop that call itself. Pure functions and
// value types except CancelRelay (see its comment).
#ifndef EVALD_TASKS_TASK_UTIL_H_
#define EVALD_TASKS_TASK_UTIL_H_

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "runners/chat_prompt.h"
#include "runners/runner.h"

namespace evald::tasks {

// lm-eval's maybe_delimit(a, b, d): a+d+b, or a+b when `a` ends or `b` starts
// with whitespace (str.isspace); either part alone when the other is empty.
std::string MaybeDelimit(absl::string_view a, absl::string_view b,
                         absl::string_view delimiter);

// One few-shot example: the rendered question and its answer text.
struct FewShotExample {
  std::string question;
  std::string answer;
};

// What lm-eval's fewshot_context assembles, before rendering.
struct PromptParts {
  std::string description;  // rendered task description ("" if none)
  std::vector<FewShotExample> shots;
  std::string question;  // the evaluated document's rendered text
  std::string target_delimiter = " ";
  std::string fewshot_delimiter = "\n\n";
};

// Plain text: [system_instruction "\n\n"] description + Σ(q + td + a + fd) + q.
std::string RenderPlainContext(const PromptParts& parts,
                               absl::string_view system_instruction);

// Chat messages: an optional system message maybe_delimit(system_instruction,
// description, fewshot_delimiter); then, with `fewshot_as_multiturn`, one
// user/assistant pair per shot and the final user turn, else one user
// message holding the plain few-shot text and the question.
std::vector<runners::ChatMessage> BuildChatMessages(
    const PromptParts& parts, absl::string_view system_instruction,
    bool fewshot_as_multiturn);

// Chat messages for a generation request, with the text kept in the sample.
// As lm-eval does, a template that refuses them is tried once more without
// the system messages (templates with no system role reject them).
absl::StatusOr<runners::ChatPrompt> PrepareChatRequest(
    const runners::Runner& runner, std::vector<runners::ChatMessage> messages);

// The text `messages` render to with the model's chat template, for a
// context to score; the same fallback. A runner without a template of its
// own (an endpoint) cannot give it: Unimplemented.
absl::StatusOr<std::string> RenderChat(
    const runners::Runner& runner,
    const std::vector<runners::ChatMessage>& messages);

// Mean of `values` (0 for none).
double Mean(absl::Span<const double> values);
// lm-eval's mean_stderr: sample standard deviation (n-1) / sqrt(n); 0 when
// n < 2 (lm-eval reports "N/A" there).
double MeanStderr(absl::Span<const double> values);
// lm-eval's pooled_sample_stderr over subtasks of sizes n_i and stderrs se_i:
// sqrt(Σ (n_i-1)·se_i²·n_i / (Σn_i - k) / Σn_i).
double PooledStderr(absl::Span<const double> stderrs,
                    absl::Span<const int64_t> sizes);

// Forwards `outer` (a run's cancellation flag, may be null) into flag(), and
// lets the task raise flag() itself (e.g. when storing a sample failed), so a
// Runner call stops for either reason. A helper thread polls `outer` while
// the relay lives; it is joined by the destructor.
class CancelRelay {
 public:
  explicit CancelRelay(const std::atomic<bool>* outer);
  ~CancelRelay();
  CancelRelay(const CancelRelay&) = delete;
  CancelRelay& operator=(const CancelRelay&) = delete;

  const std::atomic<bool>* flag() const { return &flag_; }
  void Cancel() { flag_.store(true); }
  bool outer_cancelled() const { return outer_ != nullptr && outer_->load(); }

 private:
  const std::atomic<bool>* outer_;
  std::atomic<bool> flag_{false};
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace evald::tasks

#endif  // EVALD_TASKS_TASK_UTIL_H_
