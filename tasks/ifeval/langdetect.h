// File: tasks/ifeval/langdetect.h
// -----------------------------------------------------------------------------
// Language identification with the algorithm of Python's langdetect 1.0.9 (a
// port of Cybozu's language-detection), which the IFEval reference calls for
// its language checkers: character 1-3-gram naive Bayes over 55 language
// profiles, seven randomised trials that draw n-grams from the text, each
// with a smoothing constant jittered by a Gaussian, averaged.
//
// The reference does not seed its generator, so its answer on short or mixed
// text can vary from run to run. Here the generator is CPython's Mersenne
// Twister seeded with 0 (langdetect's `DetectorFactory.seed = 0`), so the
// answer is a pure function of the text - the one langdetect gives with that
// seed. The profiles and the normalisation tables (messages.properties) are
// data, loaded from a folder laid out like the Python package:
// <dir>/profiles/<lang> and <dir>/utils/messages.properties (or both files
// side by side in <dir>). Profiles are read in sorted file-name order.
//
// Thread-safety: immutable after Load(); Detect() is thread-safe.
#ifndef EVALD_TASKS_IFEVAL_LANGDETECT_H_
#define EVALD_TASKS_IFEVAL_LANGDETECT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tasks/ifeval/language.h"

namespace evald::tasks::ifeval {

class LangDetect : public LanguageDetector {
 public:
  // Loads the profiles and tables; errors name the file at fault.
  static absl::StatusOr<std::unique_ptr<LangDetect>> Load(
      const std::string& dir);

  // The most probable language's code, "unknown" when none has probability
  // above 0.1, nullopt when the text yields no n-gram ("No features in
  // text").
  std::optional<std::string> Detect(absl::string_view text) const override;
  std::string name() const override { return "langdetect"; }
  std::string sha256() const override { return sha256_; }

  // Per-language probabilities above 0.1, highest first (detect_langs).
  absl::StatusOr<std::vector<std::pair<std::string, double>>> Probabilities(
      absl::string_view text) const;

  const std::vector<std::string>& languages() const { return languages_; }

 private:
  LangDetect() = default;
  std::u32string Prepare(absl::string_view text) const;
  std::vector<const std::vector<std::pair<int, double>>*> ExtractNgrams(
      const std::u32string& text) const;
  char32_t Normalize(char32_t ch) const;

  std::vector<std::string> languages_;
  // n-gram (UTF-32) -> (language index, probability) for the languages that
  // have it.
  absl::flat_hash_map<std::u32string, std::vector<std::pair<int, double>>>
      grams_;
  std::u32string latin1_excluded_;
  absl::flat_hash_map<char32_t, char32_t> cjk_map_;
  std::u32string vi_letters_;           // TO_NORMALIZE_VI_CHARS
  std::u32string vi_marks_;             // DMARK_CLASS
  std::vector<std::u32string> vi_out_;  // NORMALIZED_VI_CHARS_03xx, per mark
  std::string sha256_;                  // over the files read, in order
};

}  // namespace evald::tasks::ifeval

#endif  // EVALD_TASKS_IFEVAL_LANGDETECT_H_
