// File: judge/verdict.h
// -----------------------------------------------------------------------------
// Strict verdict parsing for judge outputs. The rule, the same for every
// format: the LAST well-formed verdict in the text wins (a judge that quotes
// a format in its reasoning before its final answer is read by its final
// answer); anything else is unparsable, which callers retry once and then
// record and count - never drop.
//
//   single     "[[N]]" with N a number in [1, 10] ("[[7]]", "[[8.5]]");
//              out-of-range numbers are not well-formed.
//   pairwise   "[[A]]" (first answer better), "[[B]]", "[[C]]" (tie).
//   reference  "[[CORRECT]]" or "[[INCORRECT]]" (case-sensitive).
//
// Thread-safety: stateless functions.
#ifndef EVALD_JUDGE_VERDICT_H_
#define EVALD_JUDGE_VERDICT_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace evald::judge {

std::optional<double> ParseRating(absl::string_view text);

enum class PairVerdict { kA, kB, kTie };
std::optional<PairVerdict> ParsePairwise(absl::string_view text);

std::optional<bool> ParseCorrectness(absl::string_view text);

// The two orders of a pairwise comparison combined, from the point of view
// of the answer shown first in `first_order` (the candidate): a win when it
// wins in both orders, a loss when it loses in both, a tie otherwise (a
// disagreement between the orders is a tie, as is a tie in either).
enum class Outcome { kWin, kLoss, kTie };
Outcome CombineOrders(PairVerdict candidate_first,
                      PairVerdict candidate_second);

}  // namespace evald::judge

#endif  // EVALD_JUDGE_VERDICT_H_
