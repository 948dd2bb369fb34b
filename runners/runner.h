// File: runners/runner.h
// -----------------------------------------------------------------------------
// The Runner interface: what tasks and the judge see of a model. A Runner
// serves two request kinds in batches (so the engine can order and share
// prefixes): loglikelihood(context, continuation) and generate(prompt).
//
// Tokenisation rules (the Runner owns them, tasks pass text):
//   loglikelihood follows lm-evaluation-harness: trailing whitespace of the
//   context moves to the front of the continuation; context+continuation is
//   encoded whole (with the tokenizer's default special tokens, i.e. BOS for
//   Llama) and split at the token count of the encoded context; an empty
//   context is replaced by the BOS (or EOS) token.
//
// Thread-safety: implementations are thread-safe; concurrent calls are served
// together (their requests share the engine's batches). Result callbacks of
// one call are never invoked concurrently with each other, and all of them
// have returned when the call returns.
#ifndef EVALD_RUNNERS_RUNNER_H_
#define EVALD_RUNNERS_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace evald::runners {

struct LoglikelihoodRequest {
  std::string context;
  std::string continuation;
};

struct LoglikelihoodResult {
  double logprob = 0;      // sum of the continuation tokens' log-probabilities
  bool is_greedy = false;  // every continuation token was the argmax
  int context_tokens = 0;  // tokens of the context (including BOS)
  std::vector<int32_t> continuation_token_ids;
  int cached_tokens = 0;  // context tokens served from the prefix cache
};

struct SamplingParams {
  double temperature = 0;  // 0 = greedy
  double top_p = 1.0;
  int top_k = 0;      // 0 = off
  uint64_t seed = 0;  // with temperature > 0: same seed, same text
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct GenerateRequest {
  // Either a prompt, sent as is, or chat messages: the runner applies the
  // model's chat template to them (with the generation prompt), or an
  // endpoint its own (runners/chat_prompt.h prepares them).
  std::string prompt;
  std::vector<ChatMessage> messages;
  std::vector<std::string> stop;  // generation ends before the first match
  int max_new_tokens = 256;
  SamplingParams sampling;
  // Optional, for streaming: called after each generated token that does not
  // end the generation, with the decoded text of the tokens so far. That text
  // may end in part of a character or of a stop string; the result's `text`
  // is the final word. Called on the runner's engine thread, so it must be
  // quick and must not call into the runner. Runners that cannot stream
  // never call it.
  std::function<void(absl::string_view text_so_far)> on_text;
};

enum class FinishReason { kStop, kLength, kEos, kCancelled };

struct GenerateResult {
  std::string text;                // decoded, cut before the stop string
  std::vector<int32_t> token_ids;  // generated ids
  FinishReason finish_reason = FinishReason::kLength;
  int prompt_tokens = 0;
  int cached_tokens = 0;
};

// Cumulative counters since the runner was created.
struct RunnerStats {
  int64_t prompt_tokens = 0;         // prompt tokens of all requests
  int64_t cached_prompt_tokens = 0;  // of which served from the prefix cache
  int64_t generated_tokens = 0;
  double busy_seconds = 0;     // wall time spent computing
  double prefill_seconds = 0;  // of which computing prompt tokens
  double decode_seconds = 0;   // of which computing generated tokens
  int64_t kv_bytes = 0;        // KV memory held now (native engines)
  int64_t kv_min_bytes = 0;    // of which guaranteed for good
  int64_t kv_grown_bytes = 0;  // borrowed from a shared budget, in all
  int64_t max_running_seqs =
      0;  // most sequences computed at once (native engines)
};

struct CallOptions {
  // When set and it becomes true, remaining requests finish with
  // absl::CancelledError and the call returns promptly.
  const std::atomic<bool>* cancelled = nullptr;
  // When set and it becomes true, requests the runner has not started yet
  // finish with absl::CancelledError while started ones run to the end: a
  // draining daemon keeps the work in flight instead of throwing it away.
  const std::atomic<bool>* stop_admitting = nullptr;
};

template <typename T>
using ResultCallback =
    std::function<void(size_t index, absl::StatusOr<T> result)>;

class Runner {
 public:
  virtual ~Runner() = default;

  // A stable identity of the model served (e.g. its folder path or endpoint
  // model name).
  virtual std::string model_name() const = 0;
  // Context window in tokens.
  virtual int max_context() const = 0;

  // Scores every request; `on_result(i, ...)` is called once per request i as
  // it finishes, in any order. A per-request problem (prompt too long,
  // invalid UTF-8) is reported through its callback; the returned status is
  // for failures of the whole call.
  virtual absl::Status Loglikelihood(
      absl::Span<const LoglikelihoodRequest> requests,
      const CallOptions& options,
      const ResultCallback<LoglikelihoodResult>& on_result) = 0;

  virtual absl::Status Generate(
      absl::Span<const GenerateRequest> requests, const CallOptions& options,
      const ResultCallback<GenerateResult>& on_result) = 0;

  // Renders the model's chat template over `messages`. Unimplemented where
  // the runner has no template of its own (an endpoint applies its own to
  // GenerateRequest::messages).
  virtual absl::StatusOr<std::string> ApplyChatTemplate(
      absl::Span<const ChatMessage> messages,
      bool add_generation_prompt) const = 0;

  virtual RunnerStats stats() const = 0;

  // Memory the runner holds resident (weights + KV pool), for `evalctl
  // models`; 0 when it holds none (e.g. a remote endpoint).
  virtual size_t resident_bytes() const { return 0; }

  // Token-level access for serving (e.g. an OpenAI-compatible endpoint).
  // Runners that cannot offer it keep these defaults (Unimplemented).

  // Encodes `text`; with `add_special_tokens` the tokenizer's default
  // special tokens (BOS for Llama) are added.
  virtual absl::StatusOr<std::vector<int32_t>> Tokenize(
      const std::string& text, bool add_special_tokens) const {
    return absl::UnimplementedError("tokenize is not supported by this runner");
  }
  // The decoded text piece of one token id.
  virtual absl::StatusOr<std::string> TokenText(int32_t id) const {
    return absl::UnimplementedError(
        "token text is not supported by this runner");
  }
  // Per position p >= 1 of `token_ids`: the log-probability of token p given
  // tokens [0, p) and the `top_k` most likely (id, logprob) there. Position 0
  // has no prediction; its entry holds logprob 0 and no alternatives.
  struct TokenLogprob {
    double logprob = 0;
    std::vector<std::pair<int32_t, double>> top;  // most likely first
  };
  virtual absl::StatusOr<std::vector<TokenLogprob>> PromptLogprobs(
      absl::Span<const int32_t> token_ids, int top_k,
      const CallOptions& options) {
    return absl::UnimplementedError(
        "prompt logprobs are not supported by this runner");
  }
};

}  // namespace evald::runners

#endif  // EVALD_RUNNERS_RUNNER_H_
