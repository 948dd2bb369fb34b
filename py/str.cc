// File: py/str.cc
#include "py/str.h"

#include <unicode/bytestream.h>
#include <unicode/casemap.h>
#include <unicode/stringoptions.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace evald::py {
namespace {

// What NextCodePoint and PrevCodePoint return for bytes that are not UTF-8.
constexpr int32_t kNotUtf8 = U_SENTINEL;

// The code point at s[*i]; advances *i past it, or past the maximal
// ill-formed subsequence (kNotUtf8).
int32_t NextCodePoint(absl::string_view s, size_t* i) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(s.data());
  int32_t c;
  U8_NEXT(bytes, *i, s.size(), c);
  return c;
}

// The code point that ends at s[*i] (*i > floor); moves *i to its start. A
// stray byte is kNotUtf8 on its own, as NextCodePoint would have read it.
int32_t PrevCodePoint(absl::string_view s, size_t floor, size_t* i) {
  const size_t end = *i;
  size_t start = end - 1;
  while (start > floor && end - start < 4 &&
         U8_IS_TRAIL(static_cast<uint8_t>(s[start])))
    --start;
  size_t next = start;
  const int32_t c = NextCodePoint(s, &next);
  if (next == end) {
    *i = start;
    return c;
  }
  *i = end - 1;
  return kNotUtf8;
}

}  // namespace

bool IsSpace(uint32_t cp) {
  // CPython's _PyUnicode_IsWhitespace; the set is small and has not changed
  // since Unicode 6.3 dropped U+180E from Zs, so it is spelled out.
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

bool IsSpaceChar(int32_t c) {
  return c >= 0 && IsSpace(static_cast<uint32_t>(c));
}

// CPython's per-character predicates (Objects/unicodectype.c), from ICU.
bool IsAlphaChar(int32_t c) {
  switch (u_charType(c)) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return true;
    default:
      return false;
  }
}
int32_t NumericType(int32_t c) {
  return u_getIntPropertyValue(c, UCHAR_NUMERIC_TYPE);
}
bool IsDigitChar(int32_t c) {
  const int32_t t = NumericType(c);
  return t == U_NT_DECIMAL || t == U_NT_DIGIT;
}
bool IsAlnumChar(int32_t c) {
  return IsAlphaChar(c) || NumericType(c) != U_NT_NONE;
}
bool IsCased(int32_t c) {
  return c >= 0 && u_hasBinaryProperty(c, UCHAR_CASED);
}
bool IsCaseIgnorable(int32_t c) {
  return c >= 0 && u_hasBinaryProperty(c, UCHAR_CASE_IGNORABLE);
}

bool IsAscii(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x80;
  });
}

// True when `s` is not empty and every character satisfies `pred`; bytes that
// are not UTF-8 satisfy none.
template <typename Pred>
bool All(absl::string_view s, Pred pred) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size();) {
    const int32_t c = NextCodePoint(s, &i);
    if (c == kNotUtf8 || !pred(c)) return false;
  }
  return true;
}

// str.isupper() with `upper` true, str.islower() otherwise: some cased
// character, and none of the other case or titlecase.
bool IsCase(absl::string_view s, bool upper) {
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    const int32_t c = NextCodePoint(s, &i);
    if (c == kNotUtf8) continue;
    if ((upper ? u_isULowercase(c) : u_isUUppercase(c)) || u_istitle(c))
      return false;
    if (upper ? u_isUUppercase(c) : u_isULowercase(c)) cased = true;
  }
  return cased;
}

template <typename Pred>
absl::string_view StripIf(absl::string_view s, bool left, bool right,
                          Pred pred) {
  size_t begin = 0;
  size_t end = s.size();
  if (left) {
    while (begin < end) {
      size_t next = begin;
      if (!pred(NextCodePoint(s, &next))) break;
      begin = next;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end;
      if (!pred(PrevCodePoint(s, begin, &start))) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

struct InChars {
  std::vector<int32_t> set;
  explicit InChars(absl::string_view chars) {
    for (size_t i = 0; i < chars.size();) {
      const int32_t c = NextCodePoint(chars, &i);
      if (c != kNotUtf8) set.push_back(c);
    }
  }
  bool operator()(int32_t c) const {
    return std::find(set.begin(), set.end(), c) != set.end();
  }
};

// One of ICU's root-locale (language-independent) full case mappings over
// UTF-8, which is what CPython's upper/lower/casefold apply per character.
enum class Mapping { kUpper, kLower, kFold, kTitle };

void AppendMapped(absl::string_view s, Mapping mapping, std::string* out) {
  UErrorCode status = U_ZERO_ERROR;
  icu::StringByteSink<std::string> sink(out, static_cast<int32_t>(s.size()));
  const icu::StringPiece piece(s.data(), static_cast<int32_t>(s.size()));
  switch (mapping) {
    case Mapping::kUpper:
      icu::CaseMap::utf8ToUpper("", 0, piece, sink, nullptr, status);
      break;
    case Mapping::kLower:
      icu::CaseMap::utf8ToLower("", 0, piece, sink, nullptr, status);
      break;
    case Mapping::kFold:
      icu::CaseMap::utf8Fold(U_FOLD_CASE_DEFAULT, piece, sink, nullptr, status);
      break;
    case Mapping::kTitle:
      // One character at a time (see Title): its titlecase mapping, with no
      // word segmentation and no search for the first cased letter.
      icu::CaseMap::utf8ToTitle("",
                                U_TITLECASE_WHOLE_STRING |
                                    U_TITLECASE_NO_BREAK_ADJUSTMENT |
                                    U_TITLECASE_NO_LOWERCASE,
                                nullptr, piece, sink, nullptr, status);
      break;
  }
  // Only allocation failure makes ICU fail here; keep the text unmapped.
  if (U_FAILURE(status)) out->append(s.data(), s.size());
}

std::string Mapped(absl::string_view s, Mapping mapping) {
  std::string out;
  AppendMapped(s, mapping, &out);
  return out;
}

// Appends the lowercase of the character s[begin, end) as CPython's
// lower_ucs4 does: a capital sigma becomes final sigma when a cased letter
// precedes it and none follows (case-ignorable characters skipped both ways).
void AppendLowerAt(absl::string_view s, size_t begin, size_t end, int32_t c,
                   std::string* out) {
  if (c != 0x3A3)
    return AppendMapped(s.substr(begin, end - begin), Mapping::kLower, out);
  bool final_sigma = false;
  for (size_t i = begin; i > 0;) {
    const int32_t before = PrevCodePoint(s, 0, &i);
    if (IsCaseIgnorable(before)) continue;
    final_sigma = IsCased(before);
    break;
  }
  for (size_t i = end; final_sigma && i < s.size();) {
    const int32_t after = NextCodePoint(s, &i);
    if (IsCaseIgnorable(after)) continue;
    final_sigma = !IsCased(after);
    break;
  }
  out->append(final_sigma ? "\u03C2" : "\u03C3");
}

}  // namespace

bool IsSpace(absl::string_view s) { return All(s, IsSpaceChar); }
bool IsAlpha(absl::string_view s) { return All(s, IsAlphaChar); }
bool IsDigit(absl::string_view s) { return All(s, IsDigitChar); }
bool IsAlnum(absl::string_view s) { return All(s, IsAlnumChar); }
bool IsLower(absl::string_view s) { return IsCase(s, /*upper=*/false); }
bool IsUpper(absl::string_view s) { return IsCase(s, /*upper=*/true); }

absl::string_view Strip(absl::string_view s) {
  return StripIf(s, true, true, IsSpaceChar);
}
absl::string_view LStrip(absl::string_view s) {
  return StripIf(s, true, false, IsSpaceChar);
}
absl::string_view RStrip(absl::string_view s) {
  return StripIf(s, false, true, IsSpaceChar);
}
absl::string_view Strip(absl::string_view s, absl::string_view chars) {
  return StripIf(s, true, true, InChars(chars));
}
absl::string_view LStrip(absl::string_view s, absl::string_view chars) {
  return StripIf(s, true, false, InChars(chars));
}
absl::string_view RStrip(absl::string_view s, absl::string_view chars) {
  return StripIf(s, false, true, InChars(chars));
}

std::vector<std::string> SplitWhitespace(absl::string_view s,
                                         int64_t maxsplit) {
  // CPython's split_whitespace, one code point at a time.
  std::vector<std::string> out;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size()) {
      size_t next = i;
      if (!IsSpaceChar(NextCodePoint(s, &next))) break;
      i = next;
    }
  };
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    skip_space();
    if (i == s.size()) return out;
    const size_t word = i;
    while (i < s.size()) {
      size_t next = i;
      if (IsSpaceChar(NextCodePoint(s, &next))) break;
      i = next;
    }
    out.emplace_back(s.substr(word, i - word));
  }
  skip_space();
  if (i < s.size()) out.emplace_back(s.substr(i));
  return out;
}

std::vector<std::string> Split(absl::string_view s, absl::string_view sep,
                               int64_t maxsplit) {
  std::vector<std::string> out;
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    const size_t hit = s.find(sep, start);
    if (hit == absl::string_view::npos) break;
    out.emplace_back(s.substr(start, hit - start));
    start = hit + sep.size();
  }
  out.emplace_back(s.substr(start));
  return out;
}

std::vector<std::string> SplitLines(absl::string_view s) {
  std::vector<std::string> out;
  size_t line = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    const int32_t c = NextCodePoint(s, &i);
    const bool boundary = (c >= 0x0A && c <= 0x0D) ||
                          (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
                          c == 0x2028 || c == 0x2029;
    if (!boundary) continue;
    out.emplace_back(s.substr(line, at - line));
    if (c == '\r' && i < s.size() && s[i] == '\n') ++i;
    line = i;
  }
  if (line < s.size()) out.emplace_back(s.substr(line));
  return out;
}

std::string Upper(absl::string_view s) {
  if (IsAscii(s)) return absl::AsciiStrToUpper(s);
  return Mapped(s, Mapping::kUpper);
}

std::string Lower(absl::string_view s) {
  if (IsAscii(s)) return absl::AsciiStrToLower(s);
  // ICU's Final_Sigma condition is CPython's (cased, case-ignorable* before;
  // no case-ignorable* cased after), so the whole string maps in one call.
  return Mapped(s, Mapping::kLower);
}

std::string Casefold(absl::string_view s) {
  if (IsAscii(s)) return absl::AsciiStrToLower(s);
  return Mapped(s, Mapping::kFold);
}

std::string Title(absl::string_view s) {
  // CPython's do_title: a character after a cased one is lowercased, any
  // other is titlecased.
  std::string out;
  out.reserve(s.size());
  bool previous_is_cased = false;
  for (size_t i = 0; i < s.size();) {
    const size_t begin = i;
    const int32_t c = NextCodePoint(s, &i);
    if (c == kNotUtf8) {
      absl::StrAppend(&out, s.substr(begin, i - begin));
    } else if (c < 0x80) {
      out.push_back(previous_is_cased
                        ? absl::ascii_tolower(static_cast<unsigned char>(c))
                        : absl::ascii_toupper(static_cast<unsigned char>(c)));
    } else if (previous_is_cased) {
      AppendLowerAt(s, begin, i, c, &out);
    } else {
      AppendMapped(s.substr(begin, i - begin), Mapping::kTitle, &out);
    }
    previous_is_cased = IsCased(c);
  }
  return out;
}

std::string Capitalize(absl::string_view s) {
  // CPython 3.8+'s do_capitalize: the first character titlecased, the rest
  // lowercased with the whole string as the final-sigma context.
  if (s.empty()) return "";
  size_t i = 0;
  const int32_t first = NextCodePoint(s, &i);
  std::string out;
  out.reserve(s.size());
  if (first == kNotUtf8) {
    absl::StrAppend(&out, s.substr(0, i));
  } else {
    AppendMapped(s.substr(0, i), Mapping::kTitle, &out);
  }
  while (i < s.size()) {
    const size_t begin = i;
    const int32_t c = NextCodePoint(s, &i);
    if (c == kNotUtf8) {
      absl::StrAppend(&out, s.substr(begin, i - begin));
    } else if (c < 0x80) {
      out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    } else {
      AppendLowerAt(s, begin, i, c, &out);
    }
  }
  return out;
}

}  // namespace evald::py
