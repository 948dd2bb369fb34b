// File: runners/native/native_runner.h
// -----------------------------------------------------------------------------
// The in-process engine behind the Runner interface: loads a Hugging Face
// checkpoint folder and serves loglikelihood/generate requests through the
// scheduler, the paged KV cache and the prefix cache.
#ifndef EVALD_RUNNERS_NATIVE_NATIVE_RUNNER_H_
#define EVALD_RUNNERS_NATIVE_NATIVE_RUNNER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runners/native/model/model.h"
#include "runners/native/planner/kv_budget.h"
#include "runners/runner.h"

namespace evald::runners::native {

struct NativeRunnerOptions {
  // Hugging Face checkpoint folder (config.json, *.safetensors,
  // tokenizer.json).
  std::string model_dir;
  // Backend: "auto" (the GPU when present), "cpu" or "cuda".
  model::Device device = model::Device::kAuto;
  // CPU worker threads; 0 = all hardware threads.
  int num_threads = 0;
  // Bytes for the paged KV pool; 0 = a default sized from the model
  // (enough for max_batch_tokens plus a prefix cache working set).
  size_t kv_cache_bytes = 0;
  // Token budget of one engine step (prefill chunks + decodes).
  int max_batch_tokens = 2048;
  // Sequences computed at once (the rest of a call's requests wait, not yet
  // started); 0 = 256 on a GPU, where decode needs a wide batch to fill the
  // device, and 16 on the CPU, where a wider batch adds little throughput
  // but makes each step, and so the work a kill or a drain can lose, long.
  int max_num_seqs = 0;
  // Reuse KV blocks across requests with identical prefixes.
  bool prefix_cache = true;
  // Context window; 0 = the model's max_position_embeddings.
  int max_context = 0;
  // The memory ledger of the device, shared with the other resident models
  // (borrowed; outlives the runner). When set, the model's weights and
  // workspaces are reserved in it, its KV pool is guaranteed the planner's
  // minimum (max_context, else 8,192 tokens; runners/native/planner/
  // footprint.h) and grows beyond that while memory is free, giving it back
  // when idle (engine/elastic_kv.h). kv_cache_bytes is ignored then.
  planner::KvBudget* kv_budget = nullptr;
};

absl::StatusOr<std::unique_ptr<Runner>> CreateNativeRunner(
    const NativeRunnerOptions& options);

}  // namespace evald::runners::native

#endif  // EVALD_RUNNERS_NATIVE_NATIVE_RUNNER_H_
