// File: runners/native/cuda/virtual_memory.h
// -----------------------------------------------------------------------------
// A range of device address space backed by physical memory only where it
// is mapped (CUDA virtual memory management), so a KV cache can grow and
// shrink in place: the kernels keep one base pointer per layer while pages
// under it come and go.
//
// The driver calls (cuMemAddressReserve, cuMemCreate, cuMemMap, ...) are
// looked up through cudaGetDriverEntryPointByVersion, so binaries link only
// the CUDA runtime and still start on machines without a driver; Reserve
// fails cleanly there, and callers fall back to a fixed allocation.
//
// Ownership: the range owns its reservation and every mapping made through
// it; the destructor unmaps and frees them all.
// Thread-safety: not thread-safe; one owner (the engine thread).
#ifndef EVALD_RUNNERS_NATIVE_CUDA_VIRTUAL_MEMORY_H_
#define EVALD_RUNNERS_NATIVE_CUDA_VIRTUAL_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evald::runners::native::cuda {

class VirtualDeviceRange {
 public:
  // The allocation granularity of `device` (typically 2 MiB), or why the
  // driver's virtual memory management is not usable.
  static absl::StatusOr<size_t> Granularity(int device);
  // Reserves `bytes` (a multiple of Granularity) of address space on
  // `device`; nothing is backed yet.
  static absl::StatusOr<std::unique_ptr<VirtualDeviceRange>> Reserve(
      int device, size_t bytes);
  ~VirtualDeviceRange();
  VirtualDeviceRange(const VirtualDeviceRange&) = delete;
  VirtualDeviceRange& operator=(const VirtualDeviceRange&) = delete;

  void* base() const { return reinterpret_cast<void*>(base_); }
  size_t size() const { return size_; }
  size_t mapped_bytes() const { return mapped_bytes_; }

  // Backs [offset, offset + bytes) with new device memory, readable and
  // writable from `device`. REQUIRES: aligned to the granularity, within
  // the range, not mapped. ResourceExhausted when the device is full.
  absl::Status Map(size_t offset, size_t bytes);
  // Unmaps and frees what Map backed at exactly [offset, offset + bytes),
  // after the range's device has finished the work in flight (which may
  // read the pages), whichever device is current. FailedPrecondition, and
  // nothing changes, when no mapping is exactly that.
  absl::Status Unmap(size_t offset, size_t bytes);

 private:
  VirtualDeviceRange(int device, uint64_t base, size_t size)
      : device_(device), base_(base), size_(size) {}

  const int device_;
  const uint64_t base_;
  const size_t size_;
  size_t mapped_bytes_ = 0;
  // offset -> (allocation handle, bytes) of each Map.
  std::map<size_t, std::pair<uint64_t, size_t>> mappings_;
};

}  // namespace evald::runners::native::cuda

#endif  // EVALD_RUNNERS_NATIVE_CUDA_VIRTUAL_MEMORY_H_
