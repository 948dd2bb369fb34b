// AWQ INT4 on the CPU: the packing and quantisation helpers against the
// layout worked out bit by bit here, the dequantising MatMul against a dense
// FP32 product of independently dequantised weights, an AWQ checkpoint
// against the BF16 checkpoint it was quantised from, and config errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "base/file.h"
#include "runners/native/cpu/cpu_gemm.h"
#include "runners/native/model/config_parser.h"
#include "runners/native/model/model.h"
#include "runners/native/model/safetensors.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/runners/native/model/model_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::model {

using cpu::DequantizeAwqRows;
using cpu::MatMul;
using cpu::ReadRow;
using cpu::SetGemmPortableForTesting;
using cpu::ThreadPool;
using testing::AwqGroupParams;
using testing::AwqPackWord;
using testing::AwqQuantizeGroupParams;
using testing::AwqQuantizeValue;
using testing::CheckpointSpec;
using testing::SpecFromModelConfig;
using testing::WriteCheckpoint;
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

uint64_t Hash(uint64_t i, uint64_t salt) {
  uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull ^ salt;
  z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
  return z ^ (z >> 29);
}

TEST(AwqPackTest, PhysicalNibbleIHoldsLogicalColumnOfTheAwqOrder) {
  // Logical column j gets value j + 1 (distinct, nonzero), so each physical
  // nibble names the logical column it carries.
  const int nibbles[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const uint32_t word = static_cast<uint32_t>(AwqPackWord(nibbles));
  const int expected_logical[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ((word >> (4 * i)) & 15u,
              static_cast<uint32_t>(expected_logical[i] + 1))
        << i;
  }
  // 0x86427531 spelled out: nibble 7 (top) = column 7 -> 8, ..., nibble 0 =
  // column 0 -> 1.
  EXPECT_EQ(word, 0x86427531u);
}

TEST(AwqPackTest, QuantiseDequantiseErrorIsAtMostHalfAStep) {
  std::vector<float> w(128);
  for (size_t i = 0; i < w.size(); ++i) {
    w[i] = static_cast<float>(Hash(i, 3) >> 40) / 16777216.0f * 0.3f - 0.1f;
  }
  const AwqGroupParams p = AwqQuantizeGroupParams(w.data(), 128);
  const float s = F16ToFloat(p.scale_f16);
  float lo = w[0], hi = w[0];
  for (float v : w) lo = std::min(lo, v), hi = std::max(hi, v);
  EXPECT_NEAR(s, (hi - lo) / 15.0f,
              1e-3f * (hi - lo) / 15.0f);  // fp16 rounding only
  EXPECT_EQ(p.zero, static_cast<int>(std::nearbyint(-lo / s)));
  for (float v : w) {
    const int q = AwqQuantizeValue(v, p);
    ASSERT_GE(q, 0);
    ASSERT_LE(q, 15);
    // Half a step plus the slack of the fp16-rounded scale at the ends.
    EXPECT_LE(std::fabs(static_cast<float>(q - p.zero) * s - v),
              0.5f * s + 16 * 1e-3f * s)
        << v;
  }
}

// A random AWQ matrix and its dequantised FP32 twin, built from logical
// [out, in] q/z/s arrays without the library's helpers.
struct AwqFixture {
  int64_t rows, cols;
  int group;
  std::vector<int32_t> qweight, qzeros;
  std::vector<uint16_t> scales;
  std::vector<float> dense;  // [rows, cols]

  AwqFixture(int64_t r, int64_t c, int g) : rows(r), cols(c), group(g) {
    const int64_t words = rows / 8, groups = cols / group;
    qweight.assign(cols * words, 0);
    qzeros.assign(groups * words, 0);
    scales.resize(groups * rows);
    dense.resize(rows * cols);
    // Physical nibble of logical column j: the inverse of {0,2,4,6,1,3,5,7}.
    const int nibble_of[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    for (int64_t g2 = 0; g2 < groups; ++g2) {
      for (int64_t n = 0; n < rows; ++n) {
        const int z = static_cast<int>(Hash(g2 * rows + n, 11) & 15);
        const float s =
            0.001f + static_cast<float>(Hash(g2 * rows + n, 12) % 1000) * 1e-5f;
        scales[g2 * rows + n] = FloatToF16(s);
        qzeros[g2 * words + n / 8] |= static_cast<int32_t>(
            static_cast<uint32_t>(z) << (4 * nibble_of[n % 8]));
      }
    }
    for (int64_t k = 0; k < cols; ++k) {
      for (int64_t n = 0; n < rows; ++n) {
        const int q = static_cast<int>(Hash(k * rows + n, 13) & 15);
        qweight[k * words + n / 8] |= static_cast<int32_t>(
            static_cast<uint32_t>(q) << (4 * nibble_of[n % 8]));
        const int64_t g2 = k / group;
        const int z = static_cast<int>(Hash(g2 * rows + n, 11) & 15);
        const double s = F16ToFloat(scales[g2 * rows + n]);
        dense[n * cols + k] = static_cast<float>((q - z) * s);
      }
    }
  }

  WeightMatrix Awq() const {
    WeightMatrix w;
    w.format = WeightFormat::kAwqInt4;
    w.rows = rows;
    w.cols = cols;
    w.qweight = qweight.data();
    w.qzeros = qzeros.data();
    w.scales = scales.data();
    w.group_size = group;
    return w;
  }
  WeightMatrix Dense() const {
    WeightMatrix w;
    w.dtype = DType::kF32;
    w.data = dense.data();
    w.rows = rows;
    w.cols = cols;
    return w;
  }
};

TEST(AwqMatMulTest, DequantiseMatchesTheLogicalLayout) {
  const AwqFixture f(40, 256, 64);
  std::vector<float> out(f.rows * f.cols);
  DequantizeAwqRows(f.Awq(), 0, f.rows, out.data());
  EXPECT_EQ(out, f.dense);
  std::vector<float> row(f.cols);
  ReadRow(f.Awq(), 13, row.data());
  EXPECT_EQ(0, std::memcmp(row.data(), f.dense.data() + 13 * f.cols,
                           f.cols * sizeof(float)));
}

TEST(AwqMatMulTest, EqualsDenseFp32ProductAndIsBatchInvariant) {
  for (bool portable : {false, true}) {
    SetGemmPortableForTesting(portable);
    const AwqFixture f(104, 384, 128);
    const int64_t m = 9;
    std::vector<float> x(m * f.cols);
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = static_cast<float>(Hash(i, 21) >> 40) / 16777216.0f - 0.5f;
    }
    ThreadPool pool(3);
    const WeightMatrix awq = f.Awq(), dense = f.Dense();
    std::vector<float> y_awq(m * f.rows), y_dense(m * f.rows);
    MatMul(x.data(), m, awq, y_awq.data(), &pool);
    MatMul(x.data(), m, dense, y_dense.data(), &pool);
    EXPECT_EQ(y_awq, y_dense) << "portable=" << portable;
    // Against a float64 product, loosely: the kernels' own accuracy.
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t n = 0; n < f.rows; ++n) {
        double ref = 0;
        for (int64_t k = 0; k < f.cols; ++k) {
          ref +=
              static_cast<double>(x[i * f.cols + k]) * f.dense[n * f.cols + k];
        }
        ASSERT_NEAR(y_awq[i * f.rows + n], ref, 1e-4) << i << "," << n;
      }
    }
    // Each row alone gives the same bits.
    for (int64_t i = 0; i < m; ++i) {
      std::vector<float> one(f.rows);
      MatMul(x.data() + i * f.cols, 1, awq, one.data(), &pool);
      ASSERT_EQ(0, std::memcmp(one.data(), y_awq.data() + i * f.rows,
                               f.rows * sizeof(float)))
          << "row " << i << " portable=" << portable;
    }
  }
  SetGemmPortableForTesting(false);
}

class AwqCheckpointTest : public ::testing::Test {
 protected:
  static CheckpointSpec Spec(bool awq) {
    CheckpointSpec s;  // tiny: hidden 128, intermediate 256, 4 heads of 32
    s.seed = 5;
    s.awq_int4 = awq;
    s.awq_group_size = 64;
    return s;
  }
  void EditConfig(const std::string& from, const std::string& to) {
    auto text = base::ReadFileToString(awq_dir_.Join("config.json"));
    ASSERT_OK(text.status());
    ASSERT_NE(text->find(from), std::string::npos) << from;
    ASSERT_OK(
        base::WriteFileAtomically(awq_dir_.Join("config.json"),
                                  absl::StrReplaceAll(*text, {{from, to}})));
  }
  absl::Status LoadAwq() {
    return Model::Load(awq_dir_.path(), LoadOptions{.device = Device::kCpu})
        .status();
  }
  evald::testing::TempDir awq_dir_;
  evald::testing::TempDir bf16_dir_;
};

TEST_F(AwqCheckpointTest, LogProbsAreCloseToTheBf16CheckpointItCameFrom) {
  ASSERT_OK(WriteCheckpoint(Spec(true), awq_dir_.path()));
  ASSERT_OK(WriteCheckpoint(Spec(false), bf16_dir_.path()));
  ASSERT_OK_AND_ASSIGN(auto cfg, LoadModelConfig(awq_dir_.path()));
  EXPECT_TRUE(cfg.quantization.awq);
  EXPECT_EQ(cfg.quantization.group_size, 64);
  ASSERT_OK_AND_ASSIGN(
      auto awq,
      Model::Load(awq_dir_.path(), LoadOptions{.device = Device::kCpu}));
  ASSERT_OK_AND_ASSIGN(
      auto bf16,
      Model::Load(bf16_dir_.path(), LoadOptions{.device = Device::kCpu}));
  // INT4 codes are an eighth of the BF16 bytes (plus fp16 scales and zeros).
  EXPECT_LT(awq->weight_bytes(), bf16->weight_bytes());
  const std::vector<int32_t> tokens = testing::RandomTokens(48, 1024, 17);
  ASSERT_OK_AND_ASSIGN(auto kv_a, awq->AllocateKvCache(8));
  ASSERT_OK_AND_ASSIGN(auto kv_b, bf16->AllocateKvCache(8));
  ASSERT_OK_AND_ASSIGN(auto la, testing::RunPrompt(awq.get(), kv_a.get(),
                                                   tokens, {0, 1, 2, 3}, 0));
  ASSERT_OK_AND_ASSIGN(auto lb, testing::RunPrompt(bf16.get(), kv_b.get(),
                                                   tokens, {0, 1, 2, 3}, 0));
  double max_diff = 0, sum_diff = 0;
  int count = 0;
  for (size_t t = 0; t + 1 < tokens.size(); ++t) {
    const std::vector<double> pa = testing::LogSoftmax(la[t]);
    const std::vector<double> pb = testing::LogSoftmax(lb[t]);
    const double d = std::fabs(pa[tokens[t + 1]] - pb[tokens[t + 1]]);
    max_diff = std::max(max_diff, d);
    sum_diff += d;
    ++count;
  }
  // Not bit-equal (the weights differ by up to half a quantisation step)...
  EXPECT_GT(max_diff, 0.0);
  // ...but close. 4-bit codes over groups of 64 uniform weights carry ~7%
  // relative weight noise, which measures here as a mean |diff| of ~0.13 and
  // a max of ~0.38 nats on log-probs around -log(1024) = -6.9; the bounds
  // leave room for other seeds while still catching a wrong layout (which
  // scrambles the weights and moves log-probs by whole nats).
  EXPECT_LT(max_diff, 0.8) << "mean " << sum_diff / count;
  EXPECT_LT(sum_diff / count, 0.3);
  std::printf("awq vs bf16 next-token log-prob |diff|: max %.4g mean %.4g\n",
              max_diff, sum_diff / count);
}

TEST_F(AwqCheckpointTest,
       WrittenCodesDequantiseToWithinHalfAStepOfTheBf16Weights) {
  ASSERT_OK(WriteCheckpoint(Spec(true), awq_dir_.path()));
  ASSERT_OK(WriteCheckpoint(Spec(false), bf16_dir_.path()));
  ASSERT_OK_AND_ASSIGN(auto qs, TensorStore::Open(awq_dir_.path()));
  ASSERT_OK_AND_ASSIGN(auto ds, TensorStore::Open(bf16_dir_.path()));
  for (const std::string name :
       {"model.layers.1.mlp.down_proj", "model.layers.0.self_attn.k_proj"}) {
    const TensorInfo* dense = ds->Find(name + ".weight");
    const TensorInfo* qw = qs->Find(name + ".qweight");
    const TensorInfo* qz = qs->Find(name + ".qzeros");
    const TensorInfo* sc = qs->Find(name + ".scales");
    ASSERT_TRUE(dense && qw && qz && sc) << name;
    WeightMatrix w;
    w.format = WeightFormat::kAwqInt4;
    w.rows = dense->shape[0];
    w.cols = dense->shape[1];
    w.qweight = reinterpret_cast<const int32_t*>(qw->data);
    w.qzeros = reinterpret_cast<const int32_t*>(qz->data);
    w.scales = reinterpret_cast<const uint16_t*>(sc->data);
    w.group_size = 64;
    std::vector<float> deq(w.rows * w.cols);
    DequantizeAwqRows(w, 0, w.rows, deq.data());
    const uint16_t* bf = reinterpret_cast<const uint16_t*>(dense->data);
    double sum_sq = 0, sum_err_sq = 0;
    for (int64_t n = 0; n < w.rows; ++n) {
      for (int64_t k = 0; k < w.cols; ++k) {
        const float ref = Bf16ToFloat(bf[n * w.cols + k]);
        const float s = F16ToFloat(w.scales[(k / 64) * w.rows + n]);
        const float err = deq[n * w.cols + k] - ref;
        ASSERT_LE(std::fabs(err), 0.5f * s * 1.02f)
            << name << " [" << n << ", " << k << "]";
        sum_sq += ref * ref;
        sum_err_sq += err * err;
      }
    }
    // Uniform rounding error: rms step / sqrt(12) with step = range / 15.
    const double rel = std::sqrt(sum_err_sq / sum_sq);
    EXPECT_LT(rel, 0.1) << name;
    EXPECT_GT(rel, 0.02) << name;
  }
}

TEST_F(AwqCheckpointTest, UnsupportedQuantizationConfigNamesTheField) {
  ASSERT_OK(WriteCheckpoint(Spec(true), awq_dir_.path()));
  struct Case {
    std::string from, to, field;
  };
  const std::vector<Case> cases = {
      {"\"quant_method\": \"awq\"", "\"quant_method\": \"gptq\"",
       "quantization_config.quant_method"},
      {"\"bits\": 4", "\"bits\": 8", "quantization_config.bits"},
      {"\"version\": \"gemm\"", "\"version\": \"gemv\"",
       "quantization_config.version"},
      {"\"zero_point\": true", "\"zero_point\": false",
       "quantization_config.zero_point"},
      {"\"group_size\": 64", "\"group_size\": 48",
       "quantization_config.group_size"},
  };
  for (const Case& c : cases) {
    EditConfig(c.from, c.to);
    EXPECT_THAT(LoadAwq(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr(c.field)))
        << c.to;
    EditConfig(c.to, c.from);
  }
  // A group size that divides the config but not the stored tensors.
  EditConfig("\"group_size\": 64", "\"group_size\": 128");
  EXPECT_THAT(
      LoadAwq(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("self_attn.q_proj.qzeros' has shape [2, 16]")));
}

TEST_F(AwqCheckpointTest, DenseTensorsUnderAnAwqConfigAreMissingTensors) {
  ASSERT_OK(WriteCheckpoint(Spec(false), awq_dir_.path()));
  EditConfig("\"vocab_size\": 1024",
             "\"vocab_size\": 1024, \"quantization_config\": "
             "{\"quant_method\": \"awq\", "
             "\"bits\": 4, \"group_size\": 64, \"zero_point\": true, "
             "\"version\": \"GEMM\"}");
  EXPECT_THAT(
      LoadAwq(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("missing tensor 'model.layers.0.self_attn.q_proj."
                         "qweight'")));
}

TEST(AwqSpecTest, SpecFromHfConfigKeepsRealShapes) {
  const std::string json =
      R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
    "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 128256,
    "rope_theta": 500000.0, "torch_dtype": "bfloat16",
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128,
                            "zero_point": true, "version": "gemm"}})";
  ASSERT_OK_AND_ASSIGN(ModelConfig c, ParseModelConfig(json, "config.json"));
  ASSERT_OK_AND_ASSIGN(CheckpointSpec s, SpecFromModelConfig(c));
  EXPECT_EQ(s.hidden, 8192);
  EXPECT_EQ(s.intermediate, 28672);
  EXPECT_EQ(s.layers, 80);
  EXPECT_EQ(s.kv_heads, 8);
  EXPECT_EQ(s.vocab, 128256);
  EXPECT_EQ(s.rope_scaling, "llama3");
  EXPECT_TRUE(s.awq_int4);
  EXPECT_EQ(s.awq_group_size, 128);
}

}  // namespace
}  // namespace evald::runners::native::model
