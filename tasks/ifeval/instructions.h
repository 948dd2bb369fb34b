// File: tasks/ifeval/instructions.h
// -----------------------------------------------------------------------------
// The 25 registered IFEval instruction checkers (Google's
// instruction_following_eval, as lm-evaluation-harness ports it), each built
// from its instruction id and the document's kwargs object. The kwargs rule is
// the reference's: null and falsy values (0, "", false, [], {}) are dropped
// before building. Where the reference would then draw a random argument, the
// build fails instead, naming the field, so scores never depend on chance.
//
// keywords:letter_frequency with a `letter` that is not an ASCII letter (keys
// 1122 and 1129 of the published set, '#' and '!') makes the reference draw a
// random letter. Here the given character itself is counted (after lower()),
// which is what those prompts ask for.
//
// Ownership: an Instruction may keep a pointer to the PunktTokenizer given at
// build time, which must outlive it. Thread-safety: built instructions are
// immutable; CheckFollowing may be called from many threads.
#ifndef EVALD_TASKS_IFEVAL_INSTRUCTIONS_H_
#define EVALD_TASKS_IFEVAL_INSTRUCTIONS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/json.h"
#include "tasks/ifeval/language.h"
#include "tasks/ifeval/punkt.h"

namespace evald::tasks::ifeval {

class Instruction {
 public:
  virtual ~Instruction() = default;
  // The reference's check_following(value) on the unstripped response.
  virtual bool CheckFollowing(absl::string_view response) const = 0;
};

// What the checkers consult besides the response. Both are borrowed and must
// outlive the instructions built with them.
struct CheckerData {
  const PunktTokenizer* punkt = nullptr;       // required
  const LanguageDetector* language = nullptr;  // required
};

// Builds the checker for `id`. `kwargs` is the JSON object of the document
// (null is treated as {}). Errors (InvalidArgument) name the offending field
// as "kwargs.<name>"; an unknown id is NotFound.
absl::StatusOr<std::unique_ptr<Instruction>> BuildInstruction(
    absl::string_view id, const base::Json& kwargs, const CheckerData& data);
// The same with the CLD2 language fallback.
inline absl::StatusOr<std::unique_ptr<Instruction>> BuildInstruction(
    absl::string_view id, const base::Json& kwargs,
    const PunktTokenizer* punkt) {
  return BuildInstruction(id, kwargs, CheckerData{punkt, &Cld2Detector()});
}

// The registered ids, sorted.
std::vector<std::string> InstructionIds();

// Strict and loose verdicts of one instruction on one response, as
// lm-eval's process_results computes them.
// The eight loose-mode variants of a response, in the reference's order:
// response, response without "*", first line removed, last line removed,
// both removed (each stripped), and those three without "*".
std::vector<std::string> LooseVariants(absl::string_view response);
bool FollowedStrict(const Instruction& instruction, absl::string_view response);
// `variants` is LooseVariants(response).
bool FollowedLoose(const Instruction& instruction,
                   const std::vector<std::string>& variants);

}  // namespace evald::tasks::ifeval

#endif  // EVALD_TASKS_IFEVAL_INSTRUCTIONS_H_
