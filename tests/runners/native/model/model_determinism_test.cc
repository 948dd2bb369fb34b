// The determinism contract of model.h: a row's logits depend only on its own
// sequence - not on the other entries of the batch, the chunking, the block
// table, the thread count or the instruction set. Checked bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runners/native/cpu/cpu_gemm.h"
#include "runners/native/model/model.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/runners/native/model/model_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::model {

using cpu::SetGemmPortableForTesting;
using testing::CheckpointSpec;
using testing::WriteCheckpoint;
namespace {

using Logits = std::vector<std::vector<float>>;

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Run for each architecture given below: qwen2 (biases exercise one more
// kernel) and the MoE families, whose tokens are grouped per expert.
class DeterminismTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    CheckpointSpec spec;
    spec.arch = GetParam();
    spec.moe_intermediate = 72;  // MoE: experts not a multiple of 16 wide
    spec.shared_expert_intermediate = 100;
    spec.hidden = 128;
    spec.layers = 2;
    spec.heads = 8;
    spec.kv_heads = 2;
    spec.intermediate = 200;  // not a multiple of the 16-lane width
    spec.vocab = 500;
    spec.dtype = DType::kBF16;
    spec.seed = 5;
    spec.norm_jitter = 0.1;
    if (spec.arch == "gemma2" || spec.arch == "gemma3") {
      // Local and global layers, a window starting inside a block, caps
      // that bend the scores and logits.
      spec.sliding_window = 24;
      spec.sliding_window_pattern = 2;
      spec.attn_logit_softcapping = 1.0;
      spec.final_logit_softcapping = 3.0;
    }
    ASSERT_OK(WriteCheckpoint(spec, dir_.path()));
    LoadOptions one, two;
    one.device = two.device = Device::kCpu;  // the CPU backend's contract
    one.num_threads = 1;
    two.num_threads = 2;
    ASSERT_OK_AND_ASSIGN(model1_, Model::Load(dir_.path(), one));
    ASSERT_OK_AND_ASSIGN(model2_, Model::Load(dir_.path(), two));
    a_ = testing::RandomTokens(50, 500, 21);
    b_ = testing::RandomTokens(37, 500, 22);
    c_ = testing::RandomTokens(20, 500, 23);
  }

  // Sequence alone, one chunk, one thread: the baseline.
  Logits Alone(const std::vector<int32_t>& tokens) {
    auto kv = model1_->AllocateKvCache(8);
    EXPECT_OK(kv.status());
    auto logits =
        testing::RunPrompt(model1_.get(), kv->get(), tokens, {0, 1, 2, 3}, 0);
    EXPECT_OK(logits.status());
    return *logits;
  }

  evald::testing::TempDir dir_;
  std::unique_ptr<Model> model1_, model2_;
  std::vector<int32_t> a_, b_, c_;
};

SeqChunk Chunk(const std::vector<int32_t>& tokens, int start, int len,
               const std::vector<int32_t>& blocks) {
  SeqChunk c;
  c.tokens = absl::MakeConstSpan(tokens.data() + start, len);
  c.start_pos = start;
  c.block_table = blocks;
  for (int i = 0; i < len; ++i) c.logit_rows.push_back(i);
  return c;
}

TEST_P(DeterminismTest, BatchCompositionChunkingAndThreadsDoNotChangeBits) {
  const Logits base_a = Alone(a_);
  const Logits base_b = Alone(b_);
  const Logits base_c = Alone(c_);

  for (Model* model : {model1_.get(), model2_.get()}) {
    SCOPED_TRACE(absl::StrCat("threads ", model == model1_.get() ? 1 : 2));
    ASSERT_OK_AND_ASSIGN(auto kv, model->AllocateKvCache(32));
    // Different physical blocks for each sequence, interleaved.
    const std::vector<int32_t> blocks_a = {30, 4, 17, 9};
    const std::vector<int32_t> blocks_b = {2, 25, 11};
    const std::vector<int32_t> blocks_c = {19, 6};
    // Step 1: c whole, a's first 13 tokens, b's first 16 tokens.
    // Step 2: b's remaining 21, a's next 30.
    // Step 3: a's last 7 alone.
    Logits got_a, got_b, got_c;
    std::vector<std::vector<SeqChunk>> steps = {
        {Chunk(c_, 0, 20, blocks_c), Chunk(a_, 0, 13, blocks_a),
         Chunk(b_, 0, 16, blocks_b)},
        {Chunk(b_, 16, 21, blocks_b), Chunk(a_, 13, 30, blocks_a)},
        {Chunk(a_, 43, 7, blocks_a)}};
    for (const auto& step : steps) {
      ForwardOutput out;
      ASSERT_OK(model->Forward(step, kv.get(), &out));
      size_t k = 0;
      for (const SeqChunk& ch : step) {
        Logits* dst = ch.tokens.data() == a_.data() + ch.start_pos   ? &got_a
                      : ch.tokens.data() == b_.data() + ch.start_pos ? &got_b
                                                                     : &got_c;
        for (size_t i = 0; i < ch.logit_rows.size(); ++i)
          dst->push_back(out.logits[k++]);
      }
    }
    ASSERT_EQ(got_a.size(), base_a.size());
    ASSERT_EQ(got_b.size(), base_b.size());
    ASSERT_EQ(got_c.size(), base_c.size());
    for (size_t i = 0; i < base_a.size(); ++i)
      EXPECT_TRUE(BitEqual(got_a[i], base_a[i])) << "a row " << i;
    for (size_t i = 0; i < base_b.size(); ++i)
      EXPECT_TRUE(BitEqual(got_b[i], base_b[i])) << "b row " << i;
    for (size_t i = 0; i < base_c.size(); ++i)
      EXPECT_TRUE(BitEqual(got_c[i], base_c[i])) << "c row " << i;
  }
}

TEST_P(DeterminismTest, DecodeStepsInABatchMatchPrefill) {
  const Logits base_a = Alone(a_);
  ASSERT_OK_AND_ASSIGN(auto kv, model2_->AllocateKvCache(32));
  const std::vector<int32_t> blocks_a = {1, 2, 3, 4};
  const std::vector<int32_t> blocks_b = {5, 6, 7};
  // Prefill a[0..40) and b, then decode a one token at a time next to b's
  // decode steps; only the last row's logits are requested each time.
  SeqChunk pa = Chunk(a_, 0, 40, blocks_a);
  pa.logit_rows = {39};
  SeqChunk pb = Chunk(b_, 0, 30, blocks_b);
  pb.logit_rows = {29};
  ForwardOutput out;
  ASSERT_OK(model2_->Forward({pb, pa}, kv.get(), &out));
  ASSERT_EQ(out.logits.size(), 2u);
  EXPECT_TRUE(BitEqual(out.logits[1], base_a[39]));
  for (int pos = 40; pos < 50; ++pos) {
    std::vector<SeqChunk> step = {Chunk(a_, pos, 1, blocks_a)};
    if (pos - 10 < 37) step.push_back(Chunk(b_, pos - 10, 1, blocks_b));
    ASSERT_OK(model2_->Forward(step, kv.get(), &out));
    EXPECT_TRUE(BitEqual(out.logits[0], base_a[pos]))
        << "decode position " << pos;
  }
}

TEST_P(DeterminismTest, Bf16ActivationPathIsBatchInvariantToo) {
  LoadOptions options;
  options.device = Device::kCpu;
  options.num_threads = 2;
  options.bf16_activations = true;
  ASSERT_OK_AND_ASSIGN(auto model, Model::Load(dir_.path(), options));
  ASSERT_OK_AND_ASSIGN(auto kv_alone, model->AllocateKvCache(8));
  ASSERT_OK_AND_ASSIGN(
      Logits alone,
      testing::RunPrompt(model.get(), kv_alone.get(), a_, {0, 1, 2, 3}, 0));
  ASSERT_OK_AND_ASSIGN(auto kv, model->AllocateKvCache(32));
  const std::vector<int32_t> blocks_a = {8, 2, 30, 5};
  const std::vector<int32_t> blocks_b = {1, 9, 12};
  Logits got;
  for (const auto& step : std::vector<std::vector<SeqChunk>>{
           {Chunk(b_, 0, 37, blocks_b), Chunk(a_, 0, 21, blocks_a)},
           {Chunk(a_, 21, 29, blocks_a)}}) {
    ForwardOutput out;
    ASSERT_OK(model->Forward(step, kv.get(), &out));
    const size_t skip = step.size() == 2 ? 37 : 0;
    for (size_t i = skip; i < out.logits.size(); ++i)
      got.push_back(out.logits[i]);
  }
  ASSERT_EQ(got.size(), alone.size());
  for (size_t i = 0; i < alone.size(); ++i)
    EXPECT_TRUE(BitEqual(got[i], alone[i])) << "row " << i;
}

TEST_P(DeterminismTest, PortableKernelsMatchAvx512Bits) {
  const Logits fast = Alone(c_);
  SetGemmPortableForTesting(true);
  const Logits portable = Alone(c_);
  SetGemmPortableForTesting(false);
  ASSERT_EQ(fast.size(), portable.size());
  for (size_t i = 0; i < fast.size(); ++i)
    EXPECT_TRUE(BitEqual(fast[i], portable[i])) << "row " << i;
}

INSTANTIATE_TEST_SUITE_P(Architectures, DeterminismTest,
                         ::testing::Values("qwen2", "mixtral", "qwen2_moe",
                                           "qwen3_moe", "gemma2", "gemma3"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param;
                         });
// Phi-3 with longrope, whose frequencies depend on each sequence's length,
// and a sliding window: a long and a short sequence, chunked and batched
// together on two threads, give the bits each gives alone in one chunk on one
// thread, and the portable kernels give the AVX-512 bits.
TEST(LengthDependentRopeDeterminismTest, Phi3LongRopeIsBatchInvariant) {
  evald::testing::TempDir dir;
  CheckpointSpec spec;
  spec.arch = "phi3";
  spec.hidden = 96;
  spec.layers = 2;
  spec.heads = 6;
  spec.kv_heads = 2;
  spec.intermediate = 200;
  spec.vocab = 500;
  spec.dtype = DType::kBF16;
  spec.seed = 6;
  spec.rope_scaling = "longrope";
  spec.rope_original_max_position = 32;
  spec.max_position = 256;
  spec.partial_rotary_factor = 0.75;
  spec.sliding_window = 24;  // a window that starts inside a block
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  LoadOptions one, two;
  one.device = two.device = Device::kCpu;
  one.num_threads = 1;
  two.num_threads = 2;
  ASSERT_OK_AND_ASSIGN(auto model1, Model::Load(dir.path(), one));
  ASSERT_OK_AND_ASSIGN(auto model2, Model::Load(dir.path(), two));
  const std::vector<int32_t> a = testing::RandomTokens(50, 500, 41);
  const std::vector<int32_t> c = testing::RandomTokens(20, 500, 42);
  ASSERT_OK_AND_ASSIGN(auto kv1, model1->AllocateKvCache(8));
  ASSERT_OK_AND_ASSIGN(
      Logits base_a,
      testing::RunPrompt(model1.get(), kv1.get(), a, {0, 1, 2, 3}, 0));
  ASSERT_OK_AND_ASSIGN(
      Logits base_c, testing::RunPrompt(model1.get(), kv1.get(), c, {4, 5}, 0));
  ASSERT_OK_AND_ASSIGN(auto kv, model2->AllocateKvCache(16));
  const std::vector<int32_t> blocks_a = {12, 3, 9, 1};
  const std::vector<int32_t> blocks_c = {7, 14};
  auto chunk = [](const std::vector<int32_t>& t, int start, int len,
                  const std::vector<int32_t>& blocks) {
    SeqChunk ch = Chunk(t, start, len, blocks);
    ch.rope_length = static_cast<int>(t.size());
    return ch;
  };
  Logits got_a, got_c;
  ForwardOutput out;
  ASSERT_OK(model2->Forward(
      {chunk(a, 0, 13, blocks_a), chunk(c, 0, 20, blocks_c)}, kv.get(), &out));
  for (int i = 0; i < 13; ++i) got_a.push_back(out.logits[i]);
  for (int i = 0; i < 20; ++i) got_c.push_back(out.logits[13 + i]);
  ASSERT_OK(model2->Forward({chunk(a, 13, 37, blocks_a)}, kv.get(), &out));
  for (auto& l : out.logits) got_a.push_back(l);
  ASSERT_EQ(got_a.size(), base_a.size());
  for (size_t i = 0; i < base_a.size(); ++i)
    EXPECT_TRUE(BitEqual(got_a[i], base_a[i])) << "a row " << i;
  for (size_t i = 0; i < base_c.size(); ++i)
    EXPECT_TRUE(BitEqual(got_c[i], base_c[i])) << "c row " << i;
  // The short sequence really uses other frequencies than the long one: fed
  // as part of a 50-token sequence, c's rows differ.
  ASSERT_OK(model2->Forward({chunk(c, 0, 20, blocks_c)}, kv.get(), &out));
  SeqChunk as_long = Chunk(c, 0, 20, blocks_c);
  as_long.rope_length = 50;
  ForwardOutput out_long;
  ASSERT_OK(model2->Forward({as_long}, kv.get(), &out_long));
  EXPECT_FALSE(BitEqual(out.logits[19], out_long.logits[19]));
  SetGemmPortableForTesting(true);
  ASSERT_OK_AND_ASSIGN(
      Logits portable_a,
      testing::RunPrompt(model1.get(), kv1.get(), a, {0, 1, 2, 3}, 0));
  SetGemmPortableForTesting(false);
  for (size_t i = 0; i < base_a.size(); ++i)
    EXPECT_TRUE(BitEqual(portable_a[i], base_a[i])) << "portable row " << i;
}

}  // namespace
}  // namespace evald::runners::native::model
