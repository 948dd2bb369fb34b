#include "runners/native/model/config_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace evald::engine {
namespace {

using ::evald::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ConfigParserTest, AppliesHuggingFaceDefaults) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, ParseModelConfig(R"({
    "architectures": ["MistralForCausalLM"], "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 8,
    "eos_token_id": 2})", "config.json"));
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(2));
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_scaling.type, "");
}

TEST(ConfigParserTest, ReadsLlama31Fields) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, ParseModelConfig(R"({
    "architectures": ["LlamaForCausalLM"], "vocab_size": 128256, "hidden_size": 2048,
    "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 64, "rope_theta": 500000.0, "rms_norm_eps": 1e-05,
    "tie_word_embeddings": true, "eos_token_id": [128001, 128008, 128009],
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"}})",
                                                       "config.json"));
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(128001, 128008, 128009));
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
}

TEST(ConfigParserTest, AcceptsOlderRopeScalingTypeKey) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, ParseModelConfig(R"({
    "architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 8,
    "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "rope_scaling": {"type": "linear", "factor": 2.0}})", "c.json"));
  EXPECT_EQ(c.rope_scaling.type, "linear");
}

TEST(ConfigParserTest, MissingFieldIsNamed) {
  EXPECT_THAT(ParseModelConfig(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10,
    "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2})", "dir/config.json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("dir/config.json"), HasSubstr("'hidden_size'"),
                             HasSubstr("missing"))));
}

TEST(ConfigParserTest, BadValuesAreNamed) {
  const char* base = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10,
    "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,)";
  EXPECT_THAT(ParseModelConfig(std::string(base) + R"("num_key_value_heads": 3})", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'num_key_value_heads'")));
  EXPECT_THAT(ParseModelConfig(std::string(base) + R"("rms_norm_eps": "x"})", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'rms_norm_eps'")));
  EXPECT_THAT(ParseModelConfig(std::string(base) + R"("rope_scaling": {"rope_type": "yarn"}})", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rope_scaling.rope_type")));
  EXPECT_THAT(ParseModelConfig(std::string(base) + R"("eos_token_id": ["a"]})", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'eos_token_id'")));
  EXPECT_THAT(ParseModelConfig(R"({"vocab_size": 1})", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'architectures'")));
  EXPECT_THAT(ParseModelConfig("{", "c"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace evald::engine
