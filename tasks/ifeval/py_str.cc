// File: tasks/ifeval/py_str.cc
#include "tasks/ifeval/py_str.h"

#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include "base/utf8.h"

namespace evald::tasks::ifeval {

bool IsPySpace(uint32_t cp) {
  // CPython's _PyUnicode_IsWhitespace: bidirectional type WS, B or S, or
  // category Zs. The list is short and stable, so it is spelled out.
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x1F:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

namespace {

template <typename Pred>
absl::string_view StripIf(absl::string_view s, bool left, bool right,
                          Pred pred) {
  size_t begin = 0;
  size_t end = s.size();
  if (left) {
    while (begin < end) {
      size_t next = begin;
      uint32_t cp = base::DecodeUtf8At(s, &next);
      if (!pred(cp)) break;
      begin = next;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin &&
             (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
        --start;
      size_t next = start;
      uint32_t cp = base::DecodeUtf8At(s, &next);
      if (!pred(cp)) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

bool InSet(const std::vector<uint32_t>& set, uint32_t cp) {
  for (uint32_t c : set) {
    if (c == cp) return true;
  }
  return false;
}

}  // namespace

absl::string_view PyStrip(absl::string_view s) {
  return StripIf(s, true, true, IsPySpace);
}
absl::string_view PyLStrip(absl::string_view s) {
  return StripIf(s, true, false, IsPySpace);
}
absl::string_view PyRStrip(absl::string_view s) {
  return StripIf(s, false, true, IsPySpace);
}

absl::string_view PyStripChars(absl::string_view s, absl::string_view chars) {
  std::vector<uint32_t> set = base::DecodeUtf8(chars);
  return StripIf(s, true, true, [&](uint32_t cp) { return InSet(set, cp); });
}
absl::string_view PyLStripChars(absl::string_view s, absl::string_view chars) {
  std::vector<uint32_t> set = base::DecodeUtf8(chars);
  return StripIf(s, true, false, [&](uint32_t cp) { return InSet(set, cp); });
}
absl::string_view PyRStripChars(absl::string_view s, absl::string_view chars) {
  std::vector<uint32_t> set = base::DecodeUtf8(chars);
  return StripIf(s, false, true, [&](uint32_t cp) { return InSet(set, cp); });
}

std::vector<std::string> PySplitWhitespace(absl::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  size_t word_start = std::string::npos;
  while (pos < s.size()) {
    size_t next = pos;
    uint32_t cp = base::DecodeUtf8At(s, &next);
    if (IsPySpace(cp)) {
      if (word_start != std::string::npos) {
        out.emplace_back(s.substr(word_start, pos - word_start));
        word_start = std::string::npos;
      }
    } else if (word_start == std::string::npos) {
      word_start = pos;
    }
    pos = next;
  }
  if (word_start != std::string::npos) out.emplace_back(s.substr(word_start));
  return out;
}

std::vector<std::string> PySplit(absl::string_view s, absl::string_view sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t hit = s.find(sep, start);
    if (hit == absl::string_view::npos) break;
    out.emplace_back(s.substr(start, hit - start));
    start = hit + sep.size();
  }
  out.emplace_back(s.substr(start));
  return out;
}

std::string PyLower(absl::string_view s) {
  // ICU's root-locale full lowercasing is Python's str.lower(): SpecialCasing
  // without language-specific rules, Final_Sigma included.
  UErrorCode status = U_ZERO_ERROR;
  int32_t utf16_len = 0;
  u_strFromUTF8WithSub(nullptr, 0, &utf16_len, s.data(),
                       static_cast<int32_t>(s.size()), 0xFFFD, nullptr,
                       &status);
  status = U_ZERO_ERROR;
  std::u16string utf16(utf16_len, u'\0');
  u_strFromUTF8WithSub(utf16.data(), utf16_len, nullptr, s.data(),
                       static_cast<int32_t>(s.size()), 0xFFFD, nullptr,
                       &status);
  if (U_FAILURE(status)) return std::string(s);
  status = U_ZERO_ERROR;
  int32_t lower_len =
      u_strToLower(nullptr, 0, utf16.data(), utf16_len, "", &status);
  status = U_ZERO_ERROR;
  std::u16string lower(lower_len, u'\0');
  u_strToLower(lower.data(), lower_len, utf16.data(), utf16_len, "", &status);
  if (U_FAILURE(status)) return std::string(s);
  status = U_ZERO_ERROR;
  int32_t out_len = 0;
  u_strToUTF8(nullptr, 0, &out_len, lower.data(), lower_len, &status);
  status = U_ZERO_ERROR;
  std::string out(out_len, '\0');
  u_strToUTF8(out.data(), out_len, nullptr, lower.data(), lower_len, &status);
  return out;
}

bool PyIsUpper(absl::string_view s) {
  bool cased = false;
  for (uint32_t cp : base::DecodeUtf8(s)) {
    if (u_isULowercase(cp) || u_istitle(cp)) return false;
    if (u_isUUppercase(cp)) cased = true;
  }
  return cased;
}

bool PyIsLower(absl::string_view s) {
  bool cased = false;
  for (uint32_t cp : base::DecodeUtf8(s)) {
    if (u_isUUppercase(cp) || u_istitle(cp)) return false;
    if (u_isULowercase(cp)) cased = true;
  }
  return cased;
}

size_t PyLen(absl::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

absl::string_view FirstChar(absl::string_view s) {
  if (s.empty()) return s;
  size_t next = 0;
  base::DecodeUtf8At(s, &next);
  return s.substr(0, next);
}

}  // namespace evald::tasks::ifeval
