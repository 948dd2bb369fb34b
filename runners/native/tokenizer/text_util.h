// File: runners/native/tokenizer/text_util.h
// -----------------------------------------------------------------------------
// Text helpers private to the tokenizer: the GPT-2 byte<->character map of
// byte-level BPE, lossy UTF-8 repair, Unicode normalization forms (ICU),
// and character classes with the meanings HF tokenizers gives them. The Split
// pre-tokenizer regexes are py::Regex (py/re.h).
//
// Thread-safety: pure functions.
#ifndef EVALD_RUNNERS_NATIVE_TOKENIZER_TEXT_UTIL_H_
#define EVALD_RUNNERS_NATIVE_TOKENIZER_TEXT_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace evald::runners::native::tokenizer::internal {

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

}  // namespace evald::runners::native::tokenizer::internal

#endif  // EVALD_RUNNERS_NATIVE_TOKENIZER_TEXT_UTIL_H_
