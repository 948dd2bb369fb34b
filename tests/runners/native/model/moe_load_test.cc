// File: tests/runners/native/model/moe_load_test.cc
// -----------------------------------------------------------------------------
// Loading the mixture-of-experts families: expert matrices stay in the
// mapping, and bad input (a config.json key the family needs, an expert
// tensor missing or of the wrong shape, F16 experts) is one error naming the
// file and the key or tensor.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/file.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/backend.h"
#include "runners/native/model/config_parser.h"
#include "runners/native/model/model.h"
#include "runners/native/model/moe_weights.h"
#include "runners/native/model/safetensors.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::model {

using ::evald::testing::StatusIs;
using ::testing::AllOf;
using testing::CheckpointSpec;
using ::testing::HasSubstr;
using testing::WriteCheckpoint;
namespace {

CheckpointSpec TinyMoe(const std::string& arch) {
  CheckpointSpec spec;
  spec.arch = arch;
  spec.hidden = 64;
  spec.layers = 2;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.intermediate = 96;
  spec.moe_intermediate = 48;
  spec.vocab = 300;
  spec.num_experts = 4;
  return spec;
}

// Replaces `from` by `to` in dir/config.json (which must contain it).
void EditConfig(const std::string& dir, const std::string& from,
                const std::string& to) {
  const std::string path = dir + "/config.json";
  ASSERT_OK_AND_ASSIGN(std::string text, base::ReadFileToString(path));
  ASSERT_NE(text.find(from), std::string::npos) << from;
  ASSERT_OK(
      base::WriteFileAtomically(path, absl::StrReplaceAll(text, {{from, to}})));
}

absl::Status LoadStatus(const std::string& dir) {
  LoadOptions options;
  options.device = Device::kCpu;
  return Model::Load(dir, options).status();
}

// config.json keys as the published Qwen1.5-MoE-A2.7B (Qwen2MoeForCausalLM)
// and Qwen3-30B-A3B checkpoints give them.
TEST(MoeLoadTest, PublishedConfigsParse) {
  ASSERT_OK_AND_ASSIGN(
      ModelConfig q2,
      ParseModelConfig(
          R"({"architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe",
          "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24,
          "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 151936,
          "num_experts": 60, "num_experts_per_tok": 4, "moe_intermediate_size": 1408,
          "shared_expert_intermediate_size": 5632, "norm_topk_prob": false,
          "decoder_sparse_step": 1, "output_router_logits": false,
          "router_aux_loss_coef": 0.001, "torch_dtype": "bfloat16"})",
          "q2/config.json"));
  ASSERT_OK(FindArchitecture("Qwen2MoeForCausalLM")->FinalizeConfig(&q2));
  EXPECT_EQ(q2.moe.num_experts, 60);
  EXPECT_EQ(q2.moe.experts_per_token, 4);
  EXPECT_EQ(q2.moe.expert_intermediate_size, 1408);
  EXPECT_EQ(q2.moe.shared_expert_intermediate_size, 5632);
  EXPECT_FALSE(q2.moe.norm_topk_prob);
  EXPECT_FALSE(q2.moe.softmax_after_topk);
  EXPECT_TRUE(q2.attention_bias);
  for (int l = 0; l < 24; ++l) EXPECT_TRUE(IsMoeLayer(q2, l)) << l;
  // Qwen2MoeConfig's qkv_bias (default true) turns the biases off.
  ASSERT_OK_AND_ASSIGN(
      ModelConfig q2_nobias,
      ParseModelConfig(
          R"({"architectures": ["Qwen2MoeForCausalLM"], "hidden_size": 64,
          "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
          "vocab_size": 100, "num_experts": 4, "num_experts_per_tok": 2,
          "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64,
          "qkv_bias": false})",
          "q2b/config.json"));
  ASSERT_OK(
      FindArchitecture("Qwen2MoeForCausalLM")->FinalizeConfig(&q2_nobias));
  EXPECT_FALSE(q2_nobias.attention_bias);

  ASSERT_OK_AND_ASSIGN(
      ModelConfig q3,
      ParseModelConfig(
          R"({"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
          "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 48,
          "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
          "vocab_size": 151936, "num_experts": 128, "num_experts_per_tok": 8,
          "moe_intermediate_size": 768, "norm_topk_prob": true,
          "decoder_sparse_step": 2, "mlp_only_layers": [3], "attention_bias": false,
          "torch_dtype": "bfloat16"})",
          "q3/config.json"));
  ASSERT_OK(FindArchitecture("Qwen3MoeForCausalLM")->FinalizeConfig(&q3));
  EXPECT_EQ(q3.moe.expert_intermediate_size, 768);
  EXPECT_EQ(q3.moe.shared_expert_intermediate_size, 0);
  EXPECT_TRUE(q3.moe.norm_topk_prob);
  EXPECT_TRUE(q3.qk_norm);
  // Sparse: layers 1, 5, 7, ... (every second, 3 listed dense).
  EXPECT_FALSE(IsMoeLayer(q3, 0));
  EXPECT_TRUE(IsMoeLayer(q3, 1));
  EXPECT_FALSE(IsMoeLayer(q3, 3));
  EXPECT_TRUE(IsMoeLayer(q3, 5));

  // Mixtral's experts are intermediate_size wide; routing renormalises.
  ASSERT_OK_AND_ASSIGN(
      ModelConfig mx,
      ParseModelConfig(
          R"({"architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
          "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
          "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000,
          "num_local_experts": 8, "num_experts_per_tok": 2, "rope_theta": 1e6,
          "sliding_window": null, "torch_dtype": "bfloat16"})",
          "mx/config.json"));
  ASSERT_OK(FindArchitecture("MixtralForCausalLM")->FinalizeConfig(&mx));
  EXPECT_EQ(mx.moe.num_experts, 8);
  EXPECT_EQ(mx.moe.expert_intermediate_size, 14336);
  EXPECT_TRUE(mx.moe.softmax_after_topk);
  EXPECT_TRUE(IsMoeLayer(mx, 31));

  // A dense config has no MoE layer.
  ASSERT_OK_AND_ASSIGN(
      ModelConfig dense,
      ParseModelConfig(
          R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
          "intermediate_size": 128, "num_hidden_layers": 2,
          "num_attention_heads": 4, "vocab_size": 100})",
          "d/config.json"));
  EXPECT_EQ(dense.moe.num_experts, 0);
  EXPECT_FALSE(IsMoeLayer(dense, 0));
}

TEST(MoeLoadTest, ExpertsStayInTheMapping) {
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(TinyMoe("mixtral"), dir.path()));
  ASSERT_OK_AND_ASSIGN(ModelConfig config, LoadModelConfig(dir.path()));
  const Architecture* arch = FindArchitecture("MixtralForCausalLM");
  ASSERT_NE(arch, nullptr);
  ASSERT_OK(arch->FinalizeConfig(&config));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TensorStore> store,
                       TensorStore::Open(dir.path()));
  WeightLoader loader(store.get());
  ASSERT_OK_AND_ASSIGN(DecoderWeights w, arch->LoadWeights(config, &loader));
  EXPECT_TRUE(w.owned.empty());
  ASSERT_EQ(w.layers[1].experts.size(), 4u);
  const TensorInfo* t =
      store->Find("model.layers.1.block_sparse_moe.experts.3.w2.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(w.layers[1].experts[3].down.data, t->data);
  EXPECT_EQ(w.layers[1].experts[3].down.rows, 64);
  EXPECT_EQ(w.layers[1].experts[3].down.cols, 96);
  // No dense MLP in a sparse layer.
  EXPECT_EQ(w.layers[0].gate.data, nullptr);
}

TEST(MoeLoadTest, Qwen2MoeDenseLayersAndSharedExpert) {
  evald::testing::TempDir dir;
  CheckpointSpec spec = TinyMoe("qwen2_moe");
  spec.layers = 3;
  spec.mlp_only_layers = {0};
  spec.shared_expert_intermediate = 40;
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  LoadOptions options;
  options.device = Device::kCpu;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> model,
                       Model::Load(dir.path(), options));
  const MoeConfig& moe = model->config().moe;
  EXPECT_EQ(moe.num_experts, 4);
  EXPECT_EQ(moe.expert_intermediate_size, 48);
  EXPECT_EQ(moe.shared_expert_intermediate_size, 40);
  EXPECT_FALSE(IsMoeLayer(model->config(), 0));
  EXPECT_TRUE(IsMoeLayer(model->config(), 1));
  EXPECT_TRUE(model->config().attention_bias);
}

TEST(MoeLoadTest, MissingConfigKeyIsNamed) {
  struct Case {
    std::string arch, from, to, key;
  };
  for (const Case& c : {
           Case{"mixtral", "\"num_local_experts\": 4,", "",
                "'num_local_experts' is missing"},
           Case{"mixtral", "\"num_experts_per_tok\": 2,", "",
                "'num_experts_per_tok' is missing"},
           Case{"qwen2_moe", "\"shared_expert_intermediate_size\": 96,", "",
                "'shared_expert_intermediate_size' is missing"},
           Case{"qwen3_moe", "\"moe_intermediate_size\": 48,", "",
                "'moe_intermediate_size' is missing"},
           Case{"qwen3_moe", "\"num_experts\": 4,", "",
                "'num_experts' is missing"},
           Case{"qwen3_moe", "\"num_experts_per_tok\": 2,",
                "\"num_experts_per_tok\": 5,", "exceeds num_experts"},
           Case{"qwen3_moe", "\"mlp_only_layers\": []",
                "\"mlp_only_layers\": [7]", "layer 7 does not exist"},
           Case{"qwen3_moe", "\"mlp_only_layers\": []",
                "\"mlp_only_layers\": 1", "mlp_only_layers"},
       }) {
    SCOPED_TRACE(c.arch + ": " + c.key);
    evald::testing::TempDir dir;
    ASSERT_OK(WriteCheckpoint(TinyMoe(c.arch), dir.path()));
    EditConfig(dir.path(), c.from, c.to);
    EXPECT_THAT(LoadStatus(dir.path()),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(dir.path() + "/config.json"),
                               HasSubstr(c.key))));
  }
}

TEST(MoeLoadTest, MoreExpertsThanTheRouterHasIsNamed) {
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(TinyMoe("mixtral"), dir.path()));
  // The config now promises a fifth expert the file does not hold.
  EditConfig(dir.path(), "\"num_local_experts\": 4,",
             "\"num_local_experts\": 5,");
  EXPECT_THAT(
      LoadStatus(dir.path()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr(dir.path()),
                     HasSubstr("model.layers.0.block_sparse_moe.gate.weight"),
                     HasSubstr("[5, 64]"))));
}

TEST(MoeLoadTest, MissingExpertMatrixIsNamed) {
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(TinyMoe("mixtral"), dir.path()));
  // Rename one expert matrix in the safetensors header (same length).
  const std::string path = dir.path() + "/model.safetensors";
  ASSERT_OK_AND_ASSIGN(std::string bytes, base::ReadFileToString(path));
  const std::string name =
      "model.layers.1.block_sparse_moe.experts.2.w3.weight";
  const size_t at = bytes.find(name);
  ASSERT_NE(at, std::string::npos);
  bytes[at + name.size() - 8] = '9';  // ...experts.2.w9.weight
  ASSERT_OK(base::WriteFileAtomically(path, bytes));
  const absl::Status status = LoadStatus(dir.path());
  std::printf("%s\n", std::string(status.message()).c_str());
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               AllOf(HasSubstr(dir.path()),
                                     HasSubstr("missing tensor '" + name),
                                     HasSubstr("[96, 64]"))));
}

TEST(MoeLoadTest, ExpertShapeMismatchNamesFileAndTensor) {
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(TinyMoe("qwen3_moe"), dir.path()));
  EditConfig(dir.path(), "\"moe_intermediate_size\": 48,",
             "\"moe_intermediate_size\": 40,");
  EXPECT_THAT(
      LoadStatus(dir.path()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("model.safetensors"),
                     HasSubstr("model.layers.0.mlp.experts.0.gate_proj.weight"),
                     HasSubstr("has shape [48, 64], expected [40, 64]"))));
}

TEST(MoeLoadTest, F16ExpertsAreRefusedNotCopied) {
  evald::testing::TempDir dir;
  CheckpointSpec spec = TinyMoe("qwen2_moe");
  spec.dtype = DType::kF16;
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  EXPECT_THAT(
      LoadStatus(dir.path()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("model.safetensors"),
                     HasSubstr("model.layers.0.mlp.experts.0.gate_proj.weight"),
                     HasSubstr("BF16 or F32"))));
}

// The CUDA backend has no MoE op. With a GPU backend that reports a usable
// device (a stand-in, so that this runs without a GPU; the build's own
// backend, if any, is put back after), --device cuda refuses a MoE model at
// load in one line naming the missing op, before any weight is read, and
// --device auto runs it on the CPU.
TEST(MoeLoadTest, CudaRefusesMoeAndAutoFallsBackToCpu) {
  const GpuBackend* built = FindGpuBackend();
  GpuBackend fake;
  fake.name = "cuda";
  fake.available = [](int) { return absl::OkStatus(); };
  fake.create =
      [](ModelConfig config, std::unique_ptr<TensorStore>, DecoderWeights,
         const LoadOptions&) -> absl::StatusOr<std::unique_ptr<Model>> {
    return absl::InternalError("the GPU backend was asked to build " +
                               config.architecture);
  };
  RegisterGpuBackend(fake);
  struct Restore {
    const GpuBackend* built;
    ~Restore() {
      if (built != nullptr) RegisterGpuBackend(*built);
    }
  } restore{built};
  evald::testing::TempDir dir;
  ASSERT_OK(WriteCheckpoint(TinyMoe("qwen3_moe"), dir.path()));
  LoadOptions cuda;
  cuda.device = Device::kCuda;
  const absl::Status refused = Model::Load(dir.path(), cuda).status();
  EXPECT_THAT(refused,
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("--device cuda: Qwen3MoeForCausalLM"),
                             HasSubstr("mixture-of-experts op"),
                             HasSubstr("--device cpu"))));
  std::printf("%s\n", std::string(refused.message()).c_str());
  LoadOptions automatic;
  automatic.device = Device::kAuto;
  automatic.num_threads = 1;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> model,
                       Model::Load(dir.path(), automatic));
  EXPECT_EQ(model->config().moe.num_experts, 4);
}

}  // namespace
}  // namespace evald::runners::native::model
