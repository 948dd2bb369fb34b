// File: tests/runners/native/model/moe_numerics_test.cc
// -----------------------------------------------------------------------------
// The mixture-of-experts families (Mixtral, Qwen2-MoE, Qwen3-MoE) against the
// independent float64 PyTorch forward (torch_reference.py): per-token
// log-probabilities over prompts longer than one KV block, in one chunk and
// in several, and greedy continuations decoded one token at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runners/native/model/model.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/runners/native/model/model_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::model {

using testing::CheckpointSpec;
using testing::WriteCheckpoint;
namespace {

struct MoeCase {
  std::string name;
  std::string arch;
  DType dtype;
  int num_experts = 8;
  int experts_per_token = 2;
  int norm_topk_prob = -1;
  int decoder_sparse_step = 1;
  std::vector<int> mlp_only_layers;
  bool tie = false;
};

void PrintTo(const MoeCase& c, std::ostream* os) { *os << c.name; }

class MoeNumericsTest : public ::testing::TestWithParam<MoeCase> {};

TEST_P(MoeNumericsTest, MatchesTorchReference) {
  if (!testing::TorchAvailable())
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  const MoeCase& tc = GetParam();
  evald::testing::TempDir dir;
  CheckpointSpec spec;
  spec.arch = tc.arch;
  spec.hidden = 64;
  spec.layers = 3;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.intermediate = 96;
  spec.moe_intermediate = 48;
  spec.shared_expert_intermediate = 80;
  spec.num_experts = tc.num_experts;
  spec.experts_per_token = tc.experts_per_token;
  spec.norm_topk_prob = tc.norm_topk_prob;
  spec.decoder_sparse_step = tc.decoder_sparse_step;
  spec.mlp_only_layers = tc.mlp_only_layers;
  spec.vocab = 320;
  spec.dtype = tc.dtype;
  spec.seed = 11;
  spec.tie_embeddings = tc.tie;
  spec.norm_jitter = 0.2;
  spec.rope_theta = 10000.0;
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  LoadOptions options;
  options.device = Device::kCpu;
  options.num_threads = 2;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> model,
                       Model::Load(dir.path(), options));

  const std::vector<std::vector<int32_t>> prompts = {
      testing::RandomTokens(45, spec.vocab, 1),
      testing::RandomTokens(70, spec.vocab, 2)};
  constexpr int kGreedy = 8;
  ASSERT_OK_AND_ASSIGN(
      testing::ReferenceResult ref,
      testing::RunTorchReference(dir.path(), prompts, kGreedy));
  const double tol = tc.dtype == DType::kF32 ? 1e-4 : 2e-2;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<KvCache> kv, model->AllocateKvCache(16));
  const std::vector<int32_t> blocks = {9, 3, 14, 0, 7, 11};
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int chunk : {0, 7, 16}) {
      SCOPED_TRACE(absl::StrCat("prompt ", p, " chunk ", chunk));
      ASSERT_OK_AND_ASSIGN(
          auto logits,
          testing::RunPrompt(model.get(), kv.get(), prompts[p], blocks, chunk));
      ASSERT_EQ(logits.size(), prompts[p].size());
      const double max_diff = testing::MaxLogprobDiff(
          logits, prompts[p], ref.next_logprobs[p], ref.last_logprobs[p]);
      EXPECT_LE(max_diff, tol);
      if (chunk == 0)
        std::printf("[%s] prompt %zu max |dlogprob| = %.3g\n", tc.name.c_str(),
                    p, max_diff);
    }
  }

  // Greedy: 8 tokens after each prompt, one at a time, equal to the
  // reference's argmax continuation.
  for (size_t p = 0; p < prompts.size(); ++p) {
    ASSERT_OK_AND_ASSIGN(
        std::vector<int32_t> greedy,
        testing::Greedy(model.get(), kv.get(), prompts[p], blocks, kGreedy));
    EXPECT_EQ(greedy, ref.greedy[p]) << "prompt " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Families, MoeNumericsTest,
    ::testing::Values(
        MoeCase{"mixtral_f32", "mixtral", DType::kF32},
        MoeCase{"mixtral_bf16", "mixtral", DType::kBF16},
        // Top 3 of 6 experts, tied embeddings.
        MoeCase{
            "mixtral_f32_top3", "mixtral", DType::kF32, 6, 3, -1, 1, {}, true},
        // Shared expert; softmax then top-k without renormalisation; the
        // middle layer dense (mlp_only_layers).
        MoeCase{"qwen2_moe_f32", "qwen2_moe", DType::kF32, 8, 2, 0, 1, {1}},
        MoeCase{"qwen2_moe_f32_norm", "qwen2_moe", DType::kF32, 8, 4, 1},
        MoeCase{"qwen2_moe_bf16", "qwen2_moe", DType::kBF16, 8, 2, 0},
        // q/k norms; renormalised top-k; every 2nd layer sparse.
        MoeCase{"qwen3_moe_f32", "qwen3_moe", DType::kF32, 8, 2, 1, 2},
        MoeCase{"qwen3_moe_f32_nonorm", "qwen3_moe", DType::kF32, 16, 4, 0},
        MoeCase{"qwen3_moe_bf16", "qwen3_moe", DType::kBF16, 8, 2, 1}),
    [](const ::testing::TestParamInfo<MoeCase>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace evald::runners::native::model
