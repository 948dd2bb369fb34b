// AwqMatMul on the GPU against the CPU dequantising MatMul (the numerical
// reference), across decode and prefill row counts, plus batch invariance.
// Skips, saying why, where there is no GPU.
#include "runners/native/cuda/int4_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "runners/native/cpu/cpu_gemm.h"
#include "runners/native/cpu/thread_pool.h"
#include "runners/native/model/dtype.h"

namespace evald::runners::native::cuda {

using cpu::MatMul;
using cpu::ThreadPool;
using model::F16ToFloat;
using model::FloatToF16;
using model::WeightFormat;
using model::WeightMatrix;
namespace {

uint64_t Hash(uint64_t i, uint64_t salt) {
  uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull ^ salt;
  z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
  return z ^ (z >> 29);
}

bool HaveGpu(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    *why = std::string("no CUDA device: ") + cudaGetErrorString(e);
    return false;
  }
  return true;
}

template <typename T>
T* ToDevice(const std::vector<T>& v) {
  T* d = nullptr;
  if (cudaMalloc(&d, v.size() * sizeof(T)) != cudaSuccess) return nullptr;
  cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  return d;
}

struct Case {
  int64_t rows, cols;
  int group;
};

class AwqGemmTest : public ::testing::TestWithParam<Case> {};

TEST_P(AwqGemmTest, MatchesCpuReferenceAndIsBatchInvariant) {
  std::string why;
  if (!HaveGpu(&why)) GTEST_SKIP() << why;
  const Case p = GetParam();
  const int64_t words = p.rows / 8, groups = p.cols / p.group;
  std::vector<int32_t> qweight(p.cols * words), qzeros(groups * words);
  std::vector<uint16_t> scales(groups * p.rows);
  for (size_t i = 0; i < qweight.size(); ++i)
    qweight[i] = static_cast<int32_t>(Hash(i, 1));
  for (size_t i = 0; i < qzeros.size(); ++i)
    qzeros[i] = static_cast<int32_t>(Hash(i, 2));
  for (size_t i = 0; i < scales.size(); ++i) {
    scales[i] =
        FloatToF16(0.002f + static_cast<float>(Hash(i, 3) % 1000) * 2e-5f);
  }
  const int64_t m_max = 37;
  std::vector<uint16_t> xb(m_max * p.cols);
  std::vector<float> xf(xb.size());
  for (size_t i = 0; i < xb.size(); ++i) {
    xb[i] = FloatToF16(
        static_cast<float>(Hash(i, 4) >> 40) / 16777216.0f * 2.0f - 1.0f);
    xf[i] = F16ToFloat(xb[i]);
  }
  WeightMatrix cw;
  cw.format = WeightFormat::kAwqInt4;
  cw.rows = p.rows;
  cw.cols = p.cols;
  cw.qweight = qweight.data();
  cw.qzeros = qzeros.data();
  cw.scales = scales.data();
  cw.group_size = p.group;
  ThreadPool pool(2);
  std::vector<float> ref(m_max * p.rows);
  MatMul(xf.data(), m_max, cw, ref.data(), &pool);

  DeviceAwqMatrix dw{ToDevice(qweight),
                     ToDevice(qzeros),
                     ToDevice(scales),
                     p.rows,
                     p.cols,
                     p.group};
  const uint16_t* dx = ToDevice(xb);
  float* dy = nullptr;
  ASSERT_EQ(cudaMalloc(&dy, ref.size() * sizeof(float)), cudaSuccess);
  const size_t ws_bytes = AwqWorkspaceBytes(dw);
  float* ws = nullptr;
  if (ws_bytes > 0) {
    ASSERT_EQ(cudaMalloc(&ws, ws_bytes), cudaSuccess);
  }
  std::printf("[ %lldx%lld ] %d K splits\n", static_cast<long long>(p.rows),
              static_cast<long long>(p.cols), AwqSplits(dw));
  if (ws_bytes > 0) {
    // A short workspace is refused, not overrun.
    EXPECT_EQ(AwqMatMul(dw, dx, 1, dy, false, ws, ws_bytes - 4, nullptr),
              cudaErrorInvalidValue);
  }
  ASSERT_TRUE(dw.qweight && dw.qzeros && dw.scales && dx);

  std::vector<float> full(ref.size());
  ASSERT_EQ(
      AwqMatMul(dw, dx, m_max, dy, /*accumulate=*/false, ws, ws_bytes, nullptr),
      cudaSuccess);
  ASSERT_EQ(
      cudaMemcpy(full.data(), dy, full.size() * 4, cudaMemcpyDeviceToHost),
      cudaSuccess);
  for (size_t i = 0; i < ref.size(); ++i) {
    // |x| <= 1, |w| <= 15 * 0.022: the sums are O(sqrt(cols)); FP32 rounding
    // of two different orders stays well under 1e-5 relative to that scale.
    ASSERT_NEAR(full[i], ref[i],
                1e-5 * std::sqrt(static_cast<double>(p.cols)) * 4 + 1e-4)
        << "element " << i;
  }
  // Any batch size, and a row batched at another place in its tile (rows
  // 3.. of x computed as rows 0.. of a shorter launch): bit-identical.
  for (int64_t m : {1, 2, 5, 8, 9, 16}) {
    std::vector<float> part(m * p.rows);
    ASSERT_EQ(AwqMatMul(dw, dx, m, dy, false, ws, ws_bytes, nullptr),
              cudaSuccess);
    ASSERT_EQ(
        cudaMemcpy(part.data(), dy, part.size() * 4, cudaMemcpyDeviceToHost),
        cudaSuccess);
    EXPECT_EQ(0, std::memcmp(part.data(), full.data(), part.size() * 4))
        << "m=" << m;
  }
  {
    const int64_t m = 11;
    std::vector<float> shifted(m * p.rows);
    ASSERT_EQ(
        AwqMatMul(dw, dx + 3 * p.cols, m, dy, false, ws, ws_bytes, nullptr),
        cudaSuccess);
    ASSERT_EQ(cudaMemcpy(shifted.data(), dy, shifted.size() * 4,
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
    EXPECT_EQ(0, std::memcmp(shifted.data(), full.data() + 3 * p.rows,
                             shifted.size() * 4));
  }
  // accumulate adds to what y holds: y = full + full.
  ASSERT_EQ(
      cudaMemcpy(dy, full.data(), full.size() * 4, cudaMemcpyHostToDevice),
      cudaSuccess);
  ASSERT_EQ(
      AwqMatMul(dw, dx, m_max, dy, /*accumulate=*/true, ws, ws_bytes, nullptr),
      cudaSuccess);
  std::vector<float> twice(full.size());
  ASSERT_EQ(
      cudaMemcpy(twice.data(), dy, twice.size() * 4, cudaMemcpyDeviceToHost),
      cudaSuccess);
  for (size_t i = 0; i < full.size(); ++i)
    ASSERT_EQ(twice[i], full[i] + full[i]) << i;
  cudaFree(const_cast<int32_t*>(dw.qweight));
  cudaFree(const_cast<int32_t*>(dw.qzeros));
  cudaFree(const_cast<uint16_t*>(dw.scales));
  cudaFree(const_cast<uint16_t*>(dx));
  cudaFree(dy);
  cudaFree(ws);
}

INSTANTIATE_TEST_SUITE_P(Shapes, AwqGemmTest,
                         ::testing::Values(Case{64, 128, 128},
                                           Case{1024, 4096, 128},
                                           Case{264, 384, 64},
                                           Case{256, 16384, 128}));

// The split count depends on the shape only, and narrow 70B matrices get
// enough of them to fill a GPU at decode.
TEST(AwqGemmShapeTest, SplitsFollowTheShape) {
  DeviceAwqMatrix o{nullptr, nullptr, nullptr, 8192, 8192, 128};
  DeviceAwqMatrix down{nullptr, nullptr, nullptr, 8192, 28672, 128};
  DeviceAwqMatrix gate_up{nullptr, nullptr, nullptr, 2 * 28672, 8192, 128};
  EXPECT_EQ(AwqSplits(o), 8);
  EXPECT_EQ(AwqSplits(down), 8);
  EXPECT_EQ(AwqSplits(gate_up), 2);
  DeviceAwqMatrix tiny{nullptr, nullptr, nullptr, 64, 128, 128};
  EXPECT_EQ(AwqSplits(tiny), 1);
  EXPECT_EQ(AwqWorkspaceBytes(tiny), 0u);
  EXPECT_EQ(AwqWorkspaceBytes(o), size_t{8} * 256 * 8192 * 4);
}

TEST(AwqGemmShapeTest, RejectsRowsNotAMultipleOf8) {
  DeviceAwqMatrix w{nullptr, nullptr, nullptr, 12, 128, 128};
  EXPECT_EQ(AwqMatMul(w, nullptr, 1, nullptr, false, nullptr, 0, nullptr),
            cudaErrorInvalidValue);
}

}  // namespace
}  // namespace evald::runners::native::cuda
