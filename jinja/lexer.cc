#include "jinja/lexer.h"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/utf8.h"

namespace evald::jinja {
namespace {

bool IsNameStart(char c) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
}
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

class Lexer {
 public:
  Lexer(absl::string_view source, const Positions& positions,
        const LexOptions& options)
      : src_(source), pos_(positions), opts_(options) {}

  absl::StatusOr<std::vector<Token>> Run() {
    size_t i = 0;
    bool lstrip_next = false;
    while (i < src_.size()) {
      size_t tag = FindTag(i);
      std::string text(src_.substr(i, tag - i));
      if (lstrip_next) {
        size_t k = 0;
        while (k < text.size() && IsSpace(text[k])) ++k;
        text.erase(0, k);
        lstrip_next = false;
      }
      if (tag == src_.size()) {
        EmitText(std::move(text), i);
        break;
      }
      const char kind = src_[tag + 1];
      size_t p = tag + 2;
      const bool minus = p < src_.size() && src_[p] == '-';
      const bool plus = p < src_.size() && src_[p] == '+';
      if (minus || plus) ++p;
      if (minus) {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      } else if (!plus && kind != '{' && opts_.lstrip_blocks) {
        // lstrip_blocks: drop spaces and tabs between the line start and a
        // block or comment tag.
        size_t k = text.size();
        while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t')) --k;
        const size_t line_pos = tag - (text.size() - k);
        if (line_pos == 0 || src_[line_pos - 1] == '\n') text.resize(k);
      }
      EmitText(std::move(text), i);
      if (kind == '#') {
        const size_t end = src_.find("#}", p);
        if (end == absl::string_view::npos)
          return pos_.Error(tag, "unclosed comment");
        i = end + 2;
        if (end > p && src_[end - 1] == '-') {
          lstrip_next = true;
        } else if (opts_.trim_blocks && i < src_.size() && src_[i] == '\n') {
          ++i;
        }
        continue;
      }
      const bool block = kind == '%';
      tokens_.push_back(
          Token{block ? Tok::kBlockBegin : Tok::kVarBegin, "", 0, 0, tag});
      const size_t first_token = tokens_.size();
      ASSIGN_OR_RETURN(size_t after, LexInside(p, block, tag, &lstrip_next));
      i = after;
      if (block && tokens_.size() == first_token + 2 &&
          tokens_[first_token].type == Tok::kName &&
          tokens_[first_token].value == "raw") {
        // The raw body starts right after the tag: trim_blocks does not
        // apply to it (a `-%}` still strips).
        const size_t close = tokens_.back().offset;
        if (src_[close] != '-') i = close + 2;
        tokens_.resize(first_token - 1);
        ASSIGN_OR_RETURN(i, LexRaw(i, tag, &lstrip_next));
      }
    }
    tokens_.push_back(Token{Tok::kEof, "", 0, 0, src_.size()});
    return std::move(tokens_);
  }

 private:
  size_t FindTag(size_t from) const {
    for (size_t k = from; k + 1 < src_.size(); ++k) {
      if (src_[k] == '{' &&
          (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#'))
        return k;
    }
    return src_.size();
  }

  void EmitText(std::string text, size_t offset) {
    if (text.empty()) return;
    tokens_.push_back(Token{Tok::kText, std::move(text), 0, 0, offset});
  }

  // Lexes the inside of a {% %} or {{ }} tag starting at `p`; returns the
  // offset after the closing delimiter.
  absl::StatusOr<size_t> LexInside(size_t p, bool block, size_t tag,
                                   bool* lstrip_next) {
    int depth = 0;
    const char close = block ? '%' : '}';
    while (true) {
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (p >= src_.size()) {
        return pos_.Error(tag, block ? "unclosed block tag (missing '%}')"
                                     : "unclosed expression (missing '}}')");
      }
      if (depth == 0) {
        size_t q = p;
        const bool minus = src_[q] == '-' && q + 2 < src_.size() + 0 &&
                           src_[q + 1] == close && q + 2 < src_.size() &&
                           src_[q + 2] == '}';
        if (minus) ++q;
        if (q + 1 < src_.size() && src_[q] == close && src_[q + 1] == '}') {
          tokens_.push_back(
              Token{block ? Tok::kBlockEnd : Tok::kVarEnd, "", 0, 0, p});
          size_t after = q + 2;
          if (minus) {
            *lstrip_next = true;
          } else if (block && opts_.trim_blocks && after < src_.size() &&
                     src_[after] == '\n') {
            ++after;  // trim_blocks
          }
          return after;
        }
      }
      const char c = src_[p];
      if (IsNameStart(c)) {
        size_t q = p;
        while (q < src_.size() && IsNameChar(src_[q])) ++q;
        tokens_.push_back(
            Token{Tok::kName, std::string(src_.substr(p, q - p)), 0, 0, p});
        p = q;
        continue;
      }
      if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        ASSIGN_OR_RETURN(p, LexNumber(p));
        continue;
      }
      if (c == '\'' || c == '"') {
        ASSIGN_OR_RETURN(p, LexString(p));
        continue;
      }
      static constexpr absl::string_view kTwo[] = {
          "//", "**", "==", "!=", "<=", ">="};
      bool matched = false;
      for (absl::string_view op : kTwo) {
        if (src_.substr(p, 2) == op) {
          tokens_.push_back(Token{Tok::kOp, std::string(op), 0, 0, p});
          p += 2;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (absl::string_view("+-*/%~<>=()[]{},.:|").find(c) !=
          absl::string_view::npos) {
        if (c == '(' || c == '[' || c == '{') ++depth;
        if (c == ')' || c == ']' || c == '}') {
          if (depth == 0)
            return pos_.Error(
                p, absl::StrCat("unexpected '", std::string(1, c), "'"));
          --depth;
        }
        tokens_.push_back(Token{Tok::kOp, std::string(1, c), 0, 0, p});
        ++p;
        continue;
      }
      return pos_.Error(p,
                        absl::StrCat("unexpected character '",
                                     absl::CHexEscape(std::string(1, c)), "'"));
    }
  }

  absl::StatusOr<size_t> LexNumber(size_t p) {
    size_t q = p;
    bool is_float = false;
    while (q < src_.size() &&
           (absl::ascii_isdigit(static_cast<unsigned char>(src_[q])) ||
            src_[q] == '_'))
      ++q;
    if (q + 1 < src_.size() && src_[q] == '.' &&
        absl::ascii_isdigit(static_cast<unsigned char>(src_[q + 1]))) {
      is_float = true;
      ++q;
      while (q < src_.size() &&
             (absl::ascii_isdigit(static_cast<unsigned char>(src_[q])) ||
              src_[q] == '_'))
        ++q;
    }
    if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
      size_t r = q + 1;
      if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
      if (r < src_.size() &&
          absl::ascii_isdigit(static_cast<unsigned char>(src_[r]))) {
        is_float = true;
        q = r;
        while (q < src_.size() &&
               absl::ascii_isdigit(static_cast<unsigned char>(src_[q])))
          ++q;
      }
    }
    std::string digits;
    for (char ch : src_.substr(p, q - p)) {
      if (ch != '_') digits.push_back(ch);
    }
    Token t{is_float ? Tok::kFloat : Tok::kInt, digits, 0, 0, p};
    errno = 0;
    if (is_float) {
      t.float_value = std::strtod(digits.c_str(), nullptr);
    } else {
      t.int_value = std::strtoll(digits.c_str(), nullptr, 10);
      if (errno == ERANGE) return pos_.Error(p, "integer literal out of range");
    }
    tokens_.push_back(std::move(t));
    return q;
  }

  absl::StatusOr<size_t> LexString(size_t p) {
    const char quote = src_[p];
    std::string out;
    size_t q = p + 1;
    while (true) {
      if (q >= src_.size()) return pos_.Error(p, "unterminated string literal");
      const char c = src_[q];
      if (c == quote) break;
      if (c != '\\') {
        out.push_back(c);
        ++q;
        continue;
      }
      if (q + 1 >= src_.size())
        return pos_.Error(p, "unterminated string literal");
      const char e = src_[q + 1];
      q += 2;
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
          // Python's octal escape: up to three digits.
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int k = 0;
               k < 2 && q < src_.size() && src_[q] >= '0' && src_[q] <= '7';
               ++k, ++q)
            cp = cp * 8 + static_cast<uint32_t>(src_[q] - '0');
          base::AppendUtf8(cp, &out);
          break;
        }
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case '\n':
          break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          if (q + n > src_.size())
            return pos_.Error(q - 2, "truncated escape in string literal");
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            const char h = src_[q + k];
            int d;
            if (h >= '0' && h <= '9')
              d = h - '0';
            else if (h >= 'a' && h <= 'f')
              d = h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
              d = h - 'A' + 10;
            else
              return pos_.Error(q - 2, "invalid escape in string literal");
            cp = cp * 16 + d;
          }
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return pos_.Error(q - 2,
                              "invalid code point escape in string literal");
          }
          q += n;
          base::AppendUtf8(cp, &out);
          break;
        }
        default:
          // Python keeps unknown escapes verbatim.
          out.push_back('\\');
          out.push_back(e);
      }
    }
    tokens_.push_back(Token{Tok::kString, std::move(out), 0, 0, p});
    return q + 1;
  }

  // After {% raw %}: the literal text up to {% endraw %}.
  absl::StatusOr<size_t> LexRaw(size_t i, size_t tag, bool* lstrip_next) {
    size_t search = i;
    while (true) {
      const size_t open = src_.find("{%", search);
      if (open == absl::string_view::npos)
        return pos_.Error(tag, "missing {% endraw %}");
      size_t p = open + 2;
      const bool minus = p < src_.size() && src_[p] == '-';
      if (minus || (p < src_.size() && src_[p] == '+')) ++p;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (src_.substr(p, 6) != "endraw") {
        search = open + 2;
        continue;
      }
      p += 6;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      bool close_minus = false;
      if (p < src_.size() && src_[p] == '-') {
        close_minus = true;
        ++p;
      }
      if (src_.substr(p, 2) != "%}") {
        search = open + 2;
        continue;
      }
      std::string text(src_.substr(i, open - i));
      if (*lstrip_next) {
        size_t k = 0;
        while (k < text.size() && IsSpace(text[k])) ++k;
        text.erase(0, k);
        *lstrip_next = false;
      }
      if (minus) {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      }
      EmitText(std::move(text), i);
      size_t after = p + 2;
      if (close_minus) {
        *lstrip_next = true;
      } else if (opts_.trim_blocks && after < src_.size() &&
                 src_[after] == '\n') {
        ++after;
      }
      return after;
    }
  }

  absl::string_view src_;
  const Positions& pos_;
  const LexOptions opts_;
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source,
                                            const Positions& positions,
                                            const LexOptions& options) {
  Lexer lexer(source, positions, options);
  return lexer.Run();
}

}  // namespace evald::jinja
