// The CUDA backend against the CPU backend (its numerical reference) and the
// determinism contract of model.h on the GPU. Every test that needs a GPU
// skips with the reason when none is usable (CI machines have none).
#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runners/native/model/backend.h"
#include "runners/native/model/model.h"
#include "runners/native/native_runner.h"
#include "runners/native/planner/footprint.h"
#include "runners/native/planner/kv_budget.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/runners/native/model/model_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::cuda {

using model::Device;
using model::DType;
using model::FindGpuBackend;
using model::ForwardOutput;
using model::GpuBackend;
using model::LoadOptions;
using model::Model;
using model::SeqChunk;
using testing::CheckpointPreset;
using testing::CheckpointSpec;
using testing::WriteCheckpoint;
namespace {

using Logits = std::vector<std::vector<float>>;
using ::testing::HasSubstr;

// Empty when a GPU is usable, else why not.
std::string NoGpuReason() {
  const GpuBackend* gpu = FindGpuBackend();
  if (gpu == nullptr) return "this build has no CUDA backend";
  absl::Status available = gpu->available(0);
  return available.ok() ? "" : std::string(available.message());
}

#define SKIP_WITHOUT_GPU()                                             \
  do {                                                                 \
    const std::string reason = NoGpuReason();                          \
    if (!reason.empty()) GTEST_SKIP() << "no CUDA device: " << reason; \
  } while (0)

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// "llama", "qwen2", ...; a "-awq" suffix writes the projections as AWQ INT4
// (group 128; the intermediate size becomes a multiple of it).
CheckpointSpec Spec(const std::string& name, uint64_t seed) {
  const bool awq = absl::EndsWith(name, "-awq");
  const std::string arch = awq ? name.substr(0, name.size() - 4) : name;
  CheckpointSpec spec;
  spec.arch = arch;
  spec.hidden = 256;
  spec.layers = 3;
  spec.heads = 8;
  spec.kv_heads = 2;
  spec.head_dim = arch == "qwen3" ? 64 : 0;
  spec.intermediate = 520;
  spec.vocab = 777;
  spec.dtype = DType::kBF16;
  spec.seed = seed;
  spec.norm_jitter = 0.1;
  if (arch == "llama") spec.rope_scaling = "llama3";
  if (awq) {
    spec.awq_int4 = true;
    spec.awq_group_size = 128;
    spec.intermediate = 512;
  }
  return spec;
}

TEST(CudaBackendTest, DeviceCudaWithoutGpuIsAClearError) {
  if (NoGpuReason().empty())
    GTEST_SKIP() << "a GPU is present; this checks the refusal without one";
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(Spec("llama", 1), dir.path()));
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Load(dir.path(), LoadOptions{.device = Device::kCuda});
  EXPECT_EQ(model.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(model.status().message(), HasSubstr("--device cuda:"));
  // kAuto falls back to the CPU.
  ASSERT_OK_AND_ASSIGN(auto cpu, Model::Load(dir.path(), LoadOptions{}));
  EXPECT_EQ(cpu->backend(), "cpu");
}

class CudaVsCpuTest : public ::testing::TestWithParam<std::string> {};

// Per-token log-probs of three prompts on the GPU and the CPU; the bound is
// the 2e-2 (BF16 activations and KV on the GPU, FP32 on the CPU).
TEST_P(CudaVsCpuTest, LogprobsWithinBoundOfCpu) {
  SKIP_WITHOUT_GPU();
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(Spec(GetParam(), 3), dir.path()));
  ASSERT_OK_AND_ASSIGN(
      auto gpu, Model::Load(dir.path(), LoadOptions{.device = Device::kCuda}));
  ASSERT_OK_AND_ASSIGN(
      auto cpu, Model::Load(dir.path(), LoadOptions{.device = Device::kCpu}));
  EXPECT_THAT(gpu->backend(), HasSubstr("cuda:0"));
  ASSERT_OK_AND_ASSIGN(auto gpu_kv, gpu->AllocateKvCache(40));
  ASSERT_OK_AND_ASSIGN(auto cpu_kv, cpu->AllocateKvCache(40));
  double worst = 0;
  for (uint64_t seed : {11, 12, 13}) {
    const std::vector<int32_t> tokens =
        testing::RandomTokens(150 + 40 * seed % 3, 777, seed);
    std::vector<int32_t> blocks;
    for (int b = 0; b < 12; ++b) blocks.push_back(39 - 3 * b);  // scattered
    ASSERT_OK_AND_ASSIGN(Logits g, testing::RunPrompt(gpu.get(), gpu_kv.get(),
                                                      tokens, blocks, 0));
    ASSERT_OK_AND_ASSIGN(Logits c, testing::RunPrompt(cpu.get(), cpu_kv.get(),
                                                      tokens, blocks, 0));
    ASSERT_EQ(g.size(), c.size());
    for (size_t r = 0; r + 1 < g.size(); ++r) {
      const double lg = testing::LogSoftmax(g[r])[tokens[r + 1]];
      const double lc = testing::LogSoftmax(c[r])[tokens[r + 1]];
      worst = std::max(worst, std::abs(lg - lc));
    }
  }
  std::printf("[ %s ] max |gpu - cpu| next-token log-prob: %.3e\n",
              GetParam().c_str(), worst);
  EXPECT_LE(worst, 2e-2);
}

INSTANTIATE_TEST_SUITE_P(Architectures, CudaVsCpuTest,
                         ::testing::Values("llama", "qwen2", "qwen3", "mistral",
                                           "llama-awq", "qwen2-awq"));

SeqChunk Chunk(const std::vector<int32_t>& tokens, int start, int len,
               const std::vector<int32_t>& blocks) {
  SeqChunk c;
  c.tokens = absl::MakeConstSpan(tokens.data() + start, len);
  c.start_pos = start;
  c.block_table = blocks;
  for (int i = 0; i < len; ++i) c.logit_rows.push_back(i);
  return c;
}

// A sequence's logits are bit-equal whether it runs alone in one chunk, in
// chunks of 7, or inside a batch with other sequences: with dense FP16
// GEMMs and with the AWQ INT4 kernel.
class CudaDeterminismTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaDeterminismTest, BatchAndChunkingDoNotChangeBits) {
  SKIP_WITHOUT_GPU();
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(Spec(GetParam(), 5), dir.path()));
  ASSERT_OK_AND_ASSIGN(
      auto model,
      Model::Load(dir.path(), LoadOptions{.device = Device::kCuda}));
  const std::vector<int32_t> a = testing::RandomTokens(70, 777, 21);
  const std::vector<int32_t> b = testing::RandomTokens(45, 777, 22);
  const std::vector<int32_t> c = testing::RandomTokens(30, 777, 23);
  ASSERT_OK_AND_ASSIGN(auto kv, model->AllocateKvCache(64));
  ASSERT_OK_AND_ASSIGN(
      Logits alone_a,
      testing::RunPrompt(model.get(), kv.get(), a, {1, 2, 3, 4, 5}, 0));
  ASSERT_OK_AND_ASSIGN(
      Logits chunked_a,
      testing::RunPrompt(model.get(), kv.get(), a, {9, 8, 7, 6, 10}, 7));
  ASSERT_EQ(alone_a.size(), chunked_a.size());
  for (size_t r = 0; r < alone_a.size(); ++r) {
    EXPECT_TRUE(BitEqual(alone_a[r], chunked_a[r]))
        << "row " << r << " differs when chunked";
  }
  ASSERT_OK_AND_ASSIGN(Logits alone_c, testing::RunPrompt(model.get(), kv.get(),
                                                          c, {20, 21}, 0));
  // One step with a, b and c together (a's blocks elsewhere again).
  const std::vector<int32_t> blocks_a = {30, 31, 32, 33, 34};
  const std::vector<int32_t> blocks_b = {40, 41, 42};
  const std::vector<int32_t> blocks_c = {50, 51};
  std::vector<SeqChunk> batch = {
      Chunk(b, 0, static_cast<int>(b.size()), blocks_b),
      Chunk(a, 0, static_cast<int>(a.size()), blocks_a),
      Chunk(c, 0, static_cast<int>(c.size()), blocks_c)};
  ForwardOutput out;
  ASSERT_OK(model->Forward(batch, kv.get(), &out));
  ASSERT_EQ(out.logits.size(), a.size() + b.size() + c.size());
  for (size_t r = 0; r < a.size(); ++r) {
    EXPECT_TRUE(BitEqual(out.logits[b.size() + r], alone_a[r]))
        << "a row " << r;
  }
  for (size_t r = 0; r < c.size(); ++r) {
    EXPECT_TRUE(BitEqual(out.logits[a.size() + b.size() + r], alone_c[r]))
        << "c row " << r;
  }
  // A decode step of a (one new token after the cached 70) inside a batch
  // equals the same step alone.
  std::vector<int32_t> a_next = a;
  a_next.push_back(5);
  std::vector<SeqChunk> decode = {Chunk(a_next, 70, 1, blocks_a)};
  ForwardOutput alone_step;
  ASSERT_OK(model->Forward(decode, kv.get(), &alone_step));
  std::vector<int32_t> c_next = c;
  c_next.push_back(9);
  decode = {Chunk(c_next, 30, 1, blocks_c), Chunk(a_next, 70, 1, blocks_a)};
  ForwardOutput batched_step;
  ASSERT_OK(model->Forward(decode, kv.get(), &batched_step));
  ASSERT_EQ(batched_step.logits.size(), 2u);
  EXPECT_TRUE(BitEqual(batched_step.logits[1], alone_step.logits[0]));
}

// Prompt log-probs of a 2,048-token echo score every row: the lm_head runs
// over them a chunk at a time, so the step allocates what the planner
// counts (one chunk of logits, not 2,048 rows), and a row's logits are the
// same bits whether it is scored with all the others or alone.
TEST(CudaFootprintTest, EchoScoringAllocatesOneLogitChunkAndKeepsBits) {
  SKIP_WITHOUT_GPU();
  evald::testing::TempDir dir;
  CheckpointSpec spec = Spec("llama", 8);
  spec.vocab = 128256;  // Llama-3's: 2,048 rows of logits would be 1 GiB
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  ASSERT_OK_AND_ASSIGN(
      auto model,
      Model::Load(dir.path(), LoadOptions{.device = Device::kCuda}));
  const model::ModelConfig& c = model->config();
  constexpr int kTokens = 2048;
  const std::vector<int32_t> tokens =
      testing::RandomTokens(kTokens, c.vocab_size, 31);
  ASSERT_OK_AND_ASSIGN(auto kv, model->AllocateKvCache(kTokens / 16 + 1));
  std::vector<int32_t> blocks(kTokens / 16);
  for (int i = 0; i < kTokens / 16; ++i) blocks[i] = i;
  // A small step first, so that kernel modules loaded on first use (lazy
  // loading) are not counted as step buffers; the big step's buffers then
  // replace its smaller ones.
  SeqChunk warm = Chunk(tokens, 0, 16, blocks);
  warm.logit_rows = {15};
  ForwardOutput warm_out;
  ASSERT_OK(model->Forward({warm}, kv.get(), &warm_out));
  size_t free_before = 0, free_after = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_before, &total), cudaSuccess);
  ForwardOutput all;
  ASSERT_OK(
      model->Forward({Chunk(tokens, 0, kTokens, blocks)}, kv.get(), &all));
  ASSERT_EQ(cudaMemGetInfo(&free_after, &total), cudaSuccess);
  ASSERT_EQ(all.logits.size(), static_cast<size_t>(kTokens));
  const planner::GpuStepBuffers counted = planner::GpuStepBufferBytes(
      planner::ModelShape{.hidden = c.hidden_size,
                          .intermediate = c.intermediate_size,
                          .num_heads = c.num_heads,
                          .num_kv_heads = c.num_kv_heads,
                          .head_dim = c.head_dim,
                          .vocab = c.vocab_size},
      kTokens);
  const int64_t grew =
      static_cast<int64_t>(free_before) - static_cast<int64_t>(free_after);
  // cudaMalloc hands out whole 2 MiB pages: allow one per buffer.
  const int64_t slack = int64_t{10} * (2 << 20);
  std::printf(
      "echo of %d tokens: step allocated %.1f MiB, counted %.1f MiB "
      "(logits %.1f MiB)\n",
      kTokens, grew / 1048576.0, counted.Total() / 1048576.0,
      counted.logits / 1048576.0);
  EXPECT_LE(grew, counted.Total() + slack);
  EXPECT_LT(grew, int64_t{kTokens} * c.vocab_size * 4);
  // The same prompt scoring only a few rows (one lm_head chunk) gives those
  // rows' logits bit for bit.
  SeqChunk few = Chunk(tokens, 0, kTokens, blocks);
  few.logit_rows = {0, 255, 256, 1000, kTokens - 1};
  ForwardOutput some;
  ASSERT_OK(model->Forward({few}, kv.get(), &some));
  ASSERT_EQ(some.logits.size(), few.logit_rows.size());
  for (size_t i = 0; i < few.logit_rows.size(); ++i) {
    EXPECT_TRUE(BitEqual(some.logits[i], all.logits[few.logit_rows[i]]))
        << "row " << few.logit_rows[i];
  }
}

// The tiled attention kernel changes no bit of a model's logits.
TEST_P(CudaDeterminismTest, TiledAttentionIsBitIdentical) {
  SKIP_WITHOUT_GPU();
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(Spec(GetParam(), 6), dir.path()));
  ASSERT_OK_AND_ASSIGN(
      auto plain,
      Model::Load(dir.path(), LoadOptions{.device = Device::kCuda}));
  LoadOptions tiled_options{.device = Device::kCuda};
  tiled_options.tiled_attention = true;
  ASSERT_OK_AND_ASSIGN(auto tiled, Model::Load(dir.path(), tiled_options));
  const std::vector<int32_t> a = testing::RandomTokens(150, 777, 31);
  ASSERT_OK_AND_ASSIGN(auto kv_plain, plain->AllocateKvCache(64));
  ASSERT_OK_AND_ASSIGN(auto kv_tiled, tiled->AllocateKvCache(64));
  for (int chunk : {0, 7, 64}) {
    std::vector<int32_t> blocks;
    for (int b = 0; b < 10; ++b) blocks.push_back(60 - 5 * b);
    ASSERT_OK_AND_ASSIGN(
        Logits p,
        testing::RunPrompt(plain.get(), kv_plain.get(), a, blocks, chunk));
    ASSERT_OK_AND_ASSIGN(
        Logits q,
        testing::RunPrompt(tiled.get(), kv_tiled.get(), a, blocks, chunk));
    ASSERT_EQ(p.size(), q.size());
    for (size_t r = 0; r < p.size(); ++r) {
      EXPECT_TRUE(BitEqual(p[r], q[r])) << "chunk " << chunk << " row " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Weights, CudaDeterminismTest,
                         ::testing::Values("qwen2", "qwen2-awq"));

// Two runners sharing one GPU memory budget: the KV pool is elastic
// (virtual memory mapped per unit), grows for a wide batch, and changes no
// bit of the results against a runner with a fixed pool.
TEST(CudaElasticKvTest, SharedBudgetGrowsThePoolAndKeepsResultsBitIdentical) {
  SKIP_WITHOUT_GPU();
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(Spec("llama", 8), dir.path()));
  // 160 greedy answers of up to 200 tokens at once: far more KV than the
  // guaranteed minimum (one 1,024-block commit unit for this small model).
  std::vector<runners::GenerateRequest> requests;
  for (int i = 0; i < 160; ++i) {
    runners::GenerateRequest g;
    g.prompt = absl::StrCat("Question ", i, ": which is larger, ", i * 7,
                            " or ", i * 13, "?");
    g.max_new_tokens = 200;
    requests.push_back(g);
  }
  std::vector<std::vector<int32_t>> tokens[2];
  planner::KvBudget budget(int64_t{4} << 30);
  runners::RunnerStats elastic_stats;
  for (int i = 0; i < 2; ++i) {
    runners::native::NativeRunnerOptions options;
    options.model_dir = dir.path();
    options.device = Device::kCuda;
    options.max_context = 256;
    options.kv_cache_bytes = size_t{1} << 30;  // the fixed pool: ample
    if (i == 1) options.kv_budget = &budget;
    ASSERT_OK_AND_ASSIGN(auto runner,
                         runners::native::CreateNativeRunner(options));
    tokens[i].resize(requests.size());
    ASSERT_OK(runner->Generate(
        requests, {}, [&](size_t k, absl::StatusOr<runners::GenerateResult> r) {
          ASSERT_OK(r.status());
          tokens[i][k] = r->token_ids;
        }));
    if (i == 1) elastic_stats = runner->stats();
  }
  for (size_t k = 0; k < requests.size(); ++k)
    EXPECT_EQ(tokens[0][k], tokens[1][k]) << k;
  std::printf("elastic kv: %lld bytes guaranteed, %lld borrowed in all\n",
              static_cast<long long>(elastic_stats.kv_min_bytes),
              static_cast<long long>(elastic_stats.kv_grown_bytes));
  EXPECT_GT(elastic_stats.kv_grown_bytes, 0);
}

// The NativeRunner on the GPU: loglikelihood and greedy generation close to
// the CPU runner's.
TEST(CudaRunnerTest, LoglikelihoodMatchesCpuRunner) {
  SKIP_WITHOUT_GPU();
  evald::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(CheckpointSpec spec, CheckpointPreset("tiny"));
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  std::vector<runners::LoglikelihoodRequest> requests = {
      {"The capital of France is", " Paris"},
      {"Question: 2+2=?\nAnswer:", " 4"},
      {"", "hello world"}};
  std::vector<double> results[2];
  for (int i = 0; i < 2; ++i) {
    runners::native::NativeRunnerOptions options;
    options.model_dir = dir.path();
    options.device = i == 0 ? Device::kCuda : Device::kCpu;
    ASSERT_OK_AND_ASSIGN(auto runner,
                         runners::native::CreateNativeRunner(options));
    results[i].resize(requests.size());
    ASSERT_OK(runner->Loglikelihood(
        requests, {},
        [&](size_t k, absl::StatusOr<runners::LoglikelihoodResult> r) {
          ASSERT_OK(r.status());
          results[i][k] = r->logprob;
        }));
  }
  for (size_t k = 0; k < requests.size(); ++k) {
    EXPECT_NEAR(results[0][k], results[1][k], 2e-2 * 8) << "request " << k;
  }
}

}  // namespace
}  // namespace evald::runners::native::cuda
