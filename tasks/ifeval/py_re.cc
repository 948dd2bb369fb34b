// File: tasks/ifeval/py_re.cc
#include "tasks/ifeval/py_re.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace evald::tasks::ifeval {

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// RAII for match data (one per call, so a Regex can be shared by threads).
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

size_t NextCodePoint(absl::string_view text, size_t pos) {
  ++pos;
  while (pos < text.size() &&
         (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80)
    ++pos;
  return pos;
}

ReMatch ToMatch(pcre2_match_data* data, int rc) {
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
  uint32_t pairs = pcre2_get_ovector_count(data);
  ReMatch m;
  m.groups.resize(pairs);
  for (uint32_t i = 0; i < pairs; ++i) {
    if (static_cast<int>(i) < rc && ov[2 * i] != PCRE2_UNSET) {
      m.groups[i] = {ov[2 * i], ov[2 * i + 1]};
    } else {
      m.groups[i] = {ReMatch::kUnset, ReMatch::kUnset};
    }
  }
  return m;
}

}  // namespace

absl::StatusOr<Regex> Regex::Compile(absl::string_view pattern, ReFlags flags) {
  uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  if (flags.ignore_case) options |= PCRE2_CASELESS;
  if (flags.multiline) options |= PCRE2_MULTILINE;
  if (flags.verbose) options |= PCRE2_EXTENDED;
  pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(context, PCRE2_NEWLINE_LF);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                    pattern.size(), options, &error, &offset, context);
  pcre2_compile_context_free(context);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(
        absl::StrCat("regex '", pattern, "' at offset ", offset, ": ",
                     reinterpret_cast<char*>(message)));
  }
  // JIT where the platform has it; matching works without it.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  Regex regex;
  regex.pattern_ = std::string(pattern);
  auto holder = std::make_shared<Code>();
  holder->code = code;
  regex.code_ = std::move(holder);
  return regex;
}

Regex Regex::CompileOrDie(absl::string_view pattern, ReFlags flags) {
  absl::StatusOr<Regex> regex = Compile(pattern, flags);
  if (!regex.ok()) {
    std::fprintf(stderr, "ifeval: built-in %s\n",
                 std::string(regex.status().message()).c_str());
    std::abort();
  }
  return *std::move(regex);
}

bool Regex::Search(absl::string_view text) const {
  MatchData data(code_->code);
  int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()),
                       text.size(), 0, 0, data.get(), nullptr);
  return rc >= 0;
}

std::optional<ReMatch> Regex::MatchAt(absl::string_view text,
                                      size_t pos) const {
  MatchData data(code_->code);
  int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()),
                       text.size(), pos, PCRE2_ANCHORED, data.get(), nullptr);
  if (rc < 0) return std::nullopt;
  return ToMatch(data.get(), rc);
}

std::vector<ReMatch> Regex::FindAll(absl::string_view text) const {
  std::vector<ReMatch> out;
  MatchData data(code_->code);
  size_t pos = 0;
  bool retry_nonempty = false;  // the previous match was empty at `pos`
  while (pos <= text.size()) {
    uint32_t options =
        retry_nonempty ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
    int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()),
                         text.size(), pos, options, data.get(), nullptr);
    if (rc < 0) {
      if (!retry_nonempty || pos >= text.size()) break;
      retry_nonempty = false;
      pos = NextCodePoint(text, pos);
      continue;
    }
    ReMatch m = ToMatch(data.get(), rc);
    retry_nonempty = m.start() == m.end();
    pos = m.end();
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> Regex::Split(absl::string_view text) const {
  std::vector<std::string> pieces;
  size_t last = 0;
  for (const ReMatch& m : FindAll(text)) {
    pieces.emplace_back(text.substr(last, m.start() - last));
    last = m.end();
  }
  pieces.emplace_back(text.substr(last));
  return pieces;
}

std::string Regex::Sub(absl::string_view text,
                       absl::string_view replacement) const {
  std::string out;
  size_t last = 0;
  for (const ReMatch& m : FindAll(text)) {
    absl::StrAppend(&out, text.substr(last, m.start() - last));
    for (size_t i = 0; i < replacement.size(); ++i) {
      char c = replacement[i];
      if (c == '$' && i + 1 < replacement.size() && replacement[i + 1] >= '0' &&
          replacement[i + 1] <= '9') {
        int g = replacement[++i] - '0';
        if (g < static_cast<int>(m.groups.size()))
          absl::StrAppend(&out, m.group(text, g));
      } else {
        out.push_back(c);
      }
    }
    last = m.end();
  }
  absl::StrAppend(&out, text.substr(last));
  return out;
}

}  // namespace evald::tasks::ifeval
