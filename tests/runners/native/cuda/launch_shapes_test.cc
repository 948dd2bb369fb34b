// File: tests/runners/native/cuda/launch_shapes_test.cc
// The launch-size rules of the CUDA kernels at real model shapes, on the
// host: they need no GPU, so they run everywhere. QkvPost's dynamic shared
// memory (q, k and v of one row, FP32) must opt in above 48 KiB and fit the
// device's opt-in maximum; the INT4 products' split-K workspace must stay
// within what the memory planner counts for it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "runners/native/cuda/int4_gemm.h"
#include "runners/native/cuda/kernels.h"
#include "runners/native/planner/footprint.h"

namespace evald::runners::native::cuda {
namespace {

// cudaDevAttrMaxSharedMemoryPerBlockOptin of the GPUs the backend targets.
constexpr int kH100OptIn = 232448;  // sm_90: 227 KiB (H100, H200)
constexpr int kA100OptIn = 166912;  // sm_80: 163 KiB
constexpr int kSm89OptIn = 101376;  // sm_89: 99 KiB (L40S, RTX 4090)

struct AttentionShape {
  std::string name;
  int heads, kv_heads, head_dim;
  size_t bytes;  // (heads + 2 kv_heads) x head_dim x 4
};

std::vector<AttentionShape> Shapes() {
  return {
      {"Llama-3.1-8B", 32, 8, 128, 24576},
      {"Llama-3.1-70B", 64, 8, 128, 40960},
      {"Mistral-Large-2 (123B)", 96, 8, 128, 57344},
      {"Llama-3.1-405B", 128, 8, 128, 73728},
  };
}

TEST(LaunchShapesTest, QkvPostSharedMemoryAtRealShapes) {
  for (const AttentionShape& s : Shapes()) {
    SCOPED_TRACE(s.name);
    const QkvShape shape{s.heads, s.kv_heads, s.head_dim, 1e-5f};
    EXPECT_EQ(QkvPostSharedBytes(shape), s.bytes);
    // Above the default the launch must opt in (the two larger shapes).
    EXPECT_EQ(QkvPostSharedBytes(shape) > kDefaultDynamicSharedBytes,
              s.heads >= 96);
    for (int optin : {kH100OptIn, kA100OptIn, kSm89OptIn})
      EXPECT_TRUE(QkvPostFits(shape, optin)) << optin;
    // A device without the opt-in (48 KiB) cannot run the larger ones.
    EXPECT_EQ(QkvPostFits(shape, 48 << 10), s.heads < 96);
  }
}

TEST(LaunchShapesTest, QkvPostFitsIsExactAtTheLimit) {
  const QkvShape shape{128, 8, 128, 1e-5f};
  EXPECT_TRUE(QkvPostFits(shape, 73728));
  EXPECT_FALSE(QkvPostFits(shape, 73727));
  // head_dim 256 with many heads outgrows even an H100.
  EXPECT_FALSE(QkvPostFits(QkvShape{256, 16, 256, 1e-5f}, kH100OptIn));
}

TEST(LaunchShapesTest, Int4WorkspaceWithinWhatThePlannerCounts) {
  struct Projection {
    const char* name;
    int64_t rows, cols;
  };
  // Llama-3.1-70B and -8B, AWQ group 128, fused as the CUDA model fuses them.
  const Projection projections[] = {
      {"70B qkv", 8192 + 2 * 1024, 8192}, {"70B o", 8192, 8192},
      {"70B gate_up", 2 * 28672, 8192},   {"70B down", 8192, 28672},
      {"8B qkv", 4096 + 2 * 1024, 4096},  {"8B o", 4096, 4096},
      {"8B gate_up", 2 * 14336, 4096},    {"8B down", 4096, 14336},
  };
  size_t widest = 0;
  for (const Projection& p : projections) {
    const DeviceAwqMatrix m{nullptr, nullptr, nullptr, p.rows, p.cols, 128};
    EXPECT_LE(AwqWorkspaceBytes(m),
              static_cast<size_t>(planner::kInt4WorkspaceBytes))
        << p.name;
    widest = std::max(widest, AwqWorkspaceBytes(m));
  }
  EXPECT_GT(widest, 0u);  // some projection is split, so the rule is live
}

}  // namespace
}  // namespace evald::runners::native::cuda
