// File: tasks/ifeval/py_str.h
// -----------------------------------------------------------------------------
// Python 3 `str` semantics over UTF-8 for the IFEval checkers: whitespace as
// str.isspace() defines it, strip/split, full Unicode lower() (including the
// final-sigma rule, through ICU), and isupper()/islower() with the Unicode
// Uppercase/Lowercase/Titlecase properties CPython uses. Lengths and indices
// in Python count code points; these helpers say where they do too.
//
// Pure functions; thread-safe.
#ifndef EVALD_TASKS_IFEVAL_PY_STR_H_
#define EVALD_TASKS_IFEVAL_PY_STR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace evald::tasks::ifeval {

// str.isspace() for one code point.
bool IsPySpace(uint32_t cp);

// str.strip() / lstrip() / rstrip() with no argument.
absl::string_view PyStrip(absl::string_view s);
absl::string_view PyLStrip(absl::string_view s);
absl::string_view PyRStrip(absl::string_view s);
// str.strip(chars) etc.: `chars` is a set of code points (UTF-8).
absl::string_view PyStripChars(absl::string_view s, absl::string_view chars);
absl::string_view PyLStripChars(absl::string_view s, absl::string_view chars);
absl::string_view PyRStripChars(absl::string_view s, absl::string_view chars);

// str.split() with no argument: runs of whitespace separate, no empty pieces.
std::vector<std::string> PySplitWhitespace(absl::string_view s);
// str.split(sep) (sep non-empty): every occurrence separates.
std::vector<std::string> PySplit(absl::string_view s, absl::string_view sep);

// str.lower(): full case mapping (U+0130 becomes "i̇", final sigma becomes ς).
std::string PyLower(absl::string_view s);
// str.isupper() / str.islower().
bool PyIsUpper(absl::string_view s);
bool PyIsLower(absl::string_view s);

// len(s): code points.
size_t PyLen(absl::string_view s);
// The first code point of `s` as UTF-8 ("" for an empty string).
absl::string_view FirstChar(absl::string_view s);

}  // namespace evald::tasks::ifeval

#endif  // EVALD_TASKS_IFEVAL_PY_STR_H_
