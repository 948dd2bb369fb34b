// The memory planner on the real shapes of Llama-3.1-8B (BF16) and
// Llama-3.1-70B AWQ-INT4: config.json files as the model cards give them and
// safetensors files whose headers list every tensor (data left sparse), so
// the planner reads exact sizes without gigabytes on disk; and the
// checkpoint checks that plan and submit share, on each kind of broken
// checkpoint.
#include "daemon/planner.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/file.h"
#include "base/json.h"
#include "runners/native/testing/tokenizer_writer.h"
#include "tests/daemon/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon {
namespace {

using ::evald::testing::TempDir;
using ::evald::testing::WriteTestFile;
using ::testing::HasSubstr;

struct Tensor {
  std::string name;
  std::string dtype;  // "BF16", "F16", "I32"
  std::vector<int64_t> shape;
};

int64_t Bytes(const Tensor& t) {
  int64_t n = t.dtype == "I32" ? 4 : 2;
  for (int64_t d : t.shape) n *= d;
  return n;
}

// Writes `tensors` as one safetensors file: a real header, then a sparse
// data section of the right length.
void WriteSparseSafetensors(const std::string& path,
                            const std::vector<Tensor>& tensors) {
  base::Json header = base::Json::MakeObject();
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    base::Json info = base::Json::MakeObject();
    info.Set("dtype", base::Json::String(t.dtype));
    base::Json shape = base::Json::MakeArray();
    for (int64_t d : t.shape) shape.Push(base::Json::Int(d));
    info.Set("shape", std::move(shape));
    base::Json offsets = base::Json::MakeArray();
    offsets.Push(base::Json::Int(offset));
    offset += Bytes(t);
    offsets.Push(base::Json::Int(offset));
    info.Set("data_offsets", std::move(offsets));
    header.Set(t.name, std::move(info));
  }
  // Padded with spaces so the data starts 8-byte aligned, as real writers do
  // (the loader refuses data that is not aligned to its elements).
  std::string text = header.Dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  bytes += text;
  WriteTestFile(path, bytes);
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(bytes.size() + offset)),
            0);
}

// Llama-3.1-style tensors; `awq` packs the seven projections as AutoAWQ does
// (qweight int32 [in, out/8], qzeros int32 [in/128, out/8], scales fp16
// [in/128, out]).
std::vector<Tensor> LlamaTensors(int layers, int64_t hidden, int64_t inter,
                                 int64_t kv_dim, int64_t vocab, bool awq) {
  const std::string dense = awq ? "F16" : "BF16";
  std::vector<Tensor> t = {
      {"model.embed_tokens.weight", dense, {vocab, hidden}},
      {"lm_head.weight", dense, {vocab, hidden}},
      {"model.norm.weight", dense, {hidden}}};
  for (int l = 0; l < layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    t.push_back({p + "input_layernorm.weight", dense, {hidden}});
    t.push_back({p + "post_attention_layernorm.weight", dense, {hidden}});
    const std::vector<std::tuple<std::string, int64_t, int64_t>> projections = {
        {"self_attn.q_proj", hidden, hidden},
        {"self_attn.k_proj", hidden, kv_dim},
        {"self_attn.v_proj", hidden, kv_dim},
        {"self_attn.o_proj", hidden, hidden},
        {"mlp.gate_proj", hidden, inter},
        {"mlp.up_proj", hidden, inter},
        {"mlp.down_proj", inter, hidden}};
    for (const auto& [name, in, out] : projections) {
      if (awq) {
        t.push_back({p + name + ".qweight", "I32", {in, out / 8}});
        t.push_back({p + name + ".qzeros", "I32", {in / 128, out / 8}});
        t.push_back({p + name + ".scales", "F16", {in / 128, out}});
      } else {
        t.push_back({p + name + ".weight", dense, {out, in}});
      }
    }
  }
  return t;
}

constexpr char kConfig8b[] =
    R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
  "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
  "torch_dtype": "bfloat16"})";
constexpr char kConfig70bAwq[] =
    R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8192,
  "intermediate_size": 28672, "num_attention_heads": 64, "num_hidden_layers": 80,
  "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
  "torch_dtype": "float16", "quantization_config": {"quant_method": "awq", "bits": 4,
  "group_size": 128, "zero_point": true, "version": "gemm"}})";

// A small real tokenizer: the checks build the tokenizer as the loader does.
void WriteTokenizer(const std::string& dir) {
  absl::StatusOr<runners::native::testing::SyntheticTokenizer> tok =
      runners::native::testing::BuildSyntheticTokenizer(600, 2048);
  ASSERT_TRUE(tok.ok()) << tok.status();
  WriteTestFile(dir + "/tokenizer.json", tok->tokenizer_json);
  WriteTestFile(dir + "/tokenizer_config.json", tok->tokenizer_config_json);
}

class PlannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteTokenizer(dir_.Join("8b"));
    WriteTokenizer(dir_.Join("70b"));
    WriteTestFile(dir_.Join("8b/config.json"), kConfig8b);
    WriteSparseSafetensors(dir_.Join("8b/model.safetensors"),
                           LlamaTensors(32, 4096, 14336, 1024, 128256, false));
    WriteTestFile(dir_.Join("70b/config.json"), kConfig70bAwq);
    // Two shards and an index, as large checkpoints come.
    std::vector<Tensor> all = LlamaTensors(80, 8192, 28672, 1024, 128256, true);
    std::vector<Tensor> first(all.begin(), all.begin() + all.size() / 2);
    std::vector<Tensor> second(all.begin() + all.size() / 2, all.end());
    WriteSparseSafetensors(dir_.Join("70b/model-00001-of-00002.safetensors"),
                           first);
    WriteSparseSafetensors(dir_.Join("70b/model-00002-of-00002.safetensors"),
                           second);
    base::Json map = base::Json::MakeObject();
    for (const Tensor& t : first)
      map.Set(t.name, base::Json::String("model-00001-of-00002.safetensors"));
    for (const Tensor& t : second)
      map.Set(t.name, base::Json::String("model-00002-of-00002.safetensors"));
    base::Json index = base::Json::MakeObject();
    index.Set("weight_map", std::move(map));
    WriteTestFile(dir_.Join("70b/model.safetensors.index.json"), index.Dump());
    spec_.mutable_candidate()->set_path(dir_.Join("8b"));
    spec_.mutable_judge()->set_path(dir_.Join("70b"));
  }

  TempDir dir_;
  v1::RunSpec spec_;
};

// Hand computation (independent of the header walk):
//   8B: 8,030,261,248 parameters (the model card's 8.03B) x 2 bytes.
//   70B AWQ: per layer the projections hold 8192 x (8192 + 1024 + 1024 + 8192 +
//   28672 + 28672) + 28672 x 8192 = 855,638,016 weights at 4 bits (0.5 byte),
//   plus zeros (4 bits) and fp16 scales per 128 inputs: 1/128 x (0.5 + 2) bytes
//   per weight; plus 2 x 8192 fp16 norms; embed + lm_head 2 x 128256 x 8192 x 2
//   bytes and the final norm.
constexpr int64_t kWeights8b = int64_t{8030261248} * 2;
constexpr int64_t kLayerWeights70b = int64_t{855638016};
constexpr int64_t kWeights70b =
    80 *
        (kLayerWeights70b / 2 + kLayerWeights70b / 128 * 5 / 2 + 2 * 8192 * 2) +
    2 * int64_t{128256} * 8192 * 2 + 8192 * 2;

TEST_F(PlannerTest, ExactWeightsAndGpuFitFor8bPlus70bAwq) {
  PlanOptions options;
  options.device = PlanDevice::kGpu;
  options.budget_bytes = int64_t{80} << 30;
  ASSERT_OK_AND_ASSIGN(MemoryPlan fits, PlanModels(spec_, options));
  ASSERT_EQ(fits.models.size(), 2u);
  EXPECT_EQ(fits.models[0].weight_bytes, kWeights8b);
  EXPECT_EQ(fits.models[1].weight_bytes, kWeights70b);
  EXPECT_EQ(fits.models[1].format, "awq-int4");
  // FP16 KV on the GPU: 32 x 2 x 8 x 128 x 2 and 80 x 2 x 8 x 128 x 2 bytes.
  EXPECT_EQ(fits.models[0].kv_bytes_per_token, 131072);
  EXPECT_EQ(fits.models[1].kv_bytes_per_token, 327680);
  EXPECT_TRUE(fits.fits);
  EXPECT_GT(fits.models[0].kv_tokens, 8192);
  EXPECT_GT(fits.models[1].kv_tokens, 8192);
  // With the judge idle the candidate may borrow the judge's share: its own
  // pool plus the judge's pool above the judge's minimum.
  const ModelPlan& judge = fits.models[1];
  EXPECT_NEAR(fits.models[0].kv_max_tokens,
              (fits.models[0].kv_pool_bytes + judge.kv_pool_bytes -
               judge.min_kv_tokens * judge.kv_bytes_per_token) /
                  131072,
              1);
  EXPECT_THAT(FormatPlan(fits),
              HasSubstr("KV pools are shared: with the other model idle, "
                        "candidate up to "));
  // Everything handed out stays within the budget.
  int64_t used = fits.reserve_bytes;
  for (const ModelPlan& m : fits.models)
    used += m.weight_bytes + m.workspace_bytes + m.kv_pool_bytes;
  EXPECT_LE(used, fits.budget_bytes);
  EXPECT_GT(used, fits.budget_bytes - 1024);

  for (int64_t gib : {24, 48}) {
    options.budget_bytes = gib << 30;
    ASSERT_OK_AND_ASSIGN(MemoryPlan no, PlanModels(spec_, options));
    EXPECT_FALSE(no.fits) << gib;
    EXPECT_THAT(FormatPlan(no), HasSubstr("does not fit: needed"));
  }
  // The CPU keeps FP32 KV: twice the bytes per token.
  options.device = PlanDevice::kCpu;
  ASSERT_OK_AND_ASSIGN(MemoryPlan cpu, PlanModels(spec_, options));
  EXPECT_EQ(cpu.models[0].kv_bytes_per_token, 262144);
  EXPECT_EQ(cpu.reserve_bytes, 0);
}

// Mixtral-8x7B as its model card gives it: every expert is resident, so the
// weights are all 46,702,792,704 parameters x 2 bytes. By hand: embed and
// lm_head 2 x 32000 x 4096; per layer q/o 2 x 4096^2, k/v 2 x 1024 x 4096,
// router 8 x 4096, 8 experts x 3 x 14336 x 4096, two norms 2 x 4096; 32
// layers; final norm 4096.
TEST_F(PlannerTest, MixtralCountsEveryExpertResident) {
  const std::string dir = dir_.Join("mixtral");
  WriteTokenizer(dir);
  WriteTestFile(
      dir + "/config.json",
      R"({"architectures": ["MixtralForCausalLM"], "hidden_size": 4096,
  "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 32768,
  "num_local_experts": 8, "num_experts_per_tok": 2, "torch_dtype": "bfloat16"})");
  std::vector<Tensor> t = {{"model.embed_tokens.weight", "BF16", {32000, 4096}},
                           {"lm_head.weight", "BF16", {32000, 4096}},
                           {"model.norm.weight", "BF16", {4096}}};
  for (int l = 0; l < 32; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    t.push_back({p + "input_layernorm.weight", "BF16", {4096}});
    t.push_back({p + "post_attention_layernorm.weight", "BF16", {4096}});
    t.push_back({p + "self_attn.q_proj.weight", "BF16", {4096, 4096}});
    t.push_back({p + "self_attn.k_proj.weight", "BF16", {1024, 4096}});
    t.push_back({p + "self_attn.v_proj.weight", "BF16", {1024, 4096}});
    t.push_back({p + "self_attn.o_proj.weight", "BF16", {4096, 4096}});
    t.push_back({p + "block_sparse_moe.gate.weight", "BF16", {8, 4096}});
    for (int e = 0; e < 8; ++e) {
      const std::string x =
          absl::StrCat(p, "block_sparse_moe.experts.", e, ".");
      t.push_back({x + "w1.weight", "BF16", {14336, 4096}});
      t.push_back({x + "w3.weight", "BF16", {14336, 4096}});
      t.push_back({x + "w2.weight", "BF16", {4096, 14336}});
    }
  }
  WriteSparseSafetensors(dir + "/model.safetensors", t);
  v1::RunSpec spec;
  spec.mutable_candidate()->set_path(dir);
  PlanOptions options;
  options.device = PlanDevice::kCpu;
  options.budget_bytes = int64_t{128} << 30;
  ASSERT_OK_AND_ASSIGN(MemoryPlan plan, PlanModels(spec, options));
  ASSERT_EQ(plan.models.size(), 1u);
  EXPECT_EQ(plan.models[0].weight_bytes, int64_t{46702792704} * 2);
  EXPECT_EQ(plan.models[0].kv_bytes_per_token, 32 * 2 * 8 * 128 * 4);
  EXPECT_TRUE(plan.fits);
  options.budget_bytes = int64_t{80} << 30;  // 93.4 GB of experts do not fit
  ASSERT_OK_AND_ASSIGN(MemoryPlan no, PlanModels(spec, options));
  EXPECT_FALSE(no.fits);
}

TEST_F(PlannerTest, BadCheckpointsAndSizesNameTheFault) {
  WriteTestFile(
      dir_.Join("8b/config.json"),
      R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 4096})");
  EXPECT_THAT(PlanModels(spec_, {}).status().message(),
              HasSubstr("candidate model " + dir_.Join("8b") +
                        ": config.json: field 'vocab_size' is missing"));
  WriteTestFile(dir_.Join("8b/config.json"), kConfig8b);
  WriteTestFile(dir_.Join("8b/model.safetensors"),
                std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8));
  EXPECT_THAT(PlanModels(spec_, {}).status().message(),
              HasSubstr(": model.safetensors: header length "
                        "9223372036854775807 runs past the end"));
  EXPECT_THAT(ParseByteSize("24 potatoes").status().message(),
              HasSubstr("unknown unit 'potatoes'"));
  EXPECT_EQ(*ParseByteSize("24GiB"), int64_t{24} << 30);
  EXPECT_EQ(*ParseByteSize("80 GB"), int64_t{80000000000});
  EXPECT_EQ(*ParseByteSize("512MiB"), int64_t{512} << 20);
}

// Each kind of checkpoint that cannot load is named by one line with the
// role, the folder and the file, and plan and the submit check agree.
TEST_F(PlannerTest, CheckpointsThatCannotLoadAreNamedByRoleFolderAndFile) {
  const std::string dir = dir_.Join("8b");
  auto expect_refused = [&](absl::StatusCode code, const std::string& what) {
    const absl::Status checked = CheckModels(spec_);
    EXPECT_EQ(checked.code(), code) << checked;
    EXPECT_THAT(std::string(checked.message()),
                HasSubstr("candidate model " + dir + ": " + what));
    EXPECT_EQ(checked.message().find('\n'), absl::string_view::npos);
    // The plan reports exactly the same error.
    EXPECT_EQ(PlanModels(spec_, {}).status(), checked);
  };
  ASSERT_OK(CheckModels(spec_));

  WriteTestFile(dir + "/config.json",
                absl::StrReplaceAll(kConfig8b,
                                    {{"LlamaForCausalLM", "GPT2LMHeadModel"}}));
  expect_refused(absl::StatusCode::kInvalidArgument,
                 "config.json: field 'architectures': 'GPT2LMHeadModel' is not "
                 "supported by this "
                 "evald (supported: Gemma2ForCausalLM, Gemma3ForCausalLM, "
                 "LlamaForCausalLM, MistralForCausalLM, ");
  WriteTestFile(dir + "/config.json",
                "{\"architectures\": [\"LlamaForCausalLM\"], ");
  expect_refused(absl::StatusCode::kInvalidArgument,
                 "config.json: not valid JSON: ");
  WriteTestFile(dir + "/config.json",
                R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 128256,
      "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32})");
  expect_refused(absl::StatusCode::kInvalidArgument,
                 "config.json: field 'num_attention_heads' is missing");
  WriteTestFile(dir + "/config.json", kConfig8b);

  ASSERT_EQ(unlink((dir + "/tokenizer.json").c_str()), 0);
  expect_refused(absl::StatusCode::kNotFound, "tokenizer.json: cannot open");
  WriteTestFile(dir + "/tokenizer.json",
                "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  expect_refused(absl::StatusCode::kInvalidArgument, "tokenizer.json: ");
  WriteTokenizer(dir);

  // A header whose tensors claim more bytes than the file holds.
  const std::string weights = dir + "/model.safetensors";
  ASSERT_OK_AND_ASSIGN(base::FileIdentity full, base::StatFile(weights));
  ASSERT_EQ(truncate(weights.c_str(), static_cast<off_t>(full.size - 2)), 0);
  expect_refused(absl::StatusCode::kInvalidArgument,
                 "model.safetensors: tensor "
                 "'model.layers.31.mlp.down_proj.weight': data_offsets [");
  ASSERT_EQ(truncate(weights.c_str(), static_cast<off_t>(full.size)), 0);
  ASSERT_OK(CheckModels(spec_));

  // The judge is checked too, and named as the judge.
  ASSERT_EQ(unlink(dir_.Join("70b/model-00002-of-00002.safetensors").c_str()),
            0);
  const absl::Status judge = CheckModels(spec_);
  EXPECT_EQ(judge.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(judge.message()),
              HasSubstr("judge model " + dir_.Join("70b") +
                        ": model-00002-of-00002.safetensors: "));
  // An endpoint model is not a folder to check.
  spec_.mutable_judge()->set_endpoint("http://127.0.0.1:1/v1");
  EXPECT_OK(CheckModels(spec_));
}

TEST_F(PlannerTest, EvalctlPlanPrintsThePlanAndExitsByFit) {
  const std::string suite = dir_.Join("suite.yaml");
  WriteTestFile(suite, absl::StrCat("name: judge-pair\ncandidate:\n  model: ",
                                    dir_.Join("8b"),
                                    "\njudge:\n  model: ", dir_.Join("70b"),
                                    "\ntasks:\n  - {name: mmlu}\n"));
  const std::string evalctl = evald::testing::BinDir() + "/evalctl";
  evald::testing::ProcessResult small = evald::testing::RunProcess(
      {evalctl, "plan", suite, "--device-memory", "48GiB"});
  EXPECT_EQ(small.exit_code, 1) << small.err;
  EXPECT_THAT(small.out, HasSubstr("does not fit: needed"));
  EXPECT_THAT(small.out, HasSubstr("awq-int4"));
  evald::testing::ProcessResult big = evald::testing::RunProcess(
      {evalctl, "plan", suite, "--device-memory", "80GiB"});
  EXPECT_EQ(big.exit_code, 0) << big.err;
  EXPECT_THAT(big.out, HasSubstr("fits: needed"));
  std::cout << small.out << big.out;  // the plans, for whoever reads the log
  evald::testing::ProcessResult bad = evald::testing::RunProcess(
      {evalctl, "plan", suite, "--device-memory", "lots"});
  EXPECT_EQ(bad.exit_code, 2);
}

// evald refuses a suite that does not fit its budget at submit, with the
// numbers, before loading anything.
TEST_F(PlannerTest, DaemonRefusesASuiteThatDoesNotFit) {
  const std::string model = dir_.Join("tiny");
  evald::testing::ProcessResult made = evald::testing::RunProcess(
      {evald::testing::BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
       "--out", model});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  WriteTestFile(dir_.Join("mmlu/dev/anatomy_dev.csv"),
                "q,a,b,c,d,A\nq,a,b,c,d,B\n");
  WriteTestFile(dir_.Join("mmlu/test/anatomy_test.csv"), "q,a,b,c,d,C\n");
  const std::string suite = dir_.Join("suite.yaml");
  WriteTestFile(suite,
                absl::StrCat("name: too-big\ncandidate:\n  model: ", model,
                             "\ntasks:\n  - {name: mmlu, shots: 1, data: ",
                             dir_.Join("mmlu"), "}\n"));
  evald::testing::DaemonProcess daemon;
  ASSERT_TRUE(daemon.Start(dir_.Join("data"), {"--memory-budget", "4MiB"}))
      << daemon.log();
  evald::testing::ProcessResult r = evald::testing::RunProcess(
      {evald::testing::BinDir() + "/evalctl", "--addr",
       "unix:" + dir_.Join("data/evald.sock"), "submit", suite});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.err, HasSubstr("do not fit in memory: needed "));
  EXPECT_THAT(r.err, HasSubstr("vs 4.0 MiB available"));
  EXPECT_THAT(evald::testing::RunProcess(
                  {evald::testing::BinDir() + "/evalctl", "--addr",
                   "unix:" + dir_.Join("data/evald.sock"), "list"})
                  .out,
              HasSubstr("no runs"));
}

// Phi-3.5-mini as its model card gives it: fused qkv_proj and gate_up_proj,
// longrope with 48 short and long factors. The planner counts the fused
// tensors from their headers: 3,821,079,552 parameters (the card's 3.8B;
// by hand, 2 x 32064 x 3072 for embed and lm_head, per layer 3072 x (9216 +
// 3072 + 16384) + 8192 x 3072 + 2 x 3072 norms, and the final norm).
TEST(PlannerPhi3Test, CountsFusedTensorsAndLongRopeContext) {
  TempDir dir;
  WriteTokenizer(dir.Join("phi"));
  std::string factors = "[1.0";
  for (int i = 1; i < 48; ++i) absl::StrAppend(&factors, ", 1.0");
  factors += "]";
  WriteTestFile(
      dir.Join("phi/config.json"),
      absl::StrCat(
          R"({"architectures": ["Phi3ForCausalLM"], "model_type": "phi3",
  "hidden_size": 3072, "intermediate_size": 8192, "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 32, "vocab_size": 32064,
  "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
  "sliding_window": 262144, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "rope_scaling": {"type": "longrope", "short_factor": )",
          factors, R"(, "long_factor": )", factors, "}}"));
  std::vector<Tensor> t = {{"model.embed_tokens.weight", "BF16", {32064, 3072}},
                           {"lm_head.weight", "BF16", {32064, 3072}},
                           {"model.norm.weight", "BF16", {3072}}};
  for (int l = 0; l < 32; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    t.push_back({p + "input_layernorm.weight", "BF16", {3072}});
    t.push_back({p + "post_attention_layernorm.weight", "BF16", {3072}});
    t.push_back({p + "self_attn.qkv_proj.weight", "BF16", {9216, 3072}});
    t.push_back({p + "self_attn.o_proj.weight", "BF16", {3072, 3072}});
    t.push_back({p + "mlp.gate_up_proj.weight", "BF16", {16384, 3072}});
    t.push_back({p + "mlp.down_proj.weight", "BF16", {3072, 8192}});
  }
  WriteSparseSafetensors(dir.Join("phi/model.safetensors"), t);
  v1::RunSpec spec;
  spec.mutable_candidate()->set_path(dir.Join("phi"));
  PlanOptions options;
  options.device = PlanDevice::kCpu;
  options.budget_bytes = int64_t{64} << 30;
  ASSERT_OK_AND_ASSIGN(MemoryPlan plan, PlanModels(spec, options));
  ASSERT_EQ(plan.models.size(), 1u);
  EXPECT_EQ(plan.models[0].weight_bytes, int64_t{3821079552} * 2);
  // FP32 KV on the CPU: 32 layers x 2 x 32 kv heads x 96 x 4 bytes.
  EXPECT_EQ(plan.models[0].kv_bytes_per_token, 786432);
  EXPECT_TRUE(plan.fits);
  EXPECT_OK(CheckCheckpoint("candidate", dir.Join("phi")));
}

}  // namespace
}  // namespace evald::daemon
