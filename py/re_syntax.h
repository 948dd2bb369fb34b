// File: py/re_syntax.h
// -----------------------------------------------------------------------------
// Internal to py/re.cc: rewrites a Python `re` pattern into a PCRE2 pattern
// that matches the same strings under the options re.cc compiles with (see
// py/re.h for the list of rewrites). Pure functions; thread-safe.
#ifndef EVALD_PY_RE_SYNTAX_H_
#define EVALD_PY_RE_SYNTAX_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::py::internal {

struct Pcre2Pattern {
  std::string pattern;
  // origin[k]: the position in the Python pattern that byte k came from, so a
  // PCRE2 error offset can be reported against the pattern the caller wrote.
  std::vector<size_t> origin;
  bool verbose = false;  // re.X, from the flags or a leading (?x)
};

// InvalidArgument with Python's message and position for what Python's
// parser rejects before PCRE2 would see it.
absl::StatusOr<Pcre2Pattern> TranslatePattern(absl::string_view pattern,
                                              bool verbose);

}  // namespace evald::py::internal

#endif  // EVALD_PY_RE_SYNTAX_H_
