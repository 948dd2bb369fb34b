// File: py/re.cc
#include "py/re.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "py/re_syntax.h"

namespace evald::py {

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Per-thread match resources, so a shared Regex needs no lock: the JIT stack
// (grown up to 64 MiB: a long run of one class, e.g. 100 KB of spaces under
// `\s+(?!\S)`, overflows the default 32 KiB), the match context that hands it
// to the JIT, and the one-pair match data FindSpans reuses.
struct ThreadMatchState {
  ThreadMatchState()
      : context(pcre2_match_context_create(nullptr)),
        jit_stack(pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr)),
        span_data(pcre2_match_data_create(1, nullptr)) {
    if (context != nullptr && jit_stack != nullptr)
      pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~ThreadMatchState() {
    pcre2_match_data_free(span_data);
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
  }
  ThreadMatchState(const ThreadMatchState&) = delete;
  ThreadMatchState& operator=(const ThreadMatchState&) = delete;

  pcre2_match_context* context;
  pcre2_jit_stack* jit_stack;
  pcre2_match_data* span_data;
};

ThreadMatchState& MatchState() {
  thread_local ThreadMatchState state;
  return state;
}

// Match data with room for every group of `code`, one per call.
class MatchData {
 public:
  explicit MatchData(const pcre2_code* code)
      : data_(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(data_); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
  pcre2_match_data* get() const { return data_; }

 private:
  pcre2_match_data* data_;
};

ReMatch ToMatch(pcre2_match_data* data, int rc) {
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
  const uint32_t pairs = pcre2_get_ovector_count(data);
  ReMatch m;
  m.spans.resize(pairs);
  for (uint32_t g = 0; g < pairs; ++g) {
    if (static_cast<int>(g) < rc && ov[2 * g] != PCRE2_UNSET) {
      m.spans[g] = {ov[2 * g], ov[2 * g + 1]};
    } else {
      m.spans[g] = {ReMatch::kUnset, ReMatch::kUnset};
    }
  }
  return m;
}

// Byte length of the UTF-8 sequence `lead` starts (1 for a stray byte).
size_t Utf8Length(uint8_t lead) {
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

std::string Pcre2Message(int code) {
  PCRE2_UCHAR message[256];
  pcre2_get_error_message(code, message, sizeof(message));
  return reinterpret_cast<const char*>(message);
}

// One piece of a parsed re.sub template: literal text, or a group number.
struct TemplatePiece {
  std::string literal;
  int group = -1;
};

// sre_parse.parse_template; see Regex::Sub for what a bad template does.
std::vector<TemplatePiece> ParseTemplate(absl::string_view repl,
                                         const Regex& regex) {
  std::vector<TemplatePiece> pieces(1);
  auto literal = [&](absl::string_view text) {
    if (pieces.back().group >= 0) pieces.emplace_back();
    pieces.back().literal.append(text.data(), text.size());
  };
  auto group = [&](int g, absl::string_view as_written) {
    if (g < 0 || g > regex.group_count()) return literal(as_written);
    pieces.push_back({"", g});
  };
  auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  for (size_t i = 0; i < repl.size();) {
    if (repl[i] != '\\' || i + 1 == repl.size()) {
      literal(repl.substr(i++, 1));
      continue;
    }
    const size_t at = i;
    const char c = repl[i + 1];
    i += 2;
    if (c == 'g') {
      const size_t close = repl.find('>', i);
      if (i >= repl.size() || repl[i] != '<' ||
          close == absl::string_view::npos) {
        literal(repl.substr(at, i - at));
        continue;
      }
      const absl::string_view name = repl.substr(i + 1, close - i - 1);
      i = close + 1;
      int g = -1;
      if (!name.empty() && std::all_of(name.begin(), name.end(), is_digit)) {
        g = name.size() < 6 ? std::atoi(std::string(name).c_str()) : -1;
      } else {
        g = regex.GroupIndex(name);
      }
      group(g, repl.substr(at, i - at));
    } else if (c == '0') {
      std::string digits;
      while (digits.size() < 2 && i < repl.size() && is_octal(repl[i]))
        digits.push_back(repl[i++]);
      literal(std::string(
          1, static_cast<char>(
                 digits.empty() ? 0 : std::stoi(digits, nullptr, 8))));
    } else if (is_digit(c)) {
      std::string digits(1, c);
      if (i < repl.size() && is_digit(repl[i])) {
        digits.push_back(repl[i++]);
        if (is_octal(digits[0]) && is_octal(digits[1]) && i < repl.size() &&
            is_octal(repl[i])) {
          digits.push_back(repl[i++]);
          const int value = std::stoi(digits, nullptr, 8);
          std::string utf8;
          if (value < 0x80) {
            utf8.push_back(static_cast<char>(value));
          } else {
            utf8 = {static_cast<char>(0xC0 | (value >> 6)),
                    static_cast<char>(0x80 | (value & 0x3F))};
          }
          literal(value <= 0377 ? absl::string_view(utf8)
                                : repl.substr(at, i - at));
          continue;
        }
      }
      group(std::atoi(digits.c_str()), repl.substr(at, i - at));
    } else {
      static constexpr absl::string_view kFrom = "abfnrtv\\";
      static constexpr absl::string_view kTo = "\a\b\f\n\r\t\v\\";
      const size_t k = kFrom.find(c);
      // Any other escape stays as written: Python keeps "\-" and rejects
      // "\q", which REQUIRES rules out.
      literal(k != absl::string_view::npos ? kTo.substr(k, 1)
                                           : repl.substr(at, i - at));
    }
  }
  return pieces;
}

}  // namespace

absl::StatusOr<Regex> Regex::Build(absl::string_view pattern,
                                   absl::string_view pcre2_pattern,
                                   const std::vector<size_t>* origin,
                                   uint32_t options) {
  pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
  if (context == nullptr)
    return absl::ResourceExhaustedError("regex: out of memory");
  // Python's '.', '$' and multiline '^' know only "\n".
  pcre2_set_newline(context, PCRE2_NEWLINE_LF);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pcre2_pattern.data()),
                    pcre2_pattern.size(), options, &error, &offset, context);
  pcre2_compile_context_free(context);
  if (code == nullptr) {
    // The position in the pattern as its author wrote it.
    const size_t position = origin == nullptr         ? offset
                            : offset < origin->size() ? (*origin)[offset]
                                                      : pattern.size();
    return absl::InvalidArgumentError(absl::StrCat("regex '", pattern,
                                                   "': ", Pcre2Message(error),
                                                   " at position ", position));
  }
  // The JIT is an optimisation only: without it the interpreter matches.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  Regex regex;
  regex.pattern_ = std::string(pattern);
  uint32_t captures = 0;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures);
  regex.group_count_ = static_cast<int>(captures);
  auto holder = std::make_shared<Code>();
  holder->code = code;
  regex.code_ = std::move(holder);
  return regex;
}

absl::StatusOr<Regex> Regex::Compile(absl::string_view pattern, ReFlags flags) {
  absl::StatusOr<internal::Pcre2Pattern> translated =
      internal::TranslatePattern(pattern, flags.verbose);
  if (!translated.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("regex '", pattern, "': ", translated.status().message()));
  }
  uint32_t options =
      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_ALT_CIRCUMFLEX;
  if (flags.ignore_case) options |= PCRE2_CASELESS;
  if (flags.multiline) options |= PCRE2_MULTILINE;
  if (flags.dotall) options |= PCRE2_DOTALL;
  if (translated->verbose) options |= PCRE2_EXTENDED;
  return Build(pattern, translated->pattern, &translated->origin, options);
}

Regex Regex::CompileOrDie(absl::string_view pattern, ReFlags flags) {
  absl::StatusOr<Regex> regex = Compile(pattern, flags);
  if (!regex.ok()) {
    std::fprintf(stderr, "built-in %s\n",
                 std::string(regex.status().message()).c_str());
    std::abort();
  }
  return *std::move(regex);
}

absl::StatusOr<Regex> Regex::CompilePcre2(absl::string_view pattern) {
  return Build(pattern, pattern, nullptr,
               PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF);
}

int Regex::GroupIndex(absl::string_view name) const {
  const std::string terminated(name);
  const int n = pcre2_substring_number_from_name(
      code_->code, reinterpret_cast<PCRE2_SPTR>(terminated.c_str()));
  return n > 0 ? n : -1;
}

std::optional<ReMatch> Regex::MatchFrom(absl::string_view text, size_t pos,
                                        uint32_t options) const {
  if (pos > text.size()) return std::nullopt;
  MatchData data(code_->code);
  const int rc =
      pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()),
                  text.size(), pos, options, data.get(), MatchState().context);
  if (rc < 0) return std::nullopt;
  return ToMatch(data.get(), rc);
}

std::optional<ReMatch> Regex::Search(absl::string_view text, size_t pos) const {
  return MatchFrom(text, pos, 0);
}

std::optional<ReMatch> Regex::Match(absl::string_view text, size_t pos) const {
  return MatchFrom(text, pos, PCRE2_ANCHORED);
}

template <typename Fn>
void Regex::ForEachMatch(absl::string_view text, Fn fn) const {
  MatchData data(code_->code);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  pcre2_match_context* context = MatchState().context;
  size_t pos = 0;
  bool after_empty = false;
  while (pos <= text.size()) {
    // After an empty match Python searches on from the same place but wants
    // a non-empty match there (sre's must_advance).
    const int rc = pcre2_match(code_->code, subject, text.size(), pos,
                               after_empty ? PCRE2_NOTEMPTY_ATSTART : 0,
                               data.get(), context);
    // No match, or a match past PCRE2's resource limits: either ends the scan.
    if (rc < 0) return;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.get());
    after_empty = ov[0] == ov[1];
    pos = ov[1];
    if (!fn(ToMatch(data.get(), rc))) return;
  }
}

std::vector<ReMatch> Regex::FindIter(absl::string_view text) const {
  std::vector<ReMatch> out;
  ForEachMatch(text, [&](ReMatch m) {
    out.push_back(std::move(m));
    return true;
  });
  return out;
}

std::vector<std::vector<std::string>> Regex::FindAll(
    absl::string_view text) const {
  std::vector<std::vector<std::string>> out;
  ForEachMatch(text, [&](const ReMatch& m) {
    std::vector<std::string>& row = out.emplace_back();
    if (group_count_ == 0) row.emplace_back(m.group(text, 0));
    for (int g = 1; g <= group_count_; ++g) row.emplace_back(m.group(text, g));
    return true;
  });
  return out;
}

std::vector<std::string> Regex::Split(absl::string_view text) const {
  std::vector<std::string> pieces;
  size_t last = 0;
  ForEachMatch(text, [&](const ReMatch& m) {
    pieces.emplace_back(text.substr(last, m.start() - last));
    for (int g = 1; g <= group_count_; ++g)
      pieces.emplace_back(m.group(text, g));
    last = m.end();
    return true;
  });
  pieces.emplace_back(text.substr(last));
  return pieces;
}

std::string Regex::Sub(absl::string_view text, absl::string_view repl) const {
  const std::vector<TemplatePiece> pieces = ParseTemplate(repl, *this);
  std::string out;
  size_t last = 0;
  ForEachMatch(text, [&](const ReMatch& m) {
    absl::StrAppend(&out, text.substr(last, m.start() - last));
    for (const TemplatePiece& piece : pieces) {
      absl::StrAppend(&out, piece.literal);
      if (piece.group >= 0) absl::StrAppend(&out, m.group(text, piece.group));
    }
    last = m.end();
    return true;
  });
  absl::StrAppend(&out, text.substr(last));
  return out;
}

absl::Status Regex::FindSpans(
    absl::string_view text,
    std::vector<std::pair<size_t, size_t>>* spans) const {
  ThreadMatchState& state = MatchState();
  if (state.span_data == nullptr || state.context == nullptr) {
    return absl::ResourceExhaustedError("regex: out of memory");
  }
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset <= text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), offset, 0,
                               state.span_data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0)
      return absl::ResourceExhaustedError(
          absl::StrCat("regex match failed: ", Pcre2Message(rc)));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state.span_data);
    const size_t start = ov[0];
    const size_t end = ov[1];
    if (end > start) {
      spans->emplace_back(start, end);
      offset = end;
    } else {
      // An empty match yields nothing; step over one character.
      if (start >= text.size()) break;
      offset = start + Utf8Length(static_cast<uint8_t>(text[start]));
    }
  }
  return absl::OkStatus();
}

}  // namespace evald::py
