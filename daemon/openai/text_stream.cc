// File: daemon/openai/text_stream.cc
#include "daemon/openai/text_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"

namespace evald::daemon::openai {
namespace {

constexpr absl::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// `n`, or the start of an incomplete UTF-8 sequence that ends text[0, n).
size_t CutIncompleteUtf8(absl::string_view text, size_t n) {
  size_t i = n;
  int continuation = 0;
  while (i > 0 && continuation < 3 &&
         (static_cast<unsigned char>(text[i - 1]) & 0xC0) == 0x80) {
    --i;
    ++continuation;
  }
  if (i == 0) return n;
  const auto lead = static_cast<unsigned char>(text[i - 1]);
  int needed = 0;
  if (lead >= 0xF0 && lead < 0xF8) {
    needed = 3;
  } else if (lead >= 0xE0) {
    needed = 2;
  } else if (lead >= 0xC0) {
    needed = 1;
  }
  if (lead >= 0xF8) needed = 0;  // not a lead byte: invalid, not pending
  return needed > continuation ? i - 1 : n;
}

}  // namespace

size_t StableTextLength(absl::string_view text,
                        absl::Span<const std::string> stop) {
  size_t n = text.size();
  for (const std::string& s : stop) {
    if (s.empty()) continue;
    n = std::min(n, text.find(s));
    // The longest proper prefix of `s` that ends the text.
    for (size_t k = std::min(s.size() - 1, text.size()); k > 0; --k) {
      if (absl::EndsWith(text, absl::string_view(s).substr(0, k))) {
        n = std::min(n, text.size() - k);
        break;
      }
    }
  }
  n = CutIncompleteUtf8(text, n);
  while (n >= kReplacementChar.size() &&
         text.substr(n - kReplacementChar.size(), kReplacementChar.size()) ==
             kReplacementChar) {
    n -= kReplacementChar.size();
  }
  for (size_t k = 1; k <= 3 && k <= n; ++k) {
    if (text[n - k] == ' ') {
      n -= k;
      break;
    }
  }
  return n;
}

void TextStream::Update(absl::string_view text_so_far) {
  const size_t stable = StableTextLength(text_so_far, stop_);
  absl::MutexLock lock(&mu_);
  // Text that no longer continues what was sent is left for the final
  // check; nothing sent can be taken back.
  if (stable <= sent_.size() || !absl::StartsWith(text_so_far, sent_)) return;
  std::string delta(text_so_far.substr(sent_.size(), stable - sent_.size()));
  sent_ += delta;
  deltas_.push_back(std::move(delta));
}

void TextStream::Finish(absl::StatusOr<runners::GenerateResult> result) {
  absl::MutexLock lock(&mu_);
  finished_ = std::move(result);
}

TextStream::Delta TextStream::Next() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](TextStream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
        return s->finished_.has_value() || !s->deltas_.empty();
      },
      this));
  Delta delta;
  if (!deltas_.empty()) {
    delta.text = std::move(deltas_.front());
    deltas_.pop_front();
    return delta;
  }
  delta.finished = true;
  result_ = std::move(finished_);
  if (result_->ok()) {
    const std::string& final_text = (*result_)->text;
    if (absl::StartsWith(final_text, sent_)) {
      delta.text = final_text.substr(sent_.size());
    } else {
      diverged_ = true;
    }
  }
  return delta;
}

}  // namespace evald::daemon::openai
