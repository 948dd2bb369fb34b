// File: tasks/ifeval/language.h
// -----------------------------------------------------------------------------
// Language identification for the IFEval language checkers. The reference
// uses Python's langdetect, which langdetect.h reproduces when its profiles
// are available. This file holds the checkers' interface and the fallback
// through Debian's libcld2 (Compact Language Detector 2), whose codes are
// mapped to langdetect's spelling ("he", "zh-cn", "zh-tw").
//
// Known differences of the CLD2 fallback: langdetect is a naive-Bayes model
// over character n-grams that skips the n-grams inside all-capital words, so
// on short or upper-case text ("YES", "coastal elegance properties") it can
// answer another language where CLD2 answers English. An answer CLD2 itself
// flags as unreliable is reported as "un", which equals no requested
// language. Text with no letters at all is where langdetect raises "No
// features in text"; the checkers treat that as followed, and DetectLanguage
// reports it as nullopt.
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

// What the language checkers ask: a language code, or nullopt where the
// reference's detector raises (no features), which counts as followed.
class LanguageDetector {
 public:
  virtual ~LanguageDetector() = default;
  virtual std::optional<std::string> Detect(absl::string_view text) const = 0;
  virtual std::string name() const = 0;    // "langdetect" or "cld2"
  virtual std::string sha256() const = 0;  // of its data; "" if built in
};

// DetectLanguage behind the interface; a process-wide instance.
const LanguageDetector& Cld2Detector();

}  // namespace evald::tasks::ifeval

#endif  // EVALD_TASKS_IFEVAL_LANGUAGE_H_
