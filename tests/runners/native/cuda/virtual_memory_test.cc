// VirtualDeviceRange: address space reserved once, pages mapped and unmapped
// under it while the data elsewhere in the range stays put. Without a GPU
// (or a driver) Reserve fails with a reason instead of crashing; the test
// checks that much and skips the rest.
#include "runners/native/cuda/virtual_memory.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
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
  ASSERT_TRUE(r.Unmap(5 * g, g).ok());
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

TEST(VirtualDeviceRangeTest, UnmatchedUnmapIsAnErrorAndChangesNothing) {
  absl::StatusOr<size_t> granularity = VirtualDeviceRange::Granularity(0);
  if (!granularity.ok()) {
    GTEST_SKIP() << "no CUDA virtual memory here: " << granularity.status();
  }
  const size_t g = *granularity;
  auto range = VirtualDeviceRange::Reserve(0, 4 * g);
  ASSERT_TRUE(range.ok()) << range.status();
  VirtualDeviceRange& r = **range;
  ASSERT_TRUE(r.Map(0, 2 * g).ok());
  // Never mapped, a part of a mapping, and a mapping's start with the wrong
  // size: each is refused with the range named, and the mapping stays.
  for (auto [offset, bytes] :
       {std::pair<size_t, size_t>{2 * g, g}, {g, g}, {0, g}}) {
    absl::Status st = r.Unmap(offset, bytes);
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
    EXPECT_NE(st.message().find("does not match a mapping"), std::string::npos)
        << st;
  }
  EXPECT_EQ(r.mapped_bytes(), 2 * g);
  EXPECT_TRUE(r.Unmap(0, 2 * g).ok());
  EXPECT_EQ(r.mapped_bytes(), 0u);
  EXPECT_EQ(r.Unmap(0, 2 * g).code(), absl::StatusCode::kFailedPrecondition);
}

// Unmapping waits for the range's own device even when another device is
// current, and leaves the current device as it was.
TEST(VirtualDeviceRangeTest, UnmapFromAnotherCurrentDevice) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count < 2) {
    cudaGetLastError();
    GTEST_SKIP() << "needs two GPUs (" << count << " here)";
  }
  absl::StatusOr<size_t> granularity = VirtualDeviceRange::Granularity(1);
  if (!granularity.ok()) GTEST_SKIP() << granularity.status();
  const size_t g = *granularity;
  auto range = VirtualDeviceRange::Reserve(1, 2 * g);
  ASSERT_TRUE(range.ok()) << range.status();
  ASSERT_TRUE((*range)->Map(0, g).ok());
  std::vector<uint32_t> a(g / 4, 7u);
  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync((*range)->base(), a.data(), g,
                            cudaMemcpyHostToDevice, nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  EXPECT_TRUE((*range)->Unmap(0, g).ok());
  int current = -1;
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, 0);
}

}  // namespace
}  // namespace evald::runners::native::cuda
