// File: tasks/py_regex.cc
#include "tasks/py_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"

namespace evald::tasks {

struct PyRegex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

}  // namespace

absl::StatusOr<PyRegex> PyRegex::Compile(absl::string_view pattern, PyRegexFlags flags) {
  uint32_t options = PCRE2_UTF | PCRE2_UCP;
  if (flags.ignore_case) options |= PCRE2_CASELESS;
  if (flags.multiline) options |= PCRE2_MULTILINE;
  if (flags.dotall) options |= PCRE2_DOTALL;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrCat("regex \"", pattern, "\" at offset ", error_offset,
                                                   ": ", reinterpret_cast<const char*>(message)));
  }
  PyRegex regex;
  regex.pattern_ = std::string(pattern);
  auto holder = std::make_shared<Code>();
  holder->code = code;
  uint32_t captures = 0;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures);
  regex.group_count_ = static_cast<int>(captures);
  regex.code_ = std::move(holder);
  return regex;
}

template <typename Fn>
void PyRegex::ForEachMatch(absl::string_view text, Fn fn) const {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create_from_pattern(code_->code, nullptr));
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  bool last_was_empty = false;
  while (offset <= text.size()) {
    // After an empty match Python retries at the same position but refuses
    // another empty match there; then it moves one character on.
    uint32_t options = last_was_empty ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
    int rc = pcre2_match(code_->code, subject, text.size(), offset, options, data.get(), nullptr);
    if (rc < 0) {
      if (!last_was_empty) return;
      // Advance one UTF-8 character and search normally.
      ++offset;
      while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) ++offset;
      last_was_empty = false;
      continue;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    Match match;
    match.start = ovector[0];
    match.end = ovector[1];
    for (int g = 1; g <= group_count_; ++g) {
      if (g < rc && ovector[2 * g] != PCRE2_UNSET) {
        match.groups.emplace_back(text.substr(ovector[2 * g], ovector[2 * g + 1] - ovector[2 * g]));
      } else {
        match.groups.emplace_back();
      }
    }
    if (!fn(match)) return;
    last_was_empty = match.start == match.end;
    offset = match.end;
  }
}

std::vector<std::vector<std::string>> PyRegex::FindAll(absl::string_view text) const {
  std::vector<std::vector<std::string>> out;
  ForEachMatch(text, [&](const Match& match) {
    if (group_count_ == 0) {
      out.push_back({std::string(text.substr(match.start, match.end - match.start))});
    } else {
      out.push_back(match.groups);
    }
    return true;
  });
  return out;
}

std::string PyRegex::Sub(absl::string_view text, absl::string_view replacement) const {
  std::string out;
  size_t copied = 0;
  ForEachMatch(text, [&](const Match& match) {
    absl::StrAppend(&out, text.substr(copied, match.start - copied));
    absl::StrAppend(&out, replacement);
    copied = match.end;
    return true;
  });
  absl::StrAppend(&out, text.substr(copied));
  return out;
}

bool PyRegex::Search(absl::string_view text) const {
  bool found = false;
  ForEachMatch(text, [&](const Match&) {
    found = true;
    return false;
  });
  return found;
}

}  // namespace evald::tasks
