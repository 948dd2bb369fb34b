// File: tests/runners/native/model/awq_layout_test.cc
// evald's AWQ reader against tensors packed by an independent construction
// of AutoAWQ's GEMM layout (autoawq_reference.py, written from AutoAWQ's
// published packing and dequantisation, with torch; its output is committed
// under testdata/autoawq_gemm). The other AWQ tests pack with evald's own
// helpers, so a convention error shared by packer and reader could not fail
// them; this one would: the dequantised weights must equal the Python side's
// bit for bit, and the CPU product must equal a dense product of them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runners/native/cpu/cpu_gemm.h"
#include "runners/native/cpu/thread_pool.h"
#include "runners/native/model/decoder_weights.h"
#include "runners/native/model/safetensors.h"
#include "tests/testing/status_matchers.h"

namespace evald::runners::native::model {
namespace {

const std::string kFixture =
    std::string(EVALD_MODEL_TEST_DIR) + "/testdata/autoawq_gemm";

struct Projection {
  const char* name;
  int64_t out, in;
  int group;
};
// As in autoawq_reference.py.
constexpr Projection kProjections[] = {
    {"proj_square", 64, 64, 32},
    {"proj_wide", 24, 128, 64},
    {"proj_tall", 80, 32, 16},
};

std::vector<float> Floats(const TensorInfo& t) {
  std::vector<float> v(t.size_bytes / 4);
  std::memcpy(v.data(), t.data, t.size_bytes);
  return v;
}

TEST(AwqLayoutTest, DequantisesAutoAwqPackingExactly) {
  ASSERT_OK_AND_ASSIGN(auto store, TensorStore::Open(kFixture));
  WeightLoader loader(store.get());
  for (const Projection& p : kProjections) {
    SCOPED_TRACE(p.name);
    DecoderWeights owner;
    ASSERT_OK_AND_ASSIGN(
        WeightMatrix w, loader.AwqMatrix(p.name, p.out, p.in, p.group, &owner));
    const TensorInfo* ref = store->Find(std::string(p.name) + ".dequantized");
    ASSERT_NE(ref, nullptr);
    ASSERT_EQ(ref->shape, (std::vector<int64_t>{p.out, p.in}));
    const std::vector<float> want = Floats(*ref);
    std::vector<float> got(p.out * p.in);
    cpu::DequantizeAwqRows(w, 0, p.out, got.data());
    int distinct_codes = 0;
    for (int64_t n = 0; n < p.out; ++n) {
      for (int64_t k = 0; k < p.in; ++k) {
        const size_t i = n * p.in + k;
        ASSERT_EQ(got[i], want[i]) << "[" << n << ", " << k << "]";
        distinct_codes += want[i] != want[n * p.in];
      }
    }
    // The weights vary within a row, so a permuted layout cannot pass.
    EXPECT_GT(distinct_codes, p.out * p.in / 2);
  }
}

TEST(AwqLayoutTest, CpuProductEqualsDenseProductOfTheReference) {
  ASSERT_OK_AND_ASSIGN(auto store, TensorStore::Open(kFixture));
  WeightLoader loader(store.get());
  cpu::ThreadPool pool(1);
  for (const Projection& p : kProjections) {
    SCOPED_TRACE(p.name);
    DecoderWeights owner;
    ASSERT_OK_AND_ASSIGN(
        WeightMatrix w, loader.AwqMatrix(p.name, p.out, p.in, p.group, &owner));
    const std::vector<float> want_w =
        Floats(*store->Find(std::string(p.name) + ".dequantized"));
    constexpr int64_t kRows = 3;
    std::vector<float> x(kRows * p.in);
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = std::sin(0.37 * static_cast<double>(i) + 0.1);
    std::vector<float> y(kRows * p.out);
    cpu::MatMul(x.data(), kRows, w, y.data(), &pool);
    for (int64_t r = 0; r < kRows; ++r) {
      for (int64_t n = 0; n < p.out; ++n) {
        double dot = 0, mag = 0;
        for (int64_t k = 0; k < p.in; ++k) {
          dot += double{x[r * p.in + k]} * want_w[n * p.in + k];
          mag += std::fabs(double{x[r * p.in + k]} * want_w[n * p.in + k]);
        }
        ASSERT_NEAR(y[r * p.out + n], dot, 1e-6 * mag + 1e-7)
            << "row " << r << " output " << n;
      }
    }
  }
}

}  // namespace
}  // namespace evald::runners::native::model
