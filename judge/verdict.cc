// File: judge/verdict.cc
#include "judge/verdict.h"

#include <string>

#include "absl/strings/numbers.h"

namespace evald::judge {
namespace {

// Every verdict token is short; looking for the closing "]]" only this far
// keeps a long run of "[" from making the scan quadratic.
constexpr size_t kMaxInner = 32;

// Calls `fn(inner)` for every "[[inner]]" in order; inner has no brackets.
// Every "[[" is tried, overlapping ones included, so the "[[7]]" inside
// "[[[7]]]" is found.
template <typename Fn>
void ForEachDoubleBracket(absl::string_view text, Fn fn) {
  size_t pos = 0;
  while ((pos = text.find("[[", pos)) != absl::string_view::npos) {
    const size_t start = pos + 2;
    const size_t end = text.substr(start, kMaxInner + 2).find("]]");
    pos = pos + 1;
    if (end == absl::string_view::npos) continue;
    absl::string_view inner = text.substr(start, end);
    if (inner.find('[') == absl::string_view::npos &&
        inner.find(']') == absl::string_view::npos) {
      fn(inner);
    }
  }
}

bool IsPlainNumber(absl::string_view s) {
  // Digits with at most one '.', digits on both sides of it: "7", "8.5".
  if (s.empty() || s.size() > 8) return false;
  int dots = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (++dots > 1 || i == 0 || i + 1 == s.size()) return false;
    } else if (s[i] < '0' || s[i] > '9') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<double> ParseRating(absl::string_view text) {
  std::optional<double> last;
  ForEachDoubleBracket(text, [&](absl::string_view inner) {
    double v = 0;
    if (IsPlainNumber(inner) && absl::SimpleAtod(inner, &v) && v >= 1 &&
        v <= 10)
      last = v;
  });
  return last;
}

std::optional<PairVerdict> ParsePairwise(absl::string_view text) {
  std::optional<PairVerdict> last;
  ForEachDoubleBracket(text, [&](absl::string_view inner) {
    if (inner == "A") last = PairVerdict::kA;
    if (inner == "B") last = PairVerdict::kB;
    if (inner == "C") last = PairVerdict::kTie;
  });
  return last;
}

std::optional<bool> ParseCorrectness(absl::string_view text) {
  std::optional<bool> last;
  ForEachDoubleBracket(text, [&](absl::string_view inner) {
    if (inner == "CORRECT") last = true;
    if (inner == "INCORRECT") last = false;
  });
  return last;
}

Outcome CombineOrders(PairVerdict candidate_first,
                      PairVerdict candidate_second) {
  // In the second order the candidate is shown as B.
  const bool win1 = candidate_first == PairVerdict::kA;
  const bool loss1 = candidate_first == PairVerdict::kB;
  const bool win2 = candidate_second == PairVerdict::kB;
  const bool loss2 = candidate_second == PairVerdict::kA;
  if (win1 && win2) return Outcome::kWin;
  if (loss1 && loss2) return Outcome::kLoss;
  return Outcome::kTie;
}

}  // namespace evald::judge
