// File: tests/runners/native/model/phi3_load_test.cc
// -----------------------------------------------------------------------------
// Phi3ForCausalLM and the long-context RoPE keys on good and bad input: the
// fused tensors split at load, the config keys each type needs, the window
// refusal, and the RoPE tables themselves (rope.h) on known values.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "absl/strings/str_replace.h"
#include "base/file.h"
#include "runners/native/model/config_parser.h"
#include "runners/native/model/model.h"
#include "runners/native/model/rope.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::model {

using testing::CheckpointSpec;
using testing::WriteCheckpoint;
namespace {

using ::evald::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

class Phi3LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_.arch = "phi3";
    spec_.hidden = 64;
    spec_.heads = 4;
    spec_.kv_heads = 2;
    spec_.intermediate = 96;
    spec_.vocab = 300;
    spec_.dtype = DType::kF32;
    spec_.rope_scaling = "longrope";
    spec_.rope_original_max_position = 32;
    spec_.max_position = 128;
    spec_.sliding_window = 40;
    ASSERT_OK(WriteCheckpoint(spec_, dir_.path()));
  }

  void EditConfig(const std::string& from, const std::string& to) {
    auto text = base::ReadFileToString(dir_.Join("config.json"));
    ASSERT_OK(text.status());
    ASSERT_NE(text->find(from), std::string::npos) << from;
    ASSERT_OK(base::WriteFileAtomically(
        dir_.Join("config.json"), absl::StrReplaceAll(*text, {{from, to}})));
  }

  absl::StatusOr<std::unique_ptr<Model>> Load() {
    return Model::Load(dir_.path(), LoadOptions{.device = Device::kCpu});
  }

  CheckpointSpec spec_;
  evald::testing::TempDir dir_;
};

TEST_F(Phi3LoadTest, SplitsFusedTensorsAndReadsLongRope) {
  ASSERT_OK_AND_ASSIGN(auto model, Load());
  const ModelConfig& c = model->config();
  EXPECT_EQ(c.architecture, "Phi3ForCausalLM");
  EXPECT_EQ(c.rope_scaling.type, "longrope");
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 32);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);  // 128 / 32
  EXPECT_EQ(c.rope_scaling.short_factor.size(), 8u);
  EXPECT_EQ(c.sliding_window, 40);
  // Split views, not copies: the same bytes as the q/k/v/gate/up layout.
  const size_t matrices =
      2 * 300 * 64 + 2 * (64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 96 * 64);
  EXPECT_EQ(model->weight_bytes(), matrices * 4 + (2 * 2 + 1) * 64 * 4);
}

// One layer: a row's logits depend on its own token and on the keys in its
// window only, so a token that left the window changes nothing, bit for bit.
TEST(Phi3WindowTest, TokensOutsideTheWindowDoNotReachTheRow) {
  for (int window : {40, 41}) {
    SCOPED_TRACE(window);
    evald::testing::TempDir dir;
    CheckpointSpec spec;
    spec.arch = "phi3";
    spec.hidden = 64;
    spec.layers = 1;
    spec.vocab = 300;
    spec.dtype = DType::kF32;
    spec.sliding_window = window;
    ASSERT_OK(WriteCheckpoint(spec, dir.path()));
    ASSERT_OK_AND_ASSIGN(
        auto model,
        Model::Load(dir.path(), LoadOptions{.device = Device::kCpu}));
    ASSERT_OK_AND_ASSIGN(auto kv, model->AllocateKvCache(8));
    std::vector<int32_t> tokens(41, 5);
    for (int i = 0; i < 41; ++i) tokens[i] = 7 * i % 300;
    const std::vector<int32_t> blocks = {0, 1, 2};
    auto last = [&](const std::vector<int32_t>& t) {
      SeqChunk c;
      c.tokens = t;
      c.block_table = blocks;
      c.logit_rows = {40};
      ForwardOutput out;
      EXPECT_OK(model->Forward({c}, kv.get(), &out));
      return out.logits.empty() ? std::vector<float>{} : out.logits[0];
    };
    const std::vector<float> before = last(tokens);
    tokens[0] = 123;  // position 0: outside a 40-token window of position 40
    const std::vector<float> after = last(tokens);
    ASSERT_EQ(before.size(), 300u);
    EXPECT_EQ(before == after, window == 40);
  }
}

TEST_F(Phi3LoadTest, FusedTensorOfTheWrongShapeIsNamed) {
  EditConfig("\"intermediate_size\": 96", "\"intermediate_size\": 80");
  EXPECT_THAT(Load(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("model.safetensors"),
                             HasSubstr("mlp.gate_up_proj.weight"),
                             HasSubstr("[192, 64]"), HasSubstr("[160, 64]"))));
}

TEST_F(Phi3LoadTest, MissingLongFactorIsNamed) {
  EditConfig("\"long_factor\"", "\"lng_factor\"");
  EXPECT_THAT(Load(), StatusIs(absl::StatusCode::kInvalidArgument,
                               AllOf(HasSubstr("config.json"),
                                     HasSubstr("rope_scaling.long_factor"),
                                     HasSubstr("missing"))));
}

TEST_F(Phi3LoadTest, FactorListOfTheWrongLengthIsNamed) {
  EditConfig("\"short_factor\": [", "\"short_factor\": [1.0, ");
  EXPECT_THAT(Load(), StatusIs(absl::StatusCode::kInvalidArgument,
                               AllOf(HasSubstr("rope_scaling.short_factor"),
                                     HasSubstr("a list of 8 numbers"))));
}

TEST_F(Phi3LoadTest, UnknownRopeTypeIsRefusedNamingTheKey) {
  EditConfig("\"type\": \"longrope\"", "\"type\": \"ntk-by-parts\"");
  EXPECT_THAT(Load(), StatusIs(absl::StatusCode::kInvalidArgument,
                               AllOf(HasSubstr("rope_scaling.type"),
                                     HasSubstr("'ntk-by-parts'"))));
}

TEST_F(Phi3LoadTest, LongRopeFactorWhenGivenWinsOverTheContextRatio) {
  EditConfig("\"type\": \"longrope\"",
             "\"type\": \"longrope\", \"factor\": 2.0");
  ASSERT_OK_AND_ASSIGN(auto model, Load());
  EXPECT_DOUBLE_EQ(model->config().rope_scaling.factor, 2.0);
  const RopeTable t = RopeFrequencies(model->config(), 100);
  EXPECT_DOUBLE_EQ(t.attention_factor,
                   std::sqrt(1 + std::log(2.0) / std::log(32.0)));
}

TEST_F(Phi3LoadTest, SpecFromItsConfigWritesTheSameShape) {
  ASSERT_OK_AND_ASSIGN(auto model, Load());
  ASSERT_OK_AND_ASSIGN(CheckpointSpec spec,
                       testing::SpecFromModelConfig(model->config()));
  EXPECT_EQ(spec.arch, "phi3");
  EXPECT_EQ(spec.rope_scaling, "longrope");
  EXPECT_EQ(spec.rope_original_max_position, 32);
  EXPECT_EQ(spec.max_position, 128);
  EXPECT_EQ(spec.sliding_window, 40);
  evald::testing::TempDir again;
  ASSERT_OK(WriteCheckpoint(spec, again.path()));
  ASSERT_OK_AND_ASSIGN(
      auto reloaded,
      Model::Load(again.path(), LoadOptions{.device = Device::kCpu}));
  EXPECT_EQ(reloaded->weight_bytes(), model->weight_bytes());
  EXPECT_EQ(reloaded->config().rope_scaling.factor, 4.0);
}

TEST_F(Phi3LoadTest, SuIsLongRope) {
  EditConfig("\"type\": \"longrope\"", "\"type\": \"su\"");
  ASSERT_OK_AND_ASSIGN(auto model, Load());
  EXPECT_EQ(model->config().rope_scaling.type, "longrope");
}

ModelConfig Parse(const std::string& rope_scaling, int max_position = 64) {
  const std::string text =
      "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, "
      "\"hidden_size\": 64, \"intermediate_size\": 64, "
      "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
      "\"rope_theta\": 10000.0, \"max_position_embeddings\": " +
      std::to_string(max_position) + ", \"rope_scaling\": " + rope_scaling +
      "}";
  auto c = ParseModelConfig(text, "config.json");
  EXPECT_OK(c.status());
  return c.ok() ? *c : ModelConfig{};
}

TEST(RopeTest, YarnKeepsHighFrequenciesAndScalesAttention) {
  const ModelConfig c = Parse(
      "{\"rope_type\": \"yarn\", \"factor\": 4.0, "
      "\"original_max_position_embeddings\": 64}");
  EXPECT_EQ(c.max_position_embeddings, 256);  // extended by the factor
  const RopeTable t = RopeFrequencies(c, 0);
  ASSERT_EQ(t.inv_freq.size(), 16u);
  EXPECT_DOUBLE_EQ(t.inv_freq[0], 1.0);  // fastest: extrapolated
  EXPECT_DOUBLE_EQ(t.inv_freq[15], std::pow(10000.0, -30.0 / 32) / 4.0);
  EXPECT_DOUBLE_EQ(t.attention_factor, 0.1 * std::log(4.0) + 1.0);
}

TEST(RopeTest, DynamicNtkGrowsTheBaseWithTheLength) {
  const ModelConfig c = Parse("{\"type\": \"dynamic\", \"factor\": 2.0}");
  EXPECT_EQ(c.max_position_embeddings, 128);
  EXPECT_TRUE(RopeDependsOnLength(c));
  // Within the configured context: the plain frequencies.
  EXPECT_DOUBLE_EQ(RopeFrequencies(c, 50).inv_freq[1],
                   std::pow(10000.0, -2.0 / 32));
  const double base = 10000.0 * std::pow(2.0 * 96 / 64 - 1.0, 32.0 / 30);
  EXPECT_NEAR(RopeFrequencies(c, 96).inv_freq[1], std::pow(base, -2.0 / 32),
              1e-15);
}

TEST(RopeTest, CudaRefusesTheRopeItHasNoKernelForNamingTheKey) {
  EXPECT_OK(CheckRopeOnCuda(Parse("null")));
  EXPECT_OK(CheckRopeOnCuda(Parse("{\"type\": \"linear\", \"factor\": 2.0}")));
  EXPECT_THAT(
      CheckRopeOnCuda(Parse("{\"type\": \"dynamic\", \"factor\": 2.0}")),
      StatusIs(absl::StatusCode::kUnimplemented,
               HasSubstr("rope_scaling type 'dynamic'")));
  ModelConfig partial = Parse("null");
  partial.rotary_dim = partial.head_dim / 2;
  EXPECT_THAT(CheckRopeOnCuda(partial),
              StatusIs(absl::StatusCode::kUnimplemented,
                       HasSubstr("partial_rotary_factor")));
}

TEST(RopeTest, LlamaAndLinearDoNotDependOnLength) {
  EXPECT_FALSE(RopeDependsOnLength(Parse("null")));
  EXPECT_FALSE(
      RopeDependsOnLength(Parse("{\"type\": \"linear\", \"factor\": 2.0}")));
}

}  // namespace
}  // namespace evald::runners::native::model
