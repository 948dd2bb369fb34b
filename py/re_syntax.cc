// File: py/re_syntax.cc
// A single pass over the pattern that follows sre_parse's lexical rules
// (escapes, classes, group extensions, inline flags, verbose comments) and
// copies everything else as it stands; PCRE2 parses the result.
#include "py/re_syntax.h"

#include <unicode/uchar.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "py/str.h"

// A local RETURN_IF_ERROR: py/ does not depend on base/.
#define PY_RETURN_IF_ERROR(expr)       \
  do {                                 \
    absl::Status status_ = (expr);     \
    if (!status_.ok()) return status_; \
  } while (false)

namespace evald::py::internal {
namespace {

bool IsOctal(char c) { return c >= '0' && c <= '7'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string CodePointEscape(uint32_t cp) {
  return absl::StrFormat("\\x{%x}", cp);
}

// The members of str.isspace()'s set as PCRE2 class ranges ("\x{9}-\x{d}...").
const std::string& SpaceMembers() {
  static const std::string* members = [] {
    auto* out = new std::string;
    for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
      if (!IsSpace(cp)) continue;
      uint32_t last = cp;
      while (IsSpace(last + 1)) ++last;
      absl::StrAppend(out, CodePointEscape(cp));
      if (last > cp) absl::StrAppend(out, "-", CodePointEscape(last));
      cp = last;
    }
    return out;
  }();
  return *members;
}

class Translator {
 public:
  Translator(absl::string_view p, bool verbose) : p_(p) {
    result_.verbose = verbose;
  }

  absl::StatusOr<Pcre2Pattern> Run() {
    PY_RETURN_IF_ERROR(LeadingFlags());
    while (i_ < p_.size()) PY_RETURN_IF_ERROR(Item());
    return std::move(result_);
  }

 private:
  absl::Status Error(absl::string_view what, size_t pos) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " at position ", pos));
  }

  void Emit(absl::string_view text, size_t from) {
    result_.pattern.append(text.data(), text.size());
    result_.origin.insert(result_.origin.end(), text.size(), from);
  }

  // Global flags at the start ("(?x)", "(?iu)"): Python 3.11 accepts them
  // nowhere else, and a leading 'x' makes '#' start comments from here on.
  absl::Status LeadingFlags() {
    while (p_.substr(i_, 2) == "(?") {
      size_t j = i_ + 2;
      while (j < p_.size() && absl::StrContains("aiLmsux", p_[j])) ++j;
      if (j == i_ + 2 || j >= p_.size() || p_[j] != ')')
        return absl::OkStatus();
      PY_RETURN_IF_ERROR(Flags(i_ + 2, j, /*scoped=*/false));
      i_ = j + 1;
    }
    return absl::OkStatus();
  }

  // Flag letters p_[begin, end); emits the PCRE2 option setting.
  absl::Status Flags(size_t begin, size_t end, bool scoped) {
    std::string kept;
    for (size_t k = begin; k < end; ++k) {
      const char f = p_[k];
      if (f == 'a') return Error("re.ASCII ((?a)) is not supported", k);
      if (f == 'L')
        return Error("bad inline flag: cannot use 'L' flag with a str pattern",
                     k);
      if (f == 'u')
        continue;  // Unicode matching is the default for str patterns
      if (f == 'x' && !scoped) result_.verbose = true;
      kept.push_back(f);
    }
    if (scoped) {
      Emit(absl::StrCat("(?", kept, ":"), begin - 2);
    } else if (!kept.empty()) {
      Emit(absl::StrCat("(?", kept, ")"), begin - 2);
    }
    return absl::OkStatus();
  }

  absl::Status Item() {
    const size_t at = i_;
    const char c = p_[i_];
    if (result_.verbose &&
        (c == '#' || absl::ascii_isspace(static_cast<unsigned char>(c)))) {
      if (c == '#') {
        while (i_ < p_.size() && p_[i_] != '\n') ++i_;
      } else {
        ++i_;
      }
      return absl::OkStatus();  // PCRE2 would skip them too, but a '[' in a
                                // comment must not open a class
    }
    switch (c) {
      case '\\':
        return Escape(/*in_class=*/false, nullptr);
      case '[':
        return Class();
      case '(':
        return Group();
      case '{':
        // "{,n}" and "{,}" repeat from zero in Python; PCRE2 10.42 reads them
        // as literal text.
        if (i_ + 1 < p_.size() && p_[i_ + 1] == ',') {
          size_t j = i_ + 2;
          while (j < p_.size() && IsDigit(p_[j])) ++j;
          if (j < p_.size() && p_[j] == '}') {
            Emit(absl::StrCat("{0,", p_.substr(i_ + 2, j - i_ - 2), "}"), at);
            i_ = j + 1;
            return absl::OkStatus();
          }
        }
        break;
      default:
        if (result_.verbose && static_cast<unsigned char>(c) >= 0x80)
          return NonAsciiLiteral();
        break;
    }
    Emit(p_.substr(i_, 1), at);
    ++i_;
    return absl::OkStatus();
  }

  // In verbose mode PCRE2 also skips U+0085, U+200E, U+200F, U+2028 and
  // U+2029, which Python matches literally.
  absl::Status NonAsciiLiteral() {
    const size_t at = i_;
    size_t j = i_ + 1;
    while (j < p_.size() && (static_cast<unsigned char>(p_[j]) & 0xC0) == 0x80)
      ++j;
    const absl::string_view ch = p_.substr(i_, j - i_);
    i_ = j;
    static constexpr struct {
      absl::string_view utf8;
      uint32_t cp;
    } kPatternSpaces[] = {{"\u0085", 0x85},
                          {"\u200E", 0x200E},
                          {"\u200F", 0x200F},
                          {"\u2028", 0x2028},
                          {"\u2029", 0x2029}};
    for (const auto& space : kPatternSpaces) {
      if (ch == space.utf8) {
        Emit(CodePointEscape(space.cp), at);
        return absl::OkStatus();
      }
    }
    Emit(ch, at);
    return absl::OkStatus();
  }

  absl::Status Group() {
    const size_t at = i_;
    if (p_.substr(i_, 2) == "(*") return Error("nothing to repeat", i_ + 1);
    if (p_.substr(i_, 2) != "(?") {
      Emit("(", at);
      ++i_;
      return absl::OkStatus();
    }
    if (i_ + 2 >= p_.size()) return Error("unexpected end of pattern", i_ + 2);
    const char kind = p_[i_ + 2];
    auto copy_through = [&](char terminator) -> absl::Status {
      const size_t close = p_.find(terminator, i_ + 3);
      if (close == absl::string_view::npos)
        return Error("missing group name or terminator", i_ + 3);
      Emit(p_.substr(i_, close + 1 - i_), at);
      i_ = close + 1;
      return absl::OkStatus();
    };
    switch (kind) {
      case ':':
      case '=':
      case '!':
      case '>':
        Emit(p_.substr(i_, 3), at);
        i_ += 3;
        return absl::OkStatus();
      case '#': {
        // A comment ends at the first ')'; it is dropped, so a quantifier
        // after it applies to the item before it, as in Python.
        const size_t close = p_.find(')', i_ + 3);
        if (close == absl::string_view::npos)
          return Error("missing ), unterminated comment", i_);
        i_ = close + 1;
        return absl::OkStatus();
      }
      case '<':
        if (i_ + 3 < p_.size() && (p_[i_ + 3] == '=' || p_[i_ + 3] == '!')) {
          Emit(p_.substr(i_, 4), at);
          i_ += 4;
          return absl::OkStatus();
        }
        return Error(absl::StrCat("unknown extension ?<", p_.substr(i_ + 3, 1)),
                     i_ + 1);
      case 'P':
        if (i_ + 3 < p_.size() && p_[i_ + 3] == '<') return copy_through('>');
        if (i_ + 3 < p_.size() && p_[i_ + 3] == '=') return copy_through(')');
        return Error(absl::StrCat("unknown extension ?P", p_.substr(i_ + 3, 1)),
                     i_ + 1);
      case '(':
        return copy_through(')');  // a conditional's group number or name
      default:
        break;
    }
    size_t j = i_ + 2;
    while (j < p_.size() && absl::StrContains("aiLmsux-", p_[j])) ++j;
    if (j == i_ + 2 || j >= p_.size() || (p_[j] != ':' && p_[j] != ')')) {
      return Error(absl::StrCat("unknown extension ?", p_.substr(i_ + 2, 1)),
                   i_ + 1);
    }
    if (p_[j] == ')')
      return Error("global flags not at the start of the expression", i_);
    const size_t begin = i_ + 2;
    i_ = j + 1;
    return Flags(begin, j, /*scoped=*/true);
  }

  // A character class. \S inside one has no PCRE2 spelling as a member (the
  // complement of an explicit set), so such a class becomes an alternation.
  absl::Status Class() {
    const size_t at = i_;
    ++i_;
    bool negated = false;
    if (i_ < p_.size() && p_[i_] == '^') {
      negated = true;
      ++i_;
    }
    std::string members;
    std::vector<size_t> member_origin;
    bool not_space = false;
    bool first = true;
    bool range_dash = false;  // the last member is a '-' that makes a range
    auto add = [&](absl::string_view text, size_t from) {
      members.append(text.data(), text.size());
      member_origin.insert(member_origin.end(), text.size(), from);
    };
    while (true) {
      if (i_ >= p_.size()) return Error("unterminated character set", at);
      const char c = p_[i_];
      if (c == ']' && !first) break;
      first = false;
      if (c == '\\') {
        const size_t escape_at = i_;
        bool is_not_space = false;
        std::string text;
        PY_RETURN_IF_ERROR(ClassEscape(&text, &is_not_space));
        if (is_not_space || text == SpaceMembers()) {
          // Python refuses a class escape as either end of a range.
          const bool dash_after =
              i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']';
          if (range_dash || dash_after)
            return Error("bad character range", escape_at);
        }
        range_dash = false;
        if (is_not_space) {
          not_space = true;
        } else {
          add(text, escape_at);
        }
        continue;
      }
      if (c == '[') {
        add("\\[", i_);  // literal in Python; PCRE2 would read "[:alpha:]"
        ++i_;
        range_dash = false;
        continue;
      }
      range_dash = c == '-' && !members.empty() && i_ + 1 < p_.size() &&
                   p_[i_ + 1] != ']';
      size_t j = i_ + 1;
      while (j < p_.size() &&
             (static_cast<unsigned char>(p_[j]) & 0xC0) == 0x80)
        ++j;
      add(p_.substr(i_, j - i_), i_);
      i_ = j;
    }
    ++i_;  // ']'
    const std::string& space = SpaceMembers();
    // A '^' that came after \S would read as a negation once \S is gone.
    if (not_space && !members.empty() && members[0] == '^')
      members = absl::StrCat("\\", members);
    if (!not_space) {
      Emit(negated ? "[^" : "[", at);
      result_.pattern += members;
      result_.origin.insert(result_.origin.end(), member_origin.begin(),
                            member_origin.end());
      Emit("]", i_ - 1);
    } else if (members.empty()) {
      Emit(absl::StrCat(negated ? "[" : "[^", space, "]"), at);
    } else if (!negated) {
      // [\Sx]: a non-space, or one of the other members.
      Emit(absl::StrCat("(?:[^", space, "]|[", members, "])"), at);
    } else {
      // [^\Sx]: a space that is not one of the other members.
      Emit(absl::StrCat("(?:(?![", members, "])[", space, "])"), at);
    }
    return absl::OkStatus();
  }

  absl::Status ClassEscape(std::string* text, bool* not_space) {
    return Escape(/*in_class=*/true, text, not_space);
  }

  // The escape at p_[i_] ('\'). Outside a class it is emitted; inside one its
  // PCRE2 text goes to `*text` (\S sets `*not_space` instead).
  absl::Status Escape(bool in_class, std::string* text,
                      bool* not_space = nullptr) {
    const size_t at = i_;
    if (i_ + 1 >= p_.size()) return Error("bad escape (end of pattern)", at);
    const char c = p_[i_ + 1];
    i_ += 2;
    std::string out;
    switch (c) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'a':
        out = absl::StrCat("\\", absl::string_view(&c, 1));
        break;
      case 'A':
      case 'B':
      case 'Z':
      case 'b':
        if (in_class) {
          if (c != 'b')
            return Error(
                absl::StrCat("bad escape \\", absl::string_view(&c, 1)), at);
          out = CodePointEscape(0x08);  // backspace inside a class
        } else {
          out = c == 'Z' ? "\\z" : absl::StrCat("\\", absl::string_view(&c, 1));
        }
        break;
      case 's':
        out =
            in_class ? SpaceMembers() : absl::StrCat("[", SpaceMembers(), "]");
        break;
      case 'S':
        if (in_class) {
          *not_space = true;
          return absl::OkStatus();
        }
        out = absl::StrCat("[^", SpaceMembers(), "]");
        break;
      case 'v':
        out = CodePointEscape(0x0B);
        break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        size_t n = 0;
        while (n < digits && i_ < p_.size() &&
               absl::ascii_isxdigit(static_cast<unsigned char>(p_[i_]))) {
          const char h = p_[i_++];
          cp = cp * 16 +
               (IsDigit(h) ? h - '0' : (absl::ascii_tolower(h) - 'a' + 10));
          ++n;
        }
        if (n != digits)
          return Error(
              absl::StrCat("incomplete escape ", p_.substr(at, i_ - at)), at);
        if (cp > 0x10FFFF)
          return Error(absl::StrCat("bad escape ", p_.substr(at, i_ - at)), at);
        out = CodePointEscape(cp);
        break;
      }
      case 'N': {
        const size_t close = p_.find('}', i_);
        if (i_ >= p_.size() || p_[i_] != '{' ||
            close == absl::string_view::npos) {
          return Error("missing {", at);
        }
        const std::string name =
            absl::AsciiStrToUpper(p_.substr(i_ + 1, close - i_ - 1));
        i_ = close + 1;
        UErrorCode status = U_ZERO_ERROR;
        UChar32 cp = u_charFromName(U_UNICODE_CHAR_NAME, name.c_str(), &status);
        if (U_FAILURE(status)) {
          status = U_ZERO_ERROR;
          cp = u_charFromName(U_CHAR_NAME_ALIAS, name.c_str(), &status);
        }
        if (U_FAILURE(status))
          return Error(absl::StrCat("undefined character name '", name, "'"),
                       at);
        out = CodePointEscape(static_cast<uint32_t>(cp));
        break;
      }
      default:
        if (IsDigit(c)) {
          PY_RETURN_IF_ERROR(Number(c, at, in_class, &out));
        } else if (absl::ascii_isalpha(static_cast<unsigned char>(c))) {
          // PCRE2 knows \h \p \K \Q \R \X ..., Python none of them.
          return Error(absl::StrCat("bad escape \\", absl::string_view(&c, 1)),
                       at);
        } else {
          // Any other character stands for itself; a non-ASCII one whole.
          size_t j = i_;
          while (j < p_.size() &&
                 (static_cast<unsigned char>(p_[j]) & 0xC0) == 0x80)
            ++j;
          out = absl::StrCat("\\", p_.substr(at + 1, j - at - 1));
          i_ = j;
        }
    }
    if (in_class) {
      *text = std::move(out);
    } else {
      Emit(out, at);
    }
    return absl::OkStatus();
  }

  // \0.. and \1.. (first digit `c`, already consumed): sre_parse reads an
  // octal escape or, outside a class, a group reference of one or two digits.
  absl::Status Number(char c, size_t at, bool in_class, std::string* out) {
    std::string digits(1, c);
    auto octal = [&]() -> absl::Status {
      const uint32_t value =
          static_cast<uint32_t>(std::stoul(digits, nullptr, 8));
      if (value > 0377)
        return Error(absl::StrCat("octal escape value \\", digits,
                                  " outside of range 0-0o377"),
                     at);
      *out = CodePointEscape(value);
      return absl::OkStatus();
    };
    if (c == '0' || in_class) {
      if (!IsOctal(c)) return Error(absl::StrCat("bad escape \\", digits), at);
      // Up to three octal digits in all.
      for (int n = 0; n < 2 && i_ < p_.size() && IsOctal(p_[i_]); ++n)
        digits.push_back(p_[i_++]);
      return octal();
    }
    if (i_ < p_.size() && IsDigit(p_[i_])) {
      digits.push_back(p_[i_++]);
      if (IsOctal(digits[0]) && IsOctal(digits[1]) && i_ < p_.size() &&
          IsOctal(p_[i_])) {
        digits.push_back(p_[i_++]);
        return octal();
      }
    }
    // \g{N}: unambiguous in PCRE2, where "\12" might be read as octal.
    *out = absl::StrCat("\\g{", digits, "}");
    return absl::OkStatus();
  }

  absl::string_view p_;
  size_t i_ = 0;
  Pcre2Pattern result_;
};

}  // namespace

absl::StatusOr<Pcre2Pattern> TranslatePattern(absl::string_view pattern,
                                              bool verbose) {
  return Translator(pattern, verbose).Run();
}

}  // namespace evald::py::internal

#undef PY_RETURN_IF_ERROR
