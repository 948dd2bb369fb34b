// File: base/utf8.h
// -----------------------------------------------------------------------------
// UTF-8 helpers shared by the tokenizer, the chat-template renderer and the
// task checkers. Pure functions; thread-safe.
#ifndef EVALD_BASE_UTF8_H_
#define EVALD_BASE_UTF8_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace evald::base {

// Byte offset of the first invalid UTF-8 sequence in `s` (overlong forms,
// surrogates and code points past U+10FFFF are invalid), or nullopt if valid.
std::optional<size_t> FindInvalidUtf8(absl::string_view s);
inline bool IsValidUtf8(absl::string_view s) {
  return !FindInvalidUtf8(s).has_value();
}

// `s` with every byte that is not part of a valid UTF-8 sequence written as
// the four characters "\xNN" (lowercase hex); valid input is returned as is.
// The result is always valid UTF-8, and the bytes stay visible to people.
std::string EscapeInvalidUtf8(absl::string_view s);

// Decodes the code point at s[*pos] and advances *pos. An invalid sequence
// yields U+FFFD and advances by one byte.
uint32_t DecodeUtf8At(absl::string_view s, size_t* pos);

// Appends the UTF-8 encoding of `cp` (REQUIRES: cp <= 0x10FFFF).
void AppendUtf8(uint32_t cp, std::string* out);

// How many code points `s` holds, as Python's len() of the decoded text
// counts them (each invalid byte counts as one U+FFFD).
size_t CountCodePoints(absl::string_view s);

// Code points of `s` (invalid bytes become U+FFFD).
std::vector<uint32_t> DecodeUtf8(absl::string_view s);
std::string EncodeUtf8(const std::vector<uint32_t>& cps);

}  // namespace evald::base

#endif  // EVALD_BASE_UTF8_H_
