// Model::Load and Forward on bad input: every failure is a Status naming the
// file, tensor, field or batch entry at fault - never a crash.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_replace.h"
#include "base/file.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/model.h"
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

class ModelLoadTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(WriteCheckpoint(spec_, dir_.path())); }

  // Rewrites config.json with `from` replaced by `to`.
  void EditConfig(const std::string& from, const std::string& to) {
    auto text = base::ReadFileToString(dir_.Join("config.json"));
    ASSERT_OK(text.status());
    ASSERT_NE(text->find(from), std::string::npos) << from;
    ASSERT_OK(base::WriteFileAtomically(
        dir_.Join("config.json"), absl::StrReplaceAll(*text, {{from, to}})));
  }

  CheckpointSpec spec_;
  evald::testing::TempDir dir_;
};

TEST_F(ModelLoadTest, LoadsAndReportsSizes) {
  ASSERT_OK_AND_ASSIGN(
      auto model,
      Model::Load(dir_.path(), LoadOptions{.device = Device::kCpu}));
  EXPECT_EQ(model->config().architecture, "LlamaForCausalLM");
  EXPECT_EQ(model->config().hidden_size, 128);
  // embed + lm_head + 2 layers of (q,k,v,o,gate,up,down) in BF16, norms in
  // FP32.
  const size_t matrices =
      2 * 1024 * 128 + 2 * (128 * 128 * 2 + 64 * 128 * 2 + 3 * 128 * 256);
  EXPECT_EQ(model->weight_bytes(), matrices * 2 + (2 * 2 + 1) * 128 * 4);
  EXPECT_EQ(model->kv_bytes_per_token(), 2u * 2 * 2 * 32 * 4);
}

TEST_F(ModelLoadTest, RegistryKnowsEveryArchitecture) {
  for (const char* name : {"LlamaForCausalLM", "MistralForCausalLM",
                           "Qwen2ForCausalLM", "Qwen3ForCausalLM"}) {
    EXPECT_NE(FindArchitecture(name), nullptr) << name;
  }
}

TEST_F(ModelLoadTest, UnknownArchitectureNamesItAndTheKnownOnes) {
  EditConfig("LlamaForCausalLM", "GPTNeoXForCausalLM");
  EXPECT_THAT(
      Model::Load(dir_.path(), LoadOptions{.device = Device::kCpu}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("config.json"), HasSubstr("GPTNeoXForCausalLM"),
                     HasSubstr("Qwen3ForCausalLM"))));
}

TEST_F(ModelLoadTest, MissingConfigFieldIsNamed) {
  EditConfig("\"num_hidden_layers\"", "\"num_layers_renamed\"");
  EXPECT_THAT(
      Model::Load(dir_.path(), LoadOptions{.device = Device::kCpu}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'num_hidden_layers'")));
}

TEST_F(ModelLoadTest, ShapeMismatchNamesTensorExpectedAndFound) {
  EditConfig("\"intermediate_size\": 256", "\"intermediate_size\": 300");
  EXPECT_THAT(
      Model::Load(dir_.path(), LoadOptions{.device = Device::kCpu}).status(),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr("model.layers.0.mlp.gate_proj.weight"),
                HasSubstr("[256, 128]"), HasSubstr("expected [300, 128]"))));
}

TEST_F(ModelLoadTest, MissingTensorIsNamed) {
  EditConfig("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
  EXPECT_THAT(
      Model::Load(dir_.path(), LoadOptions{.device = Device::kCpu}).status(),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("missing tensor 'model.layers.2.input_layernorm.weight'")));
}

TEST_F(ModelLoadTest, MissingBiasOfQwen2IsNamed) {
  EditConfig("LlamaForCausalLM", "Qwen2ForCausalLM");
  EXPECT_THAT(
      Model::Load(dir_.path(), LoadOptions{.device = Device::kCpu}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'model.layers.0.self_attn.q_proj.bias'")));
}

TEST_F(ModelLoadTest, BadForwardInputsAreErrors) {
  ASSERT_OK_AND_ASSIGN(
      auto model,
      Model::Load(dir_.path(), LoadOptions{.device = Device::kCpu}));
  ASSERT_OK_AND_ASSIGN(auto kv, model->AllocateKvCache(4));
  const std::vector<int32_t> tokens = {1, 2, 3};
  const std::vector<int32_t> blocks = {0, 1};
  ForwardOutput out;
  auto run = [&](SeqChunk c) { return model->Forward({c}, kv.get(), &out); };
  SeqChunk ok{tokens, 0, blocks, {2}};
  EXPECT_OK(run(ok));
  ASSERT_EQ(out.logits.size(), 1u);
  EXPECT_EQ(out.logits[0].size(), 1024u);

  const std::vector<int32_t> bad_tokens = {1, 5000};
  EXPECT_THAT(
      run(SeqChunk{bad_tokens, 0, blocks, {}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token id 5000")));
  EXPECT_THAT(
      run(SeqChunk{tokens, 30, blocks, {}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block table")));
  EXPECT_THAT(
      run(SeqChunk{tokens, 4094, {0, 1, 2}, {}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("context")));
  const std::vector<int32_t> far_block = {0, 9};
  EXPECT_THAT(
      run(SeqChunk{tokens, 14, far_block, {}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block id 9")));
  EXPECT_THAT(
      run(SeqChunk{tokens, 0, blocks, {2, 1}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("logit row")));
  EXPECT_THAT(
      run(SeqChunk{tokens, 0, blocks, {3}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("logit row 3")));
  EXPECT_THAT(model->AllocateKvCache(0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ModelLoadTest, KvCacheOfAnotherShapeIsRejected) {
  ASSERT_OK_AND_ASSIGN(
      auto model,
      Model::Load(dir_.path(), LoadOptions{.device = Device::kCpu}));
  evald::testing::TempDir other_dir;
  CheckpointSpec other = spec_;
  other.layers = 3;
  ASSERT_OK(WriteCheckpoint(other, other_dir.path()));
  ASSERT_OK_AND_ASSIGN(
      auto other_model,
      Model::Load(other_dir.path(), LoadOptions{.device = Device::kCpu}));
  ASSERT_OK_AND_ASSIGN(auto kv, other_model->AllocateKvCache(4));
  const std::vector<int32_t> tokens = {1};
  const std::vector<int32_t> blocks = {0};
  ForwardOutput out;
  EXPECT_THAT(
      model->Forward({SeqChunk{tokens, 0, blocks, {0}}}, kv.get(), &out),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kv cache")));
}

}  // namespace
}  // namespace evald::runners::native::model
