// File: base/edit_distance.h
// -----------------------------------------------------------------------------
// The distance behind "did you mean ...?" suggestions (evalctl flags, lm-eval
// task keys): optimal string alignment, i.e. Levenshtein plus the swap of two
// adjacent characters, the commonest typo ("--dco" for "--doc").
//
// Thread-safety: a pure function.
#ifndef EVALD_BASE_EDIT_DISTANCE_H_
#define EVALD_BASE_EDIT_DISTANCE_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace evald::base {

// Byte-wise; O(|a|·|b|) time and memory.
size_t EditDistance(absl::string_view a, absl::string_view b);

}  // namespace evald::base

#endif  // EVALD_BASE_EDIT_DISTANCE_H_
