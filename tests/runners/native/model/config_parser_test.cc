#include "runners/native/model/config_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/status_matchers.h"

namespace evald::runners::native::model {
namespace {

using ::evald::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ConfigParserTest, AppliesHuggingFaceDefaults) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, ParseModelConfig(R"({
    "architectures": ["MistralForCausalLM"], "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 8,
    "eos_token_id": 2})",
                                                       "config.json"));
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(2));
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_scaling.type, "");
  EXPECT_EQ(c.sliding_window, 0);  // absent: no window
}

TEST(ConfigParserTest, MistralAndMixtralApplyTheirSlidingWindow) {
  for (const char* arch : {"MistralForCausalLM", "MixtralForCausalLM"}) {
    ASSERT_OK_AND_ASSIGN(
        ModelConfig c,
        ParseModelConfig(
            absl::StrCat(R"({"architectures": [")", arch,
                         R"("], "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 8,
    "sliding_window": 4096})"),
            "config.json"));
    EXPECT_EQ(c.sliding_window, 4096) << arch;
  }
  // Qwen2 writes a window it does not use without use_sliding_window.
  ASSERT_OK_AND_ASSIGN(ModelConfig q, ParseModelConfig(R"({
    "architectures": ["Qwen2ForCausalLM"], "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 8,
    "sliding_window": 4096, "use_sliding_window": false})",
                                                       "config.json"));
  EXPECT_EQ(q.sliding_window, 0);
}

absl::StatusOr<ModelConfig> Qwen(const char* arch, const char* extra) {
  return ParseModelConfig(
      absl::StrCat(R"({"architectures": [")", arch,
                   R"("], "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 8)",
                   extra, "}"),
      "config.json");
}

TEST(ConfigParserTest, QwenSlidesFromMaxWindowLayersWithUseSlidingWindow) {
  for (const char* arch : {"Qwen2ForCausalLM", "Qwen3ForCausalLM"}) {
    ASSERT_OK_AND_ASSIGN(ModelConfig c,
                         Qwen(arch, R"(, "use_sliding_window": true,
        "sliding_window": 32, "max_window_layers": 2)"));
    EXPECT_EQ(c.sliding_window, 32) << arch;
    EXPECT_THAT(c.sliding_layers, ElementsAre(false, false, true, true));
    EXPECT_FALSE(IsSlidingLayer(c, 1));
    EXPECT_TRUE(IsSlidingLayer(c, 3));
    // layer_types, when written, say which layers slide.
    ASSERT_OK_AND_ASSIGN(c, Qwen(arch, R"(, "use_sliding_window": true,
        "sliding_window": 32, "max_window_layers": 2, "layer_types":
        ["sliding_attention", "full_attention", "full_attention", "full_attention"])"));
    EXPECT_THAT(c.sliding_layers, ElementsAre(true, false, false, false));
    // Without use_sliding_window, or with a null window, nothing slides.
    ASSERT_OK_AND_ASSIGN(c, Qwen(arch, R"(, "sliding_window": 32,
        "max_window_layers": 0, "layer_types": ["sliding_attention",
        "sliding_attention", "sliding_attention", "sliding_attention"])"));
    EXPECT_EQ(c.sliding_window, 0);
    ASSERT_OK_AND_ASSIGN(c, Qwen(arch, R"(, "use_sliding_window": true,
        "sliding_window": null, "max_window_layers": 0)"));
    EXPECT_EQ(c.sliding_window, 0);
    // Qwen2Config's defaults: a 4096 window from layer 28, so a 4-layer
    // model has none.
    ASSERT_OK_AND_ASSIGN(c, Qwen(arch, R"(, "use_sliding_window": true)"));
    EXPECT_EQ(c.sliding_window, 0);
    EXPECT_TRUE(c.sliding_layers.empty());
    ASSERT_OK_AND_ASSIGN(
        c,
        Qwen(arch, R"(, "use_sliding_window": true, "max_window_layers": 0)"));
    EXPECT_EQ(c.sliding_window, 4096);
  }
  EXPECT_THAT(Qwen("Qwen2ForCausalLM", R"(, "use_sliding_window": true,
        "max_window_layers": -1)"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("config.json"),
                             HasSubstr("max_window_layers"))));
  EXPECT_THAT(Qwen("Qwen2ForCausalLM", R"(, "use_sliding_window": true,
        "layer_types": ["full_attention"])"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("config.json"), HasSubstr("layer_types"),
                             HasSubstr("a list of 4 layer types"))));
}

TEST(ConfigParserTest, QwenMixturesRefuseAWindowTheyDoNotApply) {
  for (const char* arch : {"Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM"}) {
    EXPECT_THAT(Qwen(arch, R"(, "use_sliding_window": true)"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("config.json"),
                               HasSubstr("use_sliding_window"))))
        << arch;
  }
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
    "rope_scaling": {"type": "linear", "factor": 2.0}})",
                                                       "c.json"));
  EXPECT_EQ(c.rope_scaling.type, "linear");
}

TEST(ConfigParserTest, MissingFieldIsNamed) {
  EXPECT_THAT(
      ParseModelConfig(
          R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10,
    "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2})",
          "dir/config.json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("dir/config.json"), HasSubstr("'hidden_size'"),
                     HasSubstr("missing"))));
}

TEST(ConfigParserTest, BadValuesAreNamed) {
  const char* base =
      R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10,
    "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,)";
  EXPECT_THAT(
      ParseModelConfig(std::string(base) + R"("num_key_value_heads": 3})", "c"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'num_key_value_heads'")));
  EXPECT_THAT(
      ParseModelConfig(std::string(base) + R"("rms_norm_eps": "x"})", "c"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'rms_norm_eps'")));
  EXPECT_THAT(
      ParseModelConfig(
          std::string(base) + R"("rope_scaling": {"rope_type": "ntk"}})", "c"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("rope_scaling.rope_type")));
  EXPECT_THAT(
      ParseModelConfig(std::string(base) + R"("eos_token_id": ["a"]})", "c"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'eos_token_id'")));
  EXPECT_THAT(ParseModelConfig(R"({"vocab_size": 1})", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'architectures'")));
  EXPECT_THAT(ParseModelConfig("{", "c"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Each bad value is one line with the file, the field path, what was
// expected and what the file holds.
TEST(ConfigParserTest, BadValuesSayWhatWasExpectedAndFound) {
  const std::string base =
      R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10,
    "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,)";
  auto error = [&](const std::string& tail) {
    return std::string(
        ParseModelConfig(base + tail, "c.json").status().message());
  };
  EXPECT_EQ(error(R"("rms_norm_eps": "x"})"),
            R"(c.json: field 'rms_norm_eps': expected a number, got "x")");
  EXPECT_EQ(error(R"("rms_norm_eps": -1e-5})"),
            "c.json: field 'rms_norm_eps': expected a number >= 0, got -1e-05");
  EXPECT_EQ(
      error(R"("rope_theta": 1e999})"),
      "c.json: field 'rope_theta': expected a finite number, got Infinity");
  EXPECT_EQ(error(R"("max_position_embeddings": 0})"),
            "c.json: field 'max_position_embeddings': expected an integer in "
            "[1, 1073741824], "
            "got 0");
  EXPECT_EQ(error(R"("num_key_value_heads": 2.0})"),
            "c.json: field 'num_key_value_heads': expected an integer in [1, "
            "1073741824], "
            "got 2.0");
  EXPECT_EQ(error(R"("num_key_value_heads": 3})"),
            "c.json: field 'num_key_value_heads': 3 does not divide "
            "num_attention_heads (2)");
  EXPECT_EQ(error(R"("head_dim": 3})"),
            "c.json: field 'head_dim': 3 is odd; RoPE rotates pairs");
  EXPECT_EQ(
      error(R"("tie_word_embeddings": "yes"})"),
      R"(c.json: field 'tie_word_embeddings': expected true or false, got "yes")");
  EXPECT_EQ(error(R"("eos_token_id": [1, -2]})"),
            "c.json: field 'eos_token_id': expected a token id or a list of "
            "token ids, "
            "got [1, -2]");
  EXPECT_EQ(error(R"("rope_scaling": [1]})"),
            "c.json: field 'rope_scaling': expected an object, got [1]");
  EXPECT_EQ(error(R"("rope_scaling": {"type": "ntk"}})"),
            "c.json: field 'rope_scaling.type': 'ntk' is not supported "
            "(llama3, linear, yarn, dynamic, longrope, su)");
  EXPECT_EQ(error(R"("rope_scaling": {"rope_type": "mrope"}})"),
            "c.json: field 'rope_scaling.rope_type': 'mrope' is not supported "
            "(llama3, linear, yarn, dynamic, longrope, su)");
  EXPECT_EQ(error(R"("partial_rotary_factor": 0.01})"),
            "c.json: field 'partial_rotary_factor': 0.01 times head_dim (4) "
            "must give an even number of rotated dimensions, at most "
            "head_dim");
  EXPECT_EQ(
      error(R"("rope_scaling": {"rope_type": "linear", "factor": "x"}})"),
      R"(c.json: field 'rope_scaling.factor': expected a number, got "x")");
  EXPECT_EQ(
      error(
          R"("rope_scaling": {"rope_type": "llama3", "high_freq_factor": 0.5}})"),
      "c.json: field 'rope_scaling.high_freq_factor': 0.5 does not exceed "
      "low_freq_factor "
      "(1)");
  EXPECT_EQ(
      std::string(ParseModelConfig(R"({"architectures": ["LlamaForCausalLM"],
    "vocab_size": 10, "hidden_size": 9, "intermediate_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2})",
                                   "c.json")
                      .status()
                      .message()),
      "c.json: field 'head_dim': not given, and hidden_size (9) is not a "
      "multiple of "
      "num_attention_heads (2)");
  EXPECT_EQ(std::string(ParseModelConfig(R"({"architectures": []})", "c.json")
                            .status()
                            .message()),
            "c.json: field 'architectures': expected a non-empty list of "
            "strings, got []");
  EXPECT_EQ(std::string(ParseModelConfig("[1]", "c.json").status().message()),
            "c.json: expected an object, got [1]");
  // null reads as absent, as transformers reads it.
  ASSERT_OK_AND_ASSIGN(ModelConfig c,
                       ParseModelConfig(base + R"("head_dim": null,
    "rope_scaling": null, "eos_token_id": null, "torch_dtype": null})",
                                        "c.json"));
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_TRUE(c.eos_token_ids.empty());
}

}  // namespace
}  // namespace evald::runners::native::model
