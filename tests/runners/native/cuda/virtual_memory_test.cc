// VirtualDeviceRange: address space reserved once, pages mapped and unmapped
// under it while the data elsewhere in the range stays put. Without a GPU
// (or a driver) Reserve fails with a reason instead of crashing; the test
// checks that much and skips the rest.
#include "runners/native/cuda/virtual_memory.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace evald::runners::native::cuda {
namespace {

TEST(VirtualDeviceRangeTest, MapsWritesUnmapsAndRemapsInPlace) {
  absl::StatusOr<size_t> granularity = VirtualDeviceRange::Granularity(0);
  if (!granularity.ok()) {
    EXPECT_FALSE(granularity.status().message().empty());
    GTEST_SKIP() << "no CUDA virtual memory here: " << granularity.status();
  }
  const size_t g = *granularity;
  auto range = VirtualDeviceRange::Reserve(0, 8 * g);
  ASSERT_TRUE(range.ok()) << range.status();
  VirtualDeviceRange& r = **range;
  EXPECT_EQ(r.mapped_bytes(), 0u);
  ASSERT_TRUE(r.Map(0, 2 * g).ok());
  ASSERT_TRUE(r.Map(5 * g, g).ok());
  EXPECT_FALSE(r.Map(5 * g, g).ok());  // already mapped
  EXPECT_EQ(r.mapped_bytes(), 3 * g);
  std::vector<uint32_t> a(g / 4), b(g / 4);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = static_cast<uint32_t>(i * 2654435761u);
  char* base = static_cast<char*>(r.base());
  ASSERT_EQ(cudaMemcpy(base + g, a.data(), g, cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(base + 5 * g, a.data(), g, cudaMemcpyHostToDevice),
            cudaSuccess);
  r.Unmap(5 * g, g);
  ASSERT_TRUE(r.Map(5 * g, g).ok());
  // The first mapping kept its data across the other's unmap and remap.
  ASSERT_EQ(cudaMemcpy(b.data(), base + g, g, cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(a, b);
  ASSERT_EQ(cudaMemcpy(base + 5 * g, a.data(), g, cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(b.data(), base + 5 * g, g, cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(VirtualDeviceRange::Reserve(0, g + 1).ok());
}

}  // namespace
}  // namespace evald::runners::native::cuda
