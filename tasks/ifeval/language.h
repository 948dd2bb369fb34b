// File: tasks/ifeval/language.h
// -----------------------------------------------------------------------------
// Language identification for the IFEval language checkers, through Debian's
// libcld2 (Compact Language Detector 2). The reference uses Python's
// langdetect; codes are mapped to langdetect's spelling ("he", "zh-cn",
// "zh-tw"). Known differences: langdetect is a randomised naive-Bayes model
// that lm-eval does not seed, so it can change its answer on short or mixed
// text between runs, and it skips the n-grams inside all-capital words, so on
// short upper-case text ("YES") it answers some other language. CLD2 is
// deterministic; an answer CLD2 itself flags as unreliable (short or mixed
// text) is reported as "un", which equals no requested language, the closest
// deterministic match to langdetect's guessing there. Text with no letters at
// all is where langdetect raises "No features in text"; the checkers treat
// that as followed, and DetectLanguage reports it as nullopt.
//
// Thread-safe (CLD2 keeps no mutable global state).
#ifndef EVALD_TASKS_IFEVAL_LANGUAGE_H_
#define EVALD_TASKS_IFEVAL_LANGUAGE_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace evald::tasks::ifeval {

// The langdetect-style code of the most likely language, "un" when CLD2 cannot
// tell reliably, or nullopt when the text has no letters (langdetect's
// exception).
std::optional<std::string> DetectLanguage(absl::string_view text);

}  // namespace evald::tasks::ifeval

#endif  // EVALD_TASKS_IFEVAL_LANGUAGE_H_
