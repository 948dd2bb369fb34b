// File: jinja/lexer.h
// -----------------------------------------------------------------------------
// Tokenizer for the Jinja subset (internal to the renderer): splits template
// source into text and the tokens inside {{ }} and {% %} tags, applying the
// whitespace rules Hugging Face renders with (trim_blocks, lstrip_blocks, `-`
// markers), dropping comments and passing {% raw %} bodies through as text.
// Pure functions; thread-safe.
#ifndef EVALD_JINJA_LEXER_H_
#define EVALD_JINJA_LEXER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace evald::jinja {

// Token kinds: template text, tag delimiters, and the tokens inside tags.
enum class Tok {
  kText,
  kBlockBegin,
  kBlockEnd,
  kVarBegin,
  kVarEnd,
  kName,
  kString,
  kInt,
  kFloat,
  kOp,
  kEof
};

// One token; `offset` is its byte position in the source.
struct Token {
  Tok type = Tok::kEof;
  std::string value;
  int64_t int_value = 0;
  double float_value = 0;
  size_t offset = 0;
};

// Maps byte offsets to 1-based line and column (columns count bytes).
class Positions {
 public:
  explicit Positions(absl::string_view source) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\n') line_starts_.push_back(i + 1);
    }
  }
  std::pair<int, int> At(size_t offset) const {
    size_t lo = 0, hi = line_starts_.size();
    while (hi - lo > 1) {
      const size_t mid = (lo + hi) / 2;
      if (line_starts_[mid] <= offset) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return {static_cast<int>(lo + 1),
            static_cast<int>(offset - line_starts_[lo] + 1)};
  }
  absl::Status Error(size_t offset, absl::string_view what) const {
    auto [line, column] = At(offset);
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line, ", column ", column, ": ", what));
  }

 private:
  std::vector<size_t> line_starts_;
};

// Tokens of `source` ending with kEof. Errors are InvalidArgument
// "line L, column C: ..." (unclosed tags, comments or strings, bad
// characters).
// The whitespace rules of the environment (jinja2.Environment's
// trim_blocks and lstrip_blocks); Hugging Face's chat templates set both.
struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source,
                                            const Positions& positions,
                                            const LexOptions& options = {});

}  // namespace evald::jinja

#endif  // EVALD_JINJA_LEXER_H_
