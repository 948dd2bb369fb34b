// File: py/str.h
// -----------------------------------------------------------------------------
// Python 3 `str` methods over UTF-8, for every place that must give the result
// the Python reference gives: lm-eval's prompt and answer handling, IFEval's
// checkers, jinja2 chat templates, the loglikelihood context split. Whitespace
// is str.isspace()'s set; character classes and case mappings are the full
// Unicode ones (SpecialCasing included), taken from ICU as CPython takes them
// from its own Unicode database. Bytes that are not UTF-8 are never whitespace,
// letters or cased, and the case mappings leave them as they are.
//
// Pure functions; thread-safe.
#ifndef EVALD_PY_STR_H_
#define EVALD_PY_STR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace evald::py {

// str.isspace() of one character: the Unicode Zs characters and those of
// bidirectional class WS, B or S (so \x1c-\x1f and U+0085 are spaces, U+200B
// and U+180E are not). `\s` in py/re.h patterns matches this set.
bool IsSpace(uint32_t cp);

// str.isspace(), isalpha(), isdigit(), isalnum(), islower(), isupper(): false
// for "" as in Python.
bool IsSpace(absl::string_view s);
bool IsAlpha(absl::string_view s);
bool IsDigit(absl::string_view s);
bool IsAlnum(absl::string_view s);
bool IsLower(absl::string_view s);
bool IsUpper(absl::string_view s);

// str.strip() / lstrip() / rstrip(); with `chars`, the code points of `chars`
// instead of whitespace. The result is a slice of `s`.
absl::string_view Strip(absl::string_view s);
absl::string_view LStrip(absl::string_view s);
absl::string_view RStrip(absl::string_view s);
absl::string_view Strip(absl::string_view s, absl::string_view chars);
absl::string_view LStrip(absl::string_view s, absl::string_view chars);
absl::string_view RStrip(absl::string_view s, absl::string_view chars);

// str.split(None, maxsplit): runs of whitespace separate and no piece is empty;
// after `maxsplit` splits (negative: no limit) the rest is one piece, its
// leading whitespace dropped and its trailing whitespace kept.
std::vector<std::string> SplitWhitespace(absl::string_view s,
                                         int64_t maxsplit = -1);
// str.split(sep, maxsplit). REQUIRES: `sep` is not empty (Python raises).
std::vector<std::string> Split(absl::string_view s, absl::string_view sep,
                               int64_t maxsplit = -1);
// str.splitlines(): \n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085, U+2028, U+2029.
std::vector<std::string> SplitLines(absl::string_view s);

// Full case mappings: 'ß'.upper() == "SS", 'İ'.lower() == "i̇", a final 'Σ'
// lowers to 'ς'. Title() and Capitalize() titlecase ('ǆ' -> 'ǅ') as
// Python 3.8+.
std::string Upper(absl::string_view s);
std::string Lower(absl::string_view s);
std::string Casefold(absl::string_view s);
std::string Title(absl::string_view s);
std::string Capitalize(absl::string_view s);

}  // namespace evald::py

#endif  // EVALD_PY_STR_H_
