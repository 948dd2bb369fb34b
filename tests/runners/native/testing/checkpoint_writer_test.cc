#include "runners/native/testing/checkpoint_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "base/file.h"
#include "base/json.h"
#include "runners/native/model/config_parser.h"
#include "runners/native/model/safetensors.h"
#include "runners/native/testing/tokenizer_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::testing {

using model::DType;
using model::LoadModelConfig;
using model::ModelConfig;
using model::TensorInfo;
using model::TensorStore;
namespace {

using ::evald::testing::StatusIs;

TEST(CheckpointWriterTest, ConfigRoundTripsThroughTheParser) {
  evald::testing::TempDir dir;
  CheckpointSpec spec;
  spec.arch = "qwen3";
  spec.head_dim = 48;
  spec.rope_scaling = "llama3";
  spec.tie_embeddings = true;
  spec.dtype = DType::kF16;
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  ASSERT_OK_AND_ASSIGN(ModelConfig c, LoadModelConfig(dir.path()));
  EXPECT_EQ(c.architecture, "Qwen3ForCausalLM");
  EXPECT_EQ(c.head_dim, 48);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.torch_dtype, "float16");
  ASSERT_EQ(c.eos_token_ids.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto store, TensorStore::Open(dir.path()));
  EXPECT_EQ(store->Find("lm_head.weight"), nullptr);
  const TensorInfo* qn = store->Find("model.layers.0.self_attn.q_norm.weight");
  ASSERT_NE(qn, nullptr);
  EXPECT_EQ(qn->dtype, DType::kF16);
  EXPECT_EQ(store->Find("model.layers.0.self_attn.q_proj.weight")->shape,
            (std::vector<int64_t>{4 * 48, 128}));
}

TEST(CheckpointWriterTest, QwenWindowRoundTripsThroughTheParser) {
  evald::testing::TempDir dir;
  CheckpointSpec spec;
  spec.arch = "qwen2";
  spec.layers = 4;
  spec.sliding_window = 48;
  spec.max_window_layers = 3;
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  ASSERT_OK_AND_ASSIGN(ModelConfig c, LoadModelConfig(dir.path()));
  EXPECT_EQ(c.sliding_window, 48);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{false, false, false, true}));
  ASSERT_OK_AND_ASSIGN(CheckpointSpec again, SpecFromModelConfig(c));
  EXPECT_EQ(again.sliding_window, 48);
  EXPECT_EQ(again.max_window_layers, 3);
}

TEST(CheckpointWriterTest, SameSeedSameBytesOtherSeedOtherBytes) {
  evald::testing::TempDir a, b, c;
  CheckpointSpec spec;
  ASSERT_OK(WriteCheckpoint(spec, a.path()));
  ASSERT_OK(WriteCheckpoint(spec, b.path()));
  spec.seed = 1;
  ASSERT_OK(WriteCheckpoint(spec, c.path()));
  ASSERT_OK_AND_ASSIGN(std::string wa,
                       base::ReadFileToString(a.Join("model.safetensors")));
  ASSERT_OK_AND_ASSIGN(std::string wb,
                       base::ReadFileToString(b.Join("model.safetensors")));
  ASSERT_OK_AND_ASSIGN(std::string wc,
                       base::ReadFileToString(c.Join("model.safetensors")));
  EXPECT_EQ(wa, wb);
  EXPECT_NE(wa, wc);
  EXPECT_EQ(wa.size(), wc.size());
}

TEST(CheckpointWriterTest, WeightsHaveTheIntendedScale) {
  evald::testing::TempDir dir;
  CheckpointSpec spec;
  spec.dtype = DType::kF32;
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  ASSERT_OK_AND_ASSIGN(auto store, TensorStore::Open(dir.path()));
  const TensorInfo* t =
      store->Find("model.layers.0.mlp.down_proj.weight");  // fan-in 256
  ASSERT_NE(t, nullptr);
  const float* v = reinterpret_cast<const float*>(t->data);
  double sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < t->num_elements; ++i) {
    sum += v[i];
    sum_sq += static_cast<double>(v[i]) * v[i];
  }
  const double mean = sum / t->num_elements;
  const double std = std::sqrt(sum_sq / t->num_elements - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(std, 1.0 / 16.0, 0.003);
  const TensorInfo* norm = store->Find("model.norm.weight");
  EXPECT_EQ(reinterpret_cast<const float*>(norm->data)[5], 1.0f);
}

TEST(CheckpointWriterTest, RejectsBadSpecs) {
  evald::testing::TempDir dir;
  CheckpointSpec spec;
  spec.arch = "gpt2";
  EXPECT_THAT(WriteCheckpoint(spec, dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  spec.arch = "llama";
  spec.kv_heads = 3;
  EXPECT_THAT(WriteCheckpoint(spec, dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  spec.kv_heads = 2;
  spec.vocab = 200;
  EXPECT_THAT(WriteCheckpoint(spec, dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckpointPreset("gpt-5").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CheckpointWriterTest, PresetsHaveRealShapes) {
  ASSERT_OK_AND_ASSIGN(CheckpointSpec s, CheckpointPreset("llama-3.2-1b"));
  const ModelConfig c = SpecToModelConfig(s);
  // 1.235 B parameters with tied embeddings.
  const int64_t per_layer =
      2 * 2048 * 2048 + 2 * 512 * 2048 + 3 * 2048 * 8192 + 2 * 2048;
  const int64_t params = 128256LL * 2048 + 16 * per_layer + 2048;
  EXPECT_NEAR(static_cast<double>(params), 1.2355e9, 1e6);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_TRUE(c.tie_word_embeddings);
}

class TokenizerFileTest : public ::testing::TestWithParam<int> {};

TEST_P(TokenizerFileTest, IsAConsistentByteLevelBpe) {
  const int vocab = GetParam();
  ASSERT_OK_AND_ASSIGN(SyntheticTokenizer tok,
                       BuildSyntheticTokenizer(vocab, 4096));
  ASSERT_OK_AND_ASSIGN(base::Json j, base::ParseJson(tok.tokenizer_json));
  const base::Json* model = j.Find("model");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->Find("type")->string_value(), "BPE");
  EXPECT_EQ(j.Find("decoder")->Find("type")->string_value(), "ByteLevel");
  EXPECT_EQ(j.Find("post_processor")->Find("type")->string_value(),
            "TemplateProcessing");
  const auto& pre = j.Find("pre_tokenizer")->Find("pretokenizers")->array();
  ASSERT_EQ(pre.size(), 2u);
  EXPECT_EQ(pre[0].Find("type")->string_value(), "Split");
  EXPECT_FALSE(pre[1].Find("use_regex")->bool_value());

  // Ids are dense over [0, vocab) across vocab + added tokens, and unique.
  std::set<int64_t> ids;
  absl::flat_hash_map<std::string, int64_t> by_token;
  for (const auto& [token, id] : model->Find("vocab")->object()) {
    EXPECT_TRUE(ids.insert(id.int_value()).second) << token;
    EXPECT_TRUE(by_token.emplace(token, id.int_value()).second) << token;
  }
  for (const base::Json& added : j.Find("added_tokens")->array()) {
    EXPECT_TRUE(ids.insert(added.Find("id")->int_value()).second);
    EXPECT_TRUE(added.Find("special")->bool_value());
  }
  EXPECT_EQ(static_cast<int>(ids.size()), vocab);
  EXPECT_EQ(*ids.begin(), 0);
  EXPECT_EQ(*ids.rbegin(), vocab - 1);
  // Every merge joins two known tokens into a known token.
  int merges = 0;
  for (const base::Json& m : model->Find("merges")->array()) {
    const std::string& s = m.string_value();
    const size_t space = s.find(' ');
    ASSERT_NE(space, std::string::npos) << s;
    const std::string left = s.substr(0, space), right = s.substr(space + 1);
    EXPECT_TRUE(by_token.contains(left)) << s;
    EXPECT_TRUE(by_token.contains(right)) << s;
    EXPECT_TRUE(by_token.contains(left + right)) << s;
    ++merges;
  }
  EXPECT_EQ(merges, tok.num_merges);
  EXPECT_GT(merges, 10);
  // Byte-level space is "Ġ" and " the" is one token once there is room.
  EXPECT_EQ(by_token["\xC4\xA0"], 32);
  if (vocab >= 1024) {
    EXPECT_TRUE(by_token.contains("\xC4\xA0the"));
  }
  ASSERT_OK_AND_ASSIGN(base::Json cfg,
                       base::ParseJson(tok.tokenizer_config_json));
  EXPECT_EQ(cfg.Find("bos_token")->string_value(), "<|begin_of_text|>");
  EXPECT_EQ(cfg.Find("eos_token")->string_value(), "<|eot_id|>");
  EXPECT_NE(
      cfg.Find("chat_template")->string_value().find("<|start_header_id|>"),
      std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, TokenizerFileTest,
                         ::testing::Values(300, 1024, 128256));

TEST(TokenizerWriterTest, Llama3SizedVocabUsesLlama3SpecialIds) {
  ASSERT_OK_AND_ASSIGN(SyntheticTokenizer tok,
                       BuildSyntheticTokenizer(128256, 131072));
  EXPECT_EQ(tok.bos_id, 128000);
  EXPECT_EQ(tok.eos_id, 128001);
  EXPECT_EQ(tok.eot_id, 128009);
}

TEST(TokenizerWriterTest, ByteLevelAlphabet) {
  EXPECT_EQ(ByteLevelSymbol('a'), "a");
  EXPECT_EQ(ByteLevelSymbol(' '), "\xC4\xA0");   // U+0120
  EXPECT_EQ(ByteLevelSymbol('\n'), "\xC4\x8A");  // U+010A
  EXPECT_EQ(ByteLevelSymbol(0xAD), "\xC5\x83");  // U+0143
  std::set<std::string> all;
  for (int b = 0; b < 256; ++b)
    all.insert(ByteLevelSymbol(static_cast<uint8_t>(b)));
  EXPECT_EQ(all.size(), 256u);
}

}  // namespace
}  // namespace evald::runners::native::testing
