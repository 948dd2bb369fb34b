// File: tasks/ifeval/punkt.h
// -----------------------------------------------------------------------------
// The Punkt sentence tokenizer (Kiss & Strunk 2006) as NLTK's
// PunktSentenceTokenizer applies a trained model: the word tokenizer of
// PunktLanguageVars, the first-pass annotation (sentence-final punctuation,
// ellipses, known abbreviations), the second pass (collocations, the
// orthographic heuristic, frequent sentence starters, initials and ordinals),
// the candidate-context scan and the boundary realignment of closing quotes
// and brackets. The model is data: the four punkt_tab files of a language
// folder (abbrev_types.txt, collocations.tab, ortho_context.tab,
// sent_starters.txt), loaded once and then immutable.
//
// Thread-safety: a loaded PunktTokenizer is immutable; Tokenize() may be
// called from many threads.
#ifndef EVALD_TASKS_IFEVAL_PUNKT_H_
#define EVALD_TASKS_IFEVAL_PUNKT_H_

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::tasks::ifeval {

// Orthographic context bits, as punkt_tab stores them.
inline constexpr int kOrthoBegUc = 1 << 1;
inline constexpr int kOrthoMidUc = 1 << 2;
inline constexpr int kOrthoUnkUc = 1 << 3;
inline constexpr int kOrthoBegLc = 1 << 4;
inline constexpr int kOrthoMidLc = 1 << 5;
inline constexpr int kOrthoUnkLc = 1 << 6;
inline constexpr int kOrthoUc = kOrthoBegUc | kOrthoMidUc | kOrthoUnkUc;
inline constexpr int kOrthoLc = kOrthoBegLc | kOrthoMidLc | kOrthoUnkLc;

struct PunktParameters {
  std::unordered_set<std::string> abbrev_types;
  std::unordered_set<std::string> collocations;  // "first\tsecond"
  std::unordered_set<std::string> sent_starters;
  std::unordered_map<std::string, int> ortho_context;
};

class PunktTokenizer {
 public:
  // Loads the four parameter files from `dir`. Errors name the file and line.
  // sha256() is then a digest over the four files (name, NUL, contents, NUL,
  // in the order above), for the task fingerprint.
  static absl::StatusOr<std::unique_ptr<PunktTokenizer>> Load(
      const std::string& dir);
  explicit PunktTokenizer(PunktParameters params)
      : params_(std::move(params)) {}

  // nltk: PunktSentenceTokenizer.tokenize(text).
  std::vector<std::string> Tokenize(absl::string_view text) const;
  // nltk: span_tokenize, byte offsets.
  std::vector<std::pair<size_t, size_t>> SpanTokenize(
      absl::string_view text) const;

  // PunktLanguageVars.word_tokenize (exposed for tests).
  std::vector<std::string> WordTokenize(absl::string_view line) const;

  const std::string& sha256() const { return sha256_; }

 private:
  struct Token;
  bool TextContainsSentbreak(absl::string_view text) const;
  std::vector<Token> AnnotatedTokens(absl::string_view text) const;
  void SecondPass(Token& tok1, const Token& tok2) const;
  int OrthoHeuristic(const Token& tok) const;  // 1 true, 0 false, -1 unknown
  int Ortho(const std::string& type) const;

  PunktParameters params_;
  std::string sha256_;
};

}  // namespace evald::tasks::ifeval

#endif  // EVALD_TASKS_IFEVAL_PUNKT_H_
