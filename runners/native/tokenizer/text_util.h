// File: runners/native/tokenizer/text_util.h
// -----------------------------------------------------------------------------
// Text helpers private to the tokenizer: the GPT-2 byte<->character map of
// byte-level BPE, lossy UTF-8 repair, Unicode normalization forms (ICU),
// character classes with the meanings HF tokenizers gives them, and a PCRE2
// regex that lists match spans.
//
// Thread-safety: free functions are pure; a compiled Regex is immutable and may
// be used from many threads at once (each call owns its match state).
#ifndef EVALD_RUNNERS_NATIVE_TOKENIZER_TEXT_UTIL_H_
#define EVALD_RUNNERS_NATIVE_TOKENIZER_TEXT_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::engine::tokenizer_internal {

// UTF-8 of the character byte-level BPE uses for byte `b`.
const std::string& ByteToChar(uint8_t b);
// The byte a byte-level character stands for, or -1 when `cp` is not one.
int CharToByte(uint32_t cp);

// Replaces each maximal invalid subsequence with U+FFFD (the WHATWG / Rust
// from_utf8_lossy rule).
std::string Utf8Lossy(absl::string_view bytes);

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };
// REQUIRES: `s` is valid UTF-8.
std::string NormalizeUnicode(absl::string_view s, NormalForm form);
std::string LowercaseUnicode(absl::string_view s);
// NFD then drops combining marks (Mn).
std::string StripAccents(absl::string_view s);

// Unicode White_Space (Rust's char::is_whitespace).
bool IsWhitespace(uint32_t cp);
// Alphabetic or numeric, or '_' (a "word" character for single_word tokens).
bool IsWordChar(uint32_t cp);

// Byte length of the UTF-8 sequence starting with `lead` (1 for stray bytes).
inline size_t Utf8Len(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

// A PCRE2 regex compiled with UTF and UCP, so \p{L}, \s and friends are
// Unicode-aware and lookahead is available.
class Regex {
 public:
  // Errors name the offset in the pattern where compilation failed.
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(absl::string_view pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping, non-empty matches of `s` (valid UTF-8) as byte spans,
  // left to right.
  absl::Status FindAll(absl::string_view s,
                       std::vector<std::pair<size_t, size_t>>* spans) const;

 private:
  explicit Regex(void* code) : code_(code) {}
  void* code_;  // pcre2_code_8, owned
};

}  // namespace evald::engine::tokenizer_internal

#endif  // EVALD_RUNNERS_NATIVE_TOKENIZER_TEXT_UTIL_H_
