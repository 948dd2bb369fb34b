// File: tasks/ifeval/py_re.h
// -----------------------------------------------------------------------------
// The subset of Python's `re` module the IFEval checkers, the Punkt sentence
// splitter and the Treebank word tokenizer need, over PCRE2 with UTF + UCP (so
// \w, \d, \s and \b are Unicode-aware as in Python 3 str patterns) and LF as
// the only newline (Python's `$` and `.` know only "\n").
//
// Positions are byte offsets into the UTF-8 text; PCRE2 in UTF mode only
// reports offsets on code-point boundaries, so they map one to one onto
// Python's code-point indices. Successive matches advance as Python 3.7+
// does: an empty match is allowed right after a non-empty one, never twice at
// the same position.
//
// Thread-safety: a compiled Regex is immutable and safe to share; match data
// is allocated per call.
#ifndef EVALD_TASKS_IFEVAL_PY_RE_H_
#define EVALD_TASKS_IFEVAL_PY_RE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::tasks::ifeval {

struct ReFlags {
  bool ignore_case = false;  // re.I
  bool multiline = false;    // re.M
  bool verbose = false;      // re.X
};

// One match: byte spans of group 0..n; an unset group has start == npos.
struct ReMatch {
  static constexpr size_t kUnset = static_cast<size_t>(-1);
  std::vector<std::pair<size_t, size_t>> groups;
  size_t start() const { return groups[0].first; }
  size_t end() const { return groups[0].second; }
  bool has(int g) const { return groups[g].first != kUnset; }
  absl::string_view group(absl::string_view text, int g) const {
    if (!has(g)) return {};
    return text.substr(groups[g].first, groups[g].second - groups[g].first);
  }
};

class Regex {
 public:
  // Compiles `pattern`; InvalidArgument names the pattern and the offset.
  static absl::StatusOr<Regex> Compile(absl::string_view pattern,
                                       ReFlags flags = {});
  // For the fixed patterns of this module: aborts on a compile error.
  static Regex CompileOrDie(absl::string_view pattern, ReFlags flags = {});

  // re.search(text) is not None.
  bool Search(absl::string_view text) const;
  // The match anchored at `pos` (re.match on text[pos:] keeping `$` and
  // lookarounds aware of the whole text).
  std::optional<ReMatch> MatchAt(absl::string_view text, size_t pos) const;
  // re.finditer.
  std::vector<ReMatch> FindAll(absl::string_view text) const;
  // len(re.findall(...)).
  size_t Count(absl::string_view text) const { return FindAll(text).size(); }
  // re.split without maxsplit (capturing groups are not interleaved; none of
  // the patterns split here has one).
  std::vector<std::string> Split(absl::string_view text) const;
  // re.sub with a template: "$0".."$9" insert a group ("" when unset), other
  // characters are literal.
  std::string Sub(absl::string_view text, absl::string_view replacement) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::string pattern_;
  std::shared_ptr<const Code> code_;
};

}  // namespace evald::tasks::ifeval

#endif  // EVALD_TASKS_IFEVAL_PY_RE_H_
