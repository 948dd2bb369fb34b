// File: py/re.h
// -----------------------------------------------------------------------------
// Python's `re` over PCRE2: the regexes copied from Python code (lm-eval's
// filters, IFEval's checkers, NLTK's tokenizers) match here what they match in
// CPython, and the tokenizer's Split patterns run on the same engine.
//
// Compile() reads Python syntax, rewrites what PCRE2 reads otherwise (\s as
// str.isspace, \Z, \v, \u \U \N{}, {,n}, octal vs group references, '[' and \S
// inside classes) and refuses what Python refuses (\p, \K, (*VERB), ...).
// Matching is UTF + UCP (Unicode \w \d \b), "\n" the only newline, multiline
// ^ also after a final newline, and Python 3.7+'s rule for empty matches. Known
// difference: caseless matching does not pair 'İ' and 'ı' with 'i' and 'I' as
// Python does (the only one among 2,978 case-related pairs); (?a) and (?L) are
// refused.
//
// Positions are byte offsets into the UTF-8 text; they fall on code point
// boundaries, so they map one to one onto Python's indices. Bytes that are not
// UTF-8 never match anything.
//
// Thread-safety: a Regex is immutable and cheap to copy (it shares its compiled
// code); any number of threads may match with it at once.
#ifndef EVALD_PY_RE_H_
#define EVALD_PY_RE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::py {

struct ReFlags {
  bool ignore_case = false;  // re.I
  bool multiline = false;    // re.M
  bool dotall = false;       // re.S
  bool verbose = false;      // re.X
};

// One match: the byte spans of groups 0..n; a group that took no part has
// start == kUnset.
struct ReMatch {
  static constexpr size_t kUnset = static_cast<size_t>(-1);
  std::vector<std::pair<size_t, size_t>> spans;
  size_t start(int g = 0) const { return spans[g].first; }
  size_t end(int g = 0) const { return spans[g].second; }
  bool has(int g) const { return spans[g].first != kUnset; }
  // m.group(g) of a match in `text` ("" for an unset group, where Python has
  // None).
  absl::string_view group(absl::string_view text, int g = 0) const {
    return has(g) ? text.substr(start(g), end(g) - start(g))
                  : absl::string_view();
  }
};

class Regex {
 public:
  // re.compile(pattern, flags). InvalidArgument names the pattern and, for
  // syntax, the position, as Python's re.error does.
  static absl::StatusOr<Regex> Compile(absl::string_view pattern,
                                       ReFlags flags = {});
  // For the constant patterns of a module: aborts when `pattern` is invalid.
  static Regex CompileOrDie(absl::string_view pattern, ReFlags flags = {});
  // A pattern in PCRE2's own syntax, compiled as it stands (Hugging Face
  // tokenizer.json Split patterns use \p{L}, which Python's re lacks).
  static absl::StatusOr<Regex> CompilePcre2(absl::string_view pattern);

  // pattern.search(text, pos) / pattern.match(text, pos).
  std::optional<ReMatch> Search(absl::string_view text, size_t pos = 0) const;
  std::optional<ReMatch> Match(absl::string_view text, size_t pos = 0) const;
  // re.finditer.
  std::vector<ReMatch> FindIter(absl::string_view text) const;
  // re.findall: per match the whole match when the pattern has no group, else
  // every group ("" when unset), i.e. Python's tuple as a vector.
  std::vector<std::vector<std::string>> FindAll(absl::string_view text) const;
  // re.split: the pieces between matches with every group's text between
  // them ("" when unset).
  std::vector<std::string> Split(absl::string_view text) const;
  // re.sub with a Python replacement template: \1 .. \99, \g<n>, \g<name>,
  // \n \t \r \f \v \a \b \\ and octal escapes; an unset group inserts "".
  // REQUIRES: `repl` is a template Python accepts for this pattern (a bad
  // escape or unknown group is copied as it stands).
  std::string Sub(absl::string_view text, absl::string_view repl) const;

  // The tokenizer's iteration (Hugging Face tokenizers over Oniguruma): the
  // non-empty matches left to right; after an empty match the search resumes
  // one character on. Appends to `spans`; allocates nothing else. Fails only
  // when PCRE2 runs out of its match resources.
  absl::Status FindSpans(absl::string_view text,
                         std::vector<std::pair<size_t, size_t>>* spans) const;

  const std::string& pattern() const { return pattern_; }
  int group_count() const { return group_count_; }
  // The number of the group named `name`, or -1.
  int GroupIndex(absl::string_view name) const;

 private:
  struct Code;
  static absl::StatusOr<Regex> Build(absl::string_view pattern,
                                     absl::string_view pcre2_pattern,
                                     const std::vector<size_t>* origin,
                                     uint32_t options);
  template <typename Fn>
  void ForEachMatch(absl::string_view text, Fn fn) const;
  std::optional<ReMatch> MatchFrom(absl::string_view text, size_t pos,
                                   uint32_t options) const;

  std::string pattern_;
  int group_count_ = 0;
  std::shared_ptr<const Code> code_;
};

}  // namespace evald::py

#endif  // EVALD_PY_RE_H_
