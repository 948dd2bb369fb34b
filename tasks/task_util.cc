// File: tasks/task_util.cc
#include "tasks/task_util.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "py/str.h"

namespace evald::tasks {

std::string MaybeDelimit(absl::string_view a, absl::string_view b,
                         absl::string_view delimiter) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  const bool a_ends_space = py::RStrip(a).size() != a.size();
  const bool b_starts_space = py::LStrip(b).size() != b.size();
  std::string out(a);
  if (!a_ends_space && !b_starts_space) absl::StrAppend(&out, delimiter);
  absl::StrAppend(&out, b);
  return out;
}

namespace {

std::string FewShotText(const PromptParts& parts) {
  std::string text;
  for (const FewShotExample& shot : parts.shots) {
    text += shot.question;
    text += parts.target_delimiter;
    text += shot.answer;
    text += parts.fewshot_delimiter;
  }
  text += parts.question;
  return text;
}

}  // namespace

std::string RenderPlainContext(const PromptParts& parts,
                               absl::string_view system_instruction) {
  // Plain text joins every message with its own delimiter; the system part
  // is maybe_delimit(system_instruction, description) with no delimiter after.
  return MaybeDelimit(system_instruction, parts.description,
                      parts.fewshot_delimiter) +
         FewShotText(parts);
}

std::vector<runners::ChatMessage> BuildChatMessages(
    const PromptParts& parts, absl::string_view system_instruction,
    bool fewshot_as_multiturn) {
  std::vector<runners::ChatMessage> messages;
  std::string system = MaybeDelimit(system_instruction, parts.description,
                                    parts.fewshot_delimiter);
  if (!system.empty()) messages.push_back({"system", std::move(system)});
  if (fewshot_as_multiturn) {
    for (const FewShotExample& shot : parts.shots) {
      messages.push_back({"user", shot.question});
      messages.push_back({"assistant", shot.answer});
    }
    messages.push_back({"user", parts.question});
  } else {
    messages.push_back({"user", FewShotText(parts)});
  }
  return messages;
}

absl::StatusOr<runners::ChatPrompt> PrepareChatRequest(
    const runners::Runner& runner, std::vector<runners::ChatMessage> messages) {
  return runners::PrepareChat(runner, std::move(messages),
                              runners::SystemTurnFallback::kDrop);
}

absl::StatusOr<std::string> RenderChat(
    const runners::Runner& runner,
    const std::vector<runners::ChatMessage>& messages) {
  absl::StatusOr<std::string> rendered =
      runner.ApplyChatTemplate(messages, /*add_generation_prompt=*/true);
  if (rendered.ok() || absl::IsUnimplemented(rendered.status()))
    return rendered;
  ASSIGN_OR_RETURN(runners::ChatPrompt chat,
                   PrepareChatRequest(runner, messages));
  return std::move(chat.text);
}

double Mean(absl::Span<const double> values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double MeanStderr(absl::Span<const double> values) {
  const size_t n = values.size();
  if (n < 2) return 0;
  const double mu = Mean(values);
  double ss = 0;
  for (double v : values) ss += (v - mu) * (v - mu);
  return std::sqrt(ss / static_cast<double>(n - 1)) /
         std::sqrt(static_cast<double>(n));
}

double PooledStderr(absl::Span<const double> stderrs,
                    absl::Span<const int64_t> sizes) {
  double numerator = 0;
  double total = 0;
  for (size_t i = 0; i < stderrs.size() && i < sizes.size(); ++i) {
    const double n = static_cast<double>(sizes[i]);
    numerator += (n - 1) * stderrs[i] * stderrs[i] * n;
    total += n;
  }
  const double denominator = total - static_cast<double>(sizes.size());
  if (denominator <= 0 || total <= 0) return 0;
  return std::sqrt(numerator / denominator / total);
}

CancelRelay::CancelRelay(const std::atomic<bool>* outer) : outer_(outer) {
  if (outer_ == nullptr) return;
  thread_ = std::thread([this] {
    absl::MutexLock lock(&mu_);
    while (!done_) {
      if (outer_->load()) {
        flag_.store(true);
        return;
      }
      // Wakes at once when the relay ends; otherwise checks the run's flag
      // every 20 ms, which bounds how late a cancellation reaches the call.
      mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Milliseconds(20));
    }
  });
}

CancelRelay::~CancelRelay() {
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace evald::tasks
