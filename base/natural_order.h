// File: base/natural_order.h
// -----------------------------------------------------------------------------
// The order people expect of checkpoint names: runs of digits compare as
// numbers, the rest byte by byte, so "step-900" comes before "step-1200" and
// "ckpt-9/model" before "ckpt-10/model" (checkpoint sweeps, the report's
// checkpoint axis).
//
// Thread-safety: a pure function.
#ifndef EVALD_BASE_NATURAL_ORDER_H_
#define EVALD_BASE_NATURAL_ORDER_H_

#include "absl/strings/string_view.h"

namespace evald::base {

// A strict weak order: digit runs by value (leading zeros ignored, then the
// one with fewer leading zeros first, so distinct strings never tie), other
// bytes as unsigned chars, a prefix before a longer string.
bool NaturalLess(absl::string_view a, absl::string_view b);

}  // namespace evald::base

#endif  // EVALD_BASE_NATURAL_ORDER_H_
