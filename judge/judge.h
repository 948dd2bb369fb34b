// File: judge/judge.h
// -----------------------------------------------------------------------------
// Grading with a judge model through the Runner interface: judge prompt
// templates (built-in defaults or a YAML file a suite points to), batched
// generation, strict verdict parsing (judge/verdict.h) with one retry, and
// the aggregates judged tasks report.
//
// Retry policy: the judge decodes greedily, so asking the same prompt again
// would give the same text. An unparsable reply is retried once with the
// same decoding and the prompt followed by a one-line reminder of the
// required format; if that fails too the record is kept as unparsable (and
// counted by the caller).
//
// Thread-safety: a Judge is immutable; Grade() may run from several threads
// (the Runner is thread-safe).
#ifndef EVALD_JUDGE_JUDGE_H_
#define EVALD_JUDGE_JUDGE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "judge/verdict.h"
#include "runners/chat_prompt.h"
#include "runners/runner.h"

namespace evald::judge {

enum class Mode { kSingle, kPairwise, kReference };

struct JudgeTemplate {
  std::string name;
  Mode mode = Mode::kSingle;
  std::string system;  // may be empty
  // Placeholders: {question}, {answer} (single, reference), {reference}
  // (reference), {answer_a} and {answer_b} (pairwise).
  std::string prompt;
};

// The built-in templates: "single", "pairwise", "reference" (the files
// judge/templates/*.yaml, embedded at build time).
const JudgeTemplate& DefaultTemplate(Mode mode);
// The YAML text of a built-in template, to copy and edit
// (`evalctl judge template NAME`).
absl::StatusOr<std::string> BuiltinTemplateText(absl::string_view name);

// A template file (YAML: name, mode, system, prompt); errors name the file
// and the field (unknown mode, a placeholder the mode needs but the prompt
// lacks, an unknown placeholder).
absl::StatusOr<JudgeTemplate> LoadTemplate(const std::string& path);
absl::StatusOr<JudgeTemplate> ParseTemplate(const std::string& path,
                                            const std::string& yaml);

struct JudgeItem {
  std::string question;
  std::string answer;     // single, reference; pairwise: the first shown (A)
  std::string answer_b;   // pairwise: the second shown (B)
  std::string reference;  // reference mode
};

struct JudgeRecord {
  std::string prompt;  // the judge prompt as sent (chat template applied)
  std::vector<std::string> raw;  // the judge's reply per attempt (1 or 2)
  bool parsed = false;
  double rating = 0;                // single
  std::optional<PairVerdict> pair;  // pairwise
  std::optional<bool> correct;      // reference
  std::string error;                // the runner failed for this item
};

class Judge {
 public:
  Judge(runners::Runner* runner, JudgeTemplate tmpl, int max_new_tokens = 1024)
      : runner_(runner),
        template_(std::move(tmpl)),
        max_new_tokens_(max_new_tokens) {}

  // The filled-in prompt of one item, before the chat template.
  std::string RenderPrompt(const JudgeItem& item) const;

  // Grades every item (one batched call, plus one for the retries); one
  // record per item, in order.
  absl::StatusOr<std::vector<JudgeRecord>> Grade(
      absl::Span<const JudgeItem> items,
      const runners::CallOptions& options = {}) const;

  const JudgeTemplate& judge_template() const { return template_; }

 private:
  // The judge turn for `user`: the template's system text as a system turn,
  // or first in the user turn where the model's template has no system role.
  absl::StatusOr<runners::ChatPrompt> JudgeTurn(const std::string& user) const;
  void Parse(const std::string& reply, JudgeRecord* record) const;

  runners::Runner* runner_;
  JudgeTemplate template_;
  int max_new_tokens_;
};

struct RateInterval {
  double rate = 0;
  double low = 0;  // Wilson 95% interval
  double high = 0;
  int64_t n = 0;
};
// Win rate of pairwise outcomes with ties counted half.
RateInterval WinRate(absl::Span<const Outcome> outcomes);

}  // namespace evald::judge

#endif  // EVALD_JUDGE_JUDGE_H_
