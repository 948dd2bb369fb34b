// File: daemon/openai/text_stream.h
// -----------------------------------------------------------------------------
// Carries the growing text of one generation from the engine's thread (which
// must never wait on a client) to the thread that writes the SSE response,
// and decides how much of it is safe to send: the concatenated deltas must
// equal the final, non-streamed text, which is cut before a stop string.
//
// Ownership: owns copies of the stop strings and the deltas not yet taken.
// Thread-safety: Update() and Finish() (one producer) and Next() (one
// consumer) may run concurrently.
#ifndef EVALD_DAEMON_OPENAI_TEXT_STREAM_H_
#define EVALD_DAEMON_OPENAI_TEXT_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "runners/runner.h"

namespace evald::daemon::openai {

// How many leading bytes of `text`, a generation's decoded text so far, will
// stay as they are whatever comes next. Held back:
//   - an incomplete UTF-8 sequence at the end, and trailing U+FFFD (a lossy
//     decoder shows a split character that way until its last byte comes);
//   - a tail that could be the start of one of `stop`, and anything from a
//     whole stop string on (the final text is cut before it);
//   - a tail of at most 3 bytes that begins with a space: tokenizers that
//     clean up spaces rewrite " ." as "." or " n't" as "n't" once the next
//     token arrives, and every such pattern starts with a space and is at
//     most 4 bytes long.
size_t StableTextLength(absl::string_view text,
                        absl::Span<const std::string> stop);

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop) : stop_(std::move(stop)) {}

  // Producer: the decoded text so far. Queues what became stable since the
  // last call as one delta; never waits, so a slow client delays its own
  // deltas, never the engine. The queue holds at most the text itself.
  void Update(absl::string_view text_so_far);
  // Producer: the generation ended.
  void Finish(absl::StatusOr<runners::GenerateResult> result);

  struct Delta {
    std::string text;       // to send now; may be empty
    bool finished = false;  // result() is set; nothing more will come
  };
  // Consumer: waits for the next queued delta, in order; after the last one,
  // returns the rest of the final text with `finished`. Not to be called
  // again after that.
  Delta Next();

  // REQUIRES: Next() returned finished.
  const absl::StatusOr<runners::GenerateResult>& result() const {
    return *result_;
  }
  // The final text did not continue what had been sent (a tokenizer rewrote
  // more than StableTextLength() allows for); the deltas fall short of it.
  bool diverged() const { return diverged_; }

 private:
  const std::vector<std::string> stop_;
  absl::Mutex mu_;
  std::string sent_ ABSL_GUARDED_BY(mu_);  // all deltas queued so far
  std::deque<std::string> deltas_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::StatusOr<runners::GenerateResult>> finished_
      ABSL_GUARDED_BY(mu_);
  // Consumer side only.
  std::optional<absl::StatusOr<runners::GenerateResult>> result_;
  bool diverged_ = false;
};

}  // namespace evald::daemon::openai

#endif  // EVALD_DAEMON_OPENAI_TEXT_STREAM_H_
