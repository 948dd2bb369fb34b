// File: runners/native/engine/engine.h
// -----------------------------------------------------------------------------
// The engine loop: one thread that owns the scheduler, the KV bookkeeping
// and the KV tensors, and runs Model::Forward step after step while there is
// work. Requests arrive as token ids from any thread (Submit*); each one's
// callback runs once, on the engine thread, when it finishes, fails or is
// cancelled.
//
// Two request kinds:
//   score:    logits at chosen positions of a fed token sequence, reduced to
//             log-probabilities of target tokens (loglikelihood); only the
//             requested rows get logits, and the prompt reads the prefix
//             cache like any other.
//   generate: greedy or seeded sampling with stop strings (matched on the
//             decoded text of the generated tokens), EOS ids and a token
//             limit.
//
// Ownership: the engine borrows the Model and the Tokenizer (which must
// outlive it) and owns the KV cache tensors it allocates from the model.
// Thread-safety: Submit*, stats() and kv_cache_bytes() are thread-safe. The
// destructor stops the loop, finishes outstanding requests with
// CancelledError and joins the thread.
#ifndef EVALD_RUNNERS_NATIVE_ENGINE_ENGINE_H_
#define EVALD_RUNNERS_NATIVE_ENGINE_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "runners/native/planner/kv_budget.h"
#include "runners/runner.h"

namespace evald::runners::native {
namespace model {
class KvCache;
class Model;
}  // namespace model
namespace tokenizer {
class Tokenizer;
}  // namespace tokenizer
}  // namespace evald::runners::native

namespace evald::runners::native::engine {

class ElasticKv;
class StepTurns;

struct EngineOptions {
  // Tokens (prefill chunks + decodes) per forward step.
  int max_batch_tokens = 2048;
  // Sequences in flight at once.
  int max_num_seqs = 256;
  // KV blocks of kKvBlockSize tokens, including one reserved null block.
  // With kv_budget: the guaranteed minimum the pool starts with.
  int num_kv_blocks = 0;
  // The memory ledger of the device this model shares with other resident
  // models (the candidate and a judge). When set, the KV pool grows beyond
  // num_kv_blocks as far as the budget grants and gives borrowed blocks back
  // when idle or when another model is starved (elastic_kv.h); a backend
  // without an elastic cache gets a fixed pool, still counted in the budget.
  // nullptr = a fixed pool of num_kv_blocks. Borrowed; must outlive the
  // engine.
  planner::KvBudget* kv_budget = nullptr;
  // Bytes the model holds beside its KV (weights, workspaces), reserved in
  // kv_budget for the engine's life.
  int64_t resident_bytes = 0;
  // Share full KV blocks across requests with identical prefixes.
  bool prefix_cache = true;
  // A model whose every layer attends to a sliding window (Mistral, Phi-3)
  // hands back each sequence's KV blocks wholly outside the window of its
  // future queries as it goes; the results are the same bits. Gemma's
  // global layers read every position, so its blocks all stay. Off: every
  // block stays until its request finishes. With release a request needs
  // room for its window plus a step's tokens, not for its whole length, so
  // a pool smaller than the context serves long prompts; without, its whole
  // length must fit the pool.
  bool release_window_kv = true;
  // Longest sequence served; 0 = the model's max_position_embeddings.
  int max_context = 0;
  // Identity of the model's weights, salting the prefix-cache hashes.
  std::string model_id;
  // Source of time for busy_seconds; nullptr = the real clock.
  const base::Clock* clock = nullptr;
  // Forward steps take turns with the other engines sharing the device
  // (step_turns.h); nullptr = no arbitration. Waiting is not busy time.
  StepTurns* turns = nullptr;
};

// The log-probability of `token` at position `row + 1`, i.e. read from the
// logits of row `row` of the fed tokens.
struct ScoreTarget {
  int row = 0;
  int32_t token = 0;
};

struct ScoreRequest {
  std::vector<int32_t> tokens;  // fed tokens
  std::vector<ScoreTarget> targets;
  // Polled once per step; when true the request ends with CancelledError.
  const std::atomic<bool>* cancelled = nullptr;
  // Polled once per step; when true and the request has not been admitted
  // yet, it ends with CancelledError (runners::CallOptions::stop_admitting).
  const std::atomic<bool>* stop_admitting = nullptr;
  // When > 0, ScoreOutput::top holds the top_k most likely tokens per target.
  int top_k = 0;
};

struct ScoreOutput {
  std::vector<double> logprobs;  // per target, in request order
  std::vector<bool> is_greedy;   // per target: token was the argmax
  // Per target when ScoreRequest::top_k > 0: (id, logprob), most likely first.
  std::vector<std::vector<std::pair<int32_t, double>>> top;
  int prompt_tokens = 0;
  int cached_tokens = 0;  // fed tokens served from the prefix cache
};

struct GenerateTokensRequest {
  std::vector<int32_t> prompt;
  int max_new_tokens = 256;
  runners::SamplingParams sampling;
  std::vector<std::string> stop;  // cut before the earliest match
  std::vector<int32_t>
      eos_ids;  // ends generation (the id is kept in token_ids)
  const std::atomic<bool>* cancelled = nullptr;
  const std::atomic<bool>* stop_admitting = nullptr;  // as ScoreRequest's
  // When set, called on the engine thread after each token that does not end
  // the request, with the decoded text so far (runners::GenerateRequest::
  // on_text). Needs the tokenizer.
  std::function<void(absl::string_view text_so_far)> on_text;
};

struct EngineStats {
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t computed_tokens = 0;  // tokens run through Forward
  int64_t steps = 0;
  int64_t preemptions = 0;
  // The most sequences one step has computed: the work in flight at once.
  int64_t max_running_seqs = 0;
  double busy_seconds = 0;
  // busy_seconds split by the share of prompt and generated tokens per step.
  double prefill_seconds = 0;
  double decode_seconds = 0;
  // KV pool: blocks backed by memory now, the guaranteed minimum, and the
  // blocks borrowed from and given back to a shared budget so far.
  int64_t kv_blocks = 0;
  int64_t kv_min_blocks = 0;
  int64_t kv_grown_blocks = 0;
  int64_t kv_shrunk_blocks = 0;
  // Blocks handed back early because they fell outside a sliding window.
  int64_t kv_window_released_blocks = 0;
};

class Engine {
 public:
  template <typename T>
  using Callback = std::function<void(absl::StatusOr<T>)>;

  // REQUIRES: model and tokenizer outlive the engine. The tokenizer may be
  // null when no request uses stop strings.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      model::Model* model, const tokenizer::Tokenizer* tokenizer,
      const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queue a request. A request that can never run (empty, too long for the
  // context or the KV pool, bad token ids) is refused here and `done` is
  // not called; otherwise `done` is called exactly once, on the engine
  // thread. `done` must not block on other requests of this engine.
  absl::Status SubmitScore(ScoreRequest request, Callback<ScoreOutput> done);
  absl::Status SubmitGenerate(GenerateTokensRequest request,
                              Callback<runners::GenerateResult> done);

  EngineStats stats() const;
  size_t kv_cache_bytes() const;
  // Blocks until no request is queued or running and an elastic pool has
  // given back the blocks it borrowed.
  void WaitUntilIdle() const;
  int max_context() const { return max_context_; }

 private:
  struct Request;
  class Loop;

  struct KvPool;
  Engine(model::Model* model, const tokenizer::Tokenizer* tokenizer,
         const EngineOptions& options, std::unique_ptr<KvPool> pool,
         int max_context);
  absl::Status Enqueue(std::unique_ptr<Request> request);
  void Run();

  model::Model* const model_;
  const tokenizer::Tokenizer* const tokenizer_;
  const EngineOptions options_;
  const std::unique_ptr<KvPool> pool_;
  const int max_context_;
  const int vocab_size_;
  std::atomic<int64_t> next_id_{1};

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Request>> incoming_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool idle_ ABSL_GUARDED_BY(mu_) = false;  // the loop waits with nothing to do
  EngineStats stats_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;  // last: started after everything above exists
};

}  // namespace evald::runners::native::engine

#endif  // EVALD_RUNNERS_NATIVE_ENGINE_ENGINE_H_
