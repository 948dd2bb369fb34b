// File: tests/runners/native/model/rope_scaling_numerics_test.cc
// -----------------------------------------------------------------------------
// Phi-3 and the long-context RoPE types (yarn, dynamic NTK, longrope, linear)
// against the independent float64 PyTorch forward (torch_reference.py), on
// tiny random checkpoints whose original context is short, so that the
// prompts run past it, and Phi-3, Mistral, Mixtral and Qwen2/Qwen3 (per
// layer, from max_window_layers) with a sliding window shorter than the
// prompts: per-token log-probabilities within 1e-4 for FP32 weights (2e-2
// for BF16), greedy continuations equal, whole and chunked.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runners/native/model/model.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/runners/native/model/model_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::model {

using testing::CheckpointSpec;
using testing::WriteCheckpoint;
namespace {

struct RopeCase {
  std::string name;
  std::string arch;
  DType dtype;
  std::string rope;  // "" or a rope_type
  double factor = 4.0;
  int original = 32;      // original context (yarn, longrope)
  int max_position = 32;  // config.json's max_position_embeddings
  double partial_rotary = 1.0;
  bool tie = false;
  std::vector<int> prompt_lengths = {20, 45, 70};
  int sliding_window = 0;     // phi3, mistral, mixtral, qwen2, qwen3
  int max_window_layers = 0;  // qwen2, qwen3: the first sliding layer
};

void PrintTo(const RopeCase& c, std::ostream* os) { *os << c.name; }

class RopeNumericsTest : public ::testing::TestWithParam<RopeCase> {};

TEST_P(RopeNumericsTest, MatchesTorchReference) {
  if (!testing::TorchAvailable())
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  const RopeCase& tc = GetParam();
  evald::testing::TempDir dir;
  CheckpointSpec spec;
  spec.arch = tc.arch;
  spec.hidden = 64;
  spec.layers = 3;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.intermediate = 160;
  spec.vocab = 320;
  spec.dtype = tc.dtype;
  spec.seed = 13;
  spec.tie_embeddings = tc.tie;
  spec.norm_jitter = 0.2;
  spec.rope_theta = 10000.0;
  spec.rope_scaling = tc.rope;
  spec.rope_factor = tc.factor;
  spec.rope_original_max_position = tc.original;
  spec.max_position = tc.max_position;
  spec.partial_rotary_factor = tc.partial_rotary;
  spec.sliding_window = tc.sliding_window;
  spec.max_window_layers = tc.max_window_layers;
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  LoadOptions options;
  options.device = Device::kCpu;
  options.num_threads = 2;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> model,
                       Model::Load(dir.path(), options));

  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < tc.prompt_lengths.size(); ++i) {
    prompts.push_back(
        testing::RandomTokens(tc.prompt_lengths[i], spec.vocab, 31 + i));
  }
  constexpr int kGreedy = 8;
  ASSERT_OK_AND_ASSIGN(
      testing::ReferenceResult ref,
      testing::RunTorchReference(dir.path(), prompts, kGreedy));
  const double tol = tc.dtype == DType::kF32 ? 1e-4 : 2e-2;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<KvCache> kv, model->AllocateKvCache(16));
  const std::vector<int32_t> blocks = {9, 3, 14, 0, 7, 11};
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int chunk : {0, 16, 23}) {
      SCOPED_TRACE(absl::StrCat("prompt ", p, " chunk ", chunk));
      ASSERT_OK_AND_ASSIGN(
          auto logits,
          testing::RunPrompt(model.get(), kv.get(), prompts[p], blocks, chunk));
      ASSERT_EQ(logits.size(), prompts[p].size());
      const double max_diff = testing::MaxLogprobDiff(
          logits, prompts[p], ref.next_logprobs[p], ref.last_logprobs[p]);
      EXPECT_LE(max_diff, tol);
      if (chunk == 0)
        std::printf("[%s] prompt of %zu tokens: max |dlogprob| = %.3g\n",
                    tc.name.c_str(), prompts[p].size(), max_diff);
    }
    if (tc.dtype == DType::kF32) {
      ASSERT_OK_AND_ASSIGN(
          std::vector<int32_t> greedy,
          testing::Greedy(model.get(), kv.get(), prompts[p], blocks, kGreedy,
                          static_cast<int>(prompts[p].size())));
      EXPECT_EQ(greedy, ref.greedy[p]) << "prompt " << p;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    LongContext, RopeNumericsTest,
    ::testing::Values(
        // Phi-3 without scaling: fused projections, untied and tied.
        RopeCase{"phi3_f32", "phi3", DType::kF32, "", 1.0, 32, 4096},
        RopeCase{"phi3_bf16_tied", "phi3", DType::kBF16, "", 1.0, 32, 4096, 1.0,
                 true},
        // Phi-3.5-style longrope: short factors for the 20-token prompt,
        // long ones past the 32-token original context; with and without
        // partial rotary (Phi-4-mini rotates 3/4 of each head).
        RopeCase{"phi3_longrope_f32", "phi3", DType::kF32, "longrope", 4.0, 32,
                 4096},
        RopeCase{"phi3_longrope_partial_f32", "phi3", DType::kF32, "longrope",
                 4.0, 32, 4096, 0.75, true},
        RopeCase{"phi3_longrope_bf16", "phi3", DType::kBF16, "longrope", 4.0,
                 32, 4096},
        // yarn as Qwen2.5 writes it: max_position_embeddings equal to the
        // original context, extended by the factor.
        RopeCase{"llama_yarn_f32", "llama", DType::kF32, "yarn", 4.0, 32, 32},
        RopeCase{"qwen2_yarn_f32", "qwen2", DType::kF32, "yarn", 8.0, 32, 256},
        // Dynamic NTK against the 32-token configured context.
        RopeCase{"llama_dynamic_f32", "llama", DType::kF32, "dynamic", 4.0, 32,
                 32},
        RopeCase{"phi3_dynamic_partial_f32", "phi3", DType::kF32, "dynamic",
                 3.0, 32, 32, 0.5},
        RopeCase{"llama_linear_f32", "llama", DType::kF32, "linear", 4.0, 32,
                 128},
        // Phi-3's sliding window, shorter than the longer prompts (and the
        // greedy continuations), alone and with longrope and partial rotary.
        RopeCase{"phi3_window_f32",
                 "phi3",
                 DType::kF32,
                 "",
                 1.0,
                 32,
                 4096,
                 1.0,
                 false,
                 {20, 45, 70},
                 24},
        RopeCase{"phi3_window_longrope_partial_f32",
                 "phi3",
                 DType::kF32,
                 "longrope",
                 4.0,
                 32,
                 4096,
                 0.75,
                 true,
                 {20, 45, 70},
                 40},
        // Mistral's and Mixtral's window over every layer.
        RopeCase{"mistral_window_f32",
                 "mistral",
                 DType::kF32,
                 "",
                 1.0,
                 32,
                 4096,
                 1.0,
                 false,
                 {20, 45, 70},
                 24},
        RopeCase{"mixtral_window_f32",
                 "mixtral",
                 DType::kF32,
                 "",
                 1.0,
                 32,
                 4096,
                 1.0,
                 false,
                 {20, 45, 70},
                 24},
        // Qwen2's and Qwen3's use_sliding_window: layer 0 attends to every
        // position, layers 1 and 2 (>= max_window_layers) to the window.
        RopeCase{"qwen2_window_f32",
                 "qwen2",
                 DType::kF32,
                 "",
                 1.0,
                 32,
                 4096,
                 1.0,
                 false,
                 {20, 45, 70},
                 24,
                 1},
        RopeCase{"qwen3_window_f32",
                 "qwen3",
                 DType::kF32,
                 "",
                 1.0,
                 32,
                 4096,
                 1.0,
                 true,
                 {20, 45, 70},
                 24,
                 2}),
    [](const ::testing::TestParamInfo<RopeCase>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace evald::runners::native::model
