// File: tasks/py_regex.h
// -----------------------------------------------------------------------------
// Python `re` semantics over PCRE2 (UTF + UCP, so \w, \d, \s and \b are
// Unicode-aware as in Python 3 str patterns) for the answer-extraction and
// normalisation regexes the tasks copy from lm-evaluation-harness:
// findall (with Python's group rules), sub with an empty replacement, and
// search. Empty matches advance as Python 3.7+ does.
//
// Thread-safety: a compiled PyRegex is immutable and safe to share; match
// data is allocated per call.
#ifndef EVALD_TASKS_PY_REGEX_H_
#define EVALD_TASKS_PY_REGEX_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::tasks {

struct PyRegexFlags {
  bool ignore_case = false;  // re.I
  bool multiline = false;    // re.M
  bool dotall = false;       // re.S
};

class PyRegex {
 public:
  // Compiles `pattern`; InvalidArgument names the pattern and the offset.
  static absl::StatusOr<PyRegex> Compile(absl::string_view pattern, PyRegexFlags flags = {});

  // re.findall: one entry per match. Each entry holds the whole match when
  // the pattern has no groups, else every group's text ("" for a group that
  // did not take part), i.e. Python's tuple (a one-element vector for one
  // group).
  std::vector<std::vector<std::string>> FindAll(absl::string_view text) const;
  // re.sub(pattern, replacement, text) with a literal replacement.
  std::string Sub(absl::string_view text, absl::string_view replacement) const;
  // re.search(...) is not None.
  bool Search(absl::string_view text) const;

  const std::string& pattern() const { return pattern_; }
  int group_count() const { return group_count_; }

 private:
  struct Code;
  struct Match {
    size_t start = 0;
    size_t end = 0;
    std::vector<std::string> groups;  // groups 1..n ("" when unset)
  };
  // Calls `fn` for each successive match; `fn` returns false to stop.
  template <typename Fn>
  void ForEachMatch(absl::string_view text, Fn fn) const;

  std::string pattern_;
  int group_count_ = 0;
  std::shared_ptr<const Code> code_;
};

}  // namespace evald::tasks

#endif  // EVALD_TASKS_PY_REGEX_H_
