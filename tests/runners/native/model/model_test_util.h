// File: tests/runners/native/model/model_test_util.h
// -----------------------------------------------------------------------------
// Helpers for the model tests: running whole prompts through Model::Forward
// in chunks over a scattered block table, log-softmax, and calling the
// PyTorch reference (torch_reference.py) in a child process.
#ifndef EVALD_TESTS_RUNNERS_NATIVE_MODEL_MODEL_TEST_UTIL_H_
#define EVALD_TESTS_RUNNERS_NATIVE_MODEL_MODEL_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runners/native/model/model.h"

namespace evald::runners::native::testing {

// log-softmax of `logits`.
std::vector<double> LogSoftmax(const std::vector<float>& logits);

// Runs `tokens` through `model` in chunks of `chunk` tokens (0 = one chunk),
// using the physical blocks `blocks` (must cover the prompt), asking for the
// logits of every row. Returns one logits vector per token.
absl::StatusOr<std::vector<std::vector<float>>> RunPrompt(
    model::Model* model, model::KvCache* kv, const std::vector<int32_t>& tokens,
    const std::vector<int32_t>& blocks, int chunk);

struct ReferenceResult {
  std::vector<std::vector<double>> next_logprobs;
  std::vector<std::vector<double>> last_logprobs;
  // The greedy continuation of each prompt, when asked for.
  std::vector<std::vector<int32_t>> greedy;
};

// True when /usr/bin/python3 can import torch.
bool TorchAvailable();

// Runs torch_reference.py on `model_dir` for `prompts`, with `greedy`
// argmax tokens continuing each.
absl::StatusOr<ReferenceResult> RunTorchReference(
    const std::string& model_dir,
    const std::vector<std::vector<int32_t>>& prompts, int greedy = 0);

// The largest |log-probability - reference| over each row's next prompt
// token and over the whole last row (`next_ref`, `last_ref`: one prompt's
// ReferenceResult rows).
double MaxLogprobDiff(const std::vector<std::vector<float>>& logits,
                      const std::vector<int32_t>& prompt,
                      const std::vector<double>& next_ref,
                      const std::vector<double>& last_ref);

// Greedy continuation of `prompt` by `n` tokens through the KV cache, each
// step a one-token chunk (with `rope_length`, 0 for none, as the engine
// sets it for length-dependent RoPE).
absl::StatusOr<std::vector<int32_t>> Greedy(model::Model* model,
                                            model::KvCache* kv,
                                            const std::vector<int32_t>& prompt,
                                            const std::vector<int32_t>& blocks,
                                            int n, int rope_length = 0);

// Deterministic pseudo-random token ids in [0, vocab).
std::vector<int32_t> RandomTokens(int n, int vocab, uint64_t seed);

}  // namespace evald::runners::native::testing

#endif  // EVALD_TESTS_RUNNERS_NATIVE_MODEL_MODEL_TEST_UTIL_H_
