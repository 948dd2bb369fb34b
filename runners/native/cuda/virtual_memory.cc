// File: runners/native/cuda/virtual_memory.cc
#include "runners/native/cuda/virtual_memory.h"

#include <cuda.h>
#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace evald::runners::native::cuda {
namespace {

// The driver entry points, resolved once.
struct Driver {
  CUresult (*get_granularity)(size_t*, const CUmemAllocationProp*,
                              CUmemAllocationGranularity_flags) = nullptr;
  CUresult (*address_reserve)(CUdeviceptr*, size_t, size_t, CUdeviceptr,
                              unsigned long long) = nullptr;
  CUresult (*address_free)(CUdeviceptr, size_t) = nullptr;
  CUresult (*create)(CUmemGenericAllocationHandle*, size_t,
                     const CUmemAllocationProp*, unsigned long long) = nullptr;
  CUresult (*release)(CUmemGenericAllocationHandle) = nullptr;
  CUresult (*map)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle,
                  unsigned long long) = nullptr;
  CUresult (*unmap)(CUdeviceptr, size_t) = nullptr;
  CUresult (*set_access)(CUdeviceptr, size_t, const CUmemAccessDesc*,
                         size_t) = nullptr;
  absl::Status status;
};

template <typename Fn>
absl::Status Resolve(const char* symbol, Fn* fn) {
  void* ptr = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  const cudaError_t error = cudaGetDriverEntryPointByVersion(
      symbol, &ptr, 12000, cudaEnableDefault, &found);
  if (error != cudaSuccess || found != cudaDriverEntryPointSuccess ||
      ptr == nullptr) {
    cudaGetLastError();
    return absl::UnavailableError(
        absl::StrCat("cuda virtual memory: driver symbol ", symbol,
                     " unavailable (", cudaGetErrorString(error), ")"));
  }
  *fn = reinterpret_cast<Fn>(ptr);
  return absl::OkStatus();
}

const Driver& GetDriver() {
  static const Driver* driver = [] {
    auto* d = new Driver;
    for (absl::Status s :
         {Resolve("cuMemGetAllocationGranularity", &d->get_granularity),
          Resolve("cuMemAddressReserve", &d->address_reserve),
          Resolve("cuMemAddressFree", &d->address_free),
          Resolve("cuMemCreate", &d->create),
          Resolve("cuMemRelease", &d->release), Resolve("cuMemMap", &d->map),
          Resolve("cuMemUnmap", &d->unmap),
          Resolve("cuMemSetAccess", &d->set_access)}) {
      if (!s.ok() && d->status.ok()) d->status = s;
    }
    return d;
  }();
  return *driver;
}

CUmemAllocationProp DeviceProp(int device) {
  CUmemAllocationProp prop = {};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = device;
  return prop;
}

absl::Status DriverStatus(CUresult result, const char* what) {
  if (result == CUDA_SUCCESS) return absl::OkStatus();
  if (result == CUDA_ERROR_OUT_OF_MEMORY) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cuda virtual memory: ", what, ": out of memory"));
  }
  return absl::InternalError(absl::StrCat("cuda virtual memory: ", what,
                                          " failed (CUresult ",
                                          static_cast<int>(result), ")"));
}

}  // namespace

absl::StatusOr<size_t> VirtualDeviceRange::Granularity(int device) {
  const Driver& d = GetDriver();
  if (!d.status.ok()) return d.status;
  // The runtime makes the device's primary context current.
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) {
    cudaGetLastError();
    return absl::UnavailableError(
        absl::StrCat("cuda virtual memory: ", cudaGetErrorString(e)));
  }
  cudaFree(nullptr);
  size_t granularity = 0;
  const CUmemAllocationProp prop = DeviceProp(device);
  if (absl::Status s =
          DriverStatus(d.get_granularity(&granularity, &prop,
                                         CU_MEM_ALLOC_GRANULARITY_MINIMUM),
                       "granularity");
      !s.ok()) {
    return s;
  }
  if (granularity == 0)
    return absl::InternalError("cuda virtual memory: granularity 0");
  return granularity;
}

absl::StatusOr<std::unique_ptr<VirtualDeviceRange>> VirtualDeviceRange::Reserve(
    int device, size_t bytes) {
  absl::StatusOr<size_t> granularity = Granularity(device);
  if (!granularity.ok()) return granularity.status();
  if (bytes == 0 || bytes % *granularity != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda virtual memory: ", bytes,
                     " bytes is not a multiple of ", *granularity));
  }
  CUdeviceptr base = 0;
  if (absl::Status s = DriverStatus(
          GetDriver().address_reserve(&base, bytes, *granularity, 0, 0),
          "address reserve");
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<VirtualDeviceRange>(
      new VirtualDeviceRange(device, base, bytes));
}

namespace {

// Waits for the work in flight on `device`, leaving the current device as
// it was.
absl::Status SynchronizeDevice(int device) {
  int current = 0;
  cudaError_t e = cudaGetDevice(&current);
  if (e == cudaSuccess && current != device) e = cudaSetDevice(device);
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  if (current != device) cudaSetDevice(current);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return absl::InternalError(
        absl::StrCat("cuda virtual memory: synchronise device ", device, ": ",
                     cudaGetErrorString(e)));
  }
  return absl::OkStatus();
}

}  // namespace

VirtualDeviceRange::~VirtualDeviceRange() {
  const Driver& d = GetDriver();
  SynchronizeDevice(device_).IgnoreError();
  for (const auto& [offset, mapping] : mappings_) {
    d.unmap(base_ + offset, mapping.second);
    d.release(mapping.first);
  }
  d.address_free(base_, size_);
}

absl::Status VirtualDeviceRange::Map(size_t offset, size_t bytes) {
  if (offset + bytes > size_ || mappings_.contains(offset)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda virtual memory: cannot map [", offset, ", ",
                     offset + bytes, ") of ", size_));
  }
  const Driver& d = GetDriver();
  const CUmemAllocationProp prop = DeviceProp(device_);
  CUmemGenericAllocationHandle handle = 0;
  if (absl::Status s =
          DriverStatus(d.create(&handle, bytes, &prop, 0), "create");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          DriverStatus(d.map(base_ + offset, bytes, 0, handle, 0), "map");
      !s.ok()) {
    d.release(handle);
    return s;
  }
  CUmemAccessDesc access = {};
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  if (absl::Status s = DriverStatus(
          d.set_access(base_ + offset, bytes, &access, 1), "set access");
      !s.ok()) {
    d.unmap(base_ + offset, bytes);
    d.release(handle);
    return s;
  }
  mappings_[offset] = {handle, bytes};
  mapped_bytes_ += bytes;
  return absl::OkStatus();
}

absl::Status VirtualDeviceRange::Unmap(size_t offset, size_t bytes) {
  auto it = mappings_.find(offset);
  if (it == mappings_.end() || it->second.second != bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("cuda virtual memory: unmap of [", offset, ", ",
                     offset + bytes, ") does not match a mapping"));
  }
  // Kernels still in flight on the range's device may read the pages.
  RETURN_IF_ERROR(SynchronizeDevice(device_));
  const Driver& d = GetDriver();
  RETURN_IF_ERROR(DriverStatus(d.unmap(base_ + offset, bytes), "unmap"));
  d.release(it->second.first);
  mapped_bytes_ -= bytes;
  mappings_.erase(it);
  return absl::OkStatus();
}

}  // namespace evald::runners::native::cuda
