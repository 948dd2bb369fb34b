// File: base/natural_order.cc
// -----------------------------------------------------------------------------
#include "base/natural_order.h"

#include <cstddef>

#include "absl/strings/ascii.h"

namespace evald::base {
namespace {

bool IsDigit(char c) {
  return absl::ascii_isdigit(static_cast<unsigned char>(c));
}

// The end of the digit run that starts at `i`.
size_t DigitsEnd(absl::string_view s, size_t i) {
  while (i < s.size() && IsDigit(s[i])) ++i;
  return i;
}

}  // namespace

bool NaturalLess(absl::string_view a, absl::string_view b) {
  size_t i = 0, j = 0;
  // Among strings equal by value, the first difference in leading zeros
  // decides (fewer zeros first).
  int zeros_tiebreak = 0;
  while (i < a.size() && j < b.size()) {
    if (IsDigit(a[i]) && IsDigit(b[j])) {
      const size_t a_end = DigitsEnd(a, i), b_end = DigitsEnd(b, j);
      size_t a_start = i, b_start = j;
      while (a_start + 1 < a_end && a[a_start] == '0') ++a_start;
      while (b_start + 1 < b_end && b[b_start] == '0') ++b_start;
      const absl::string_view x = a.substr(a_start, a_end - a_start);
      const absl::string_view y = b.substr(b_start, b_end - b_start);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      if (zeros_tiebreak == 0 && (a_start - i) != (b_start - j))
        zeros_tiebreak = (a_start - i) < (b_start - j) ? -1 : 1;
      i = a_end;
      j = b_end;
      continue;
    }
    const unsigned char x = static_cast<unsigned char>(a[i]);
    const unsigned char y = static_cast<unsigned char>(b[j]);
    if (x != y) return x < y;
    ++i;
    ++j;
  }
  if (i == a.size() && j == b.size()) return zeros_tiebreak < 0;
  return i == a.size();
}

}  // namespace evald::base
