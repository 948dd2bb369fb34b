// File: runners/native/model/backend.h
// -----------------------------------------------------------------------------
// The seam between Model::Load and the optional GPU backend. The CUDA backend
// (runners/native/cuda) registers itself from a static initializer when it is
// part of the build; Model::Load then places a model on the GPU when
// LoadOptions.device asks for it (kCuda) or allows it (kAuto with a GPU
// present). Builds without nvcc have no registration and load on the CPU.
//
// Thread-safety: registration happens during static initialization; lookups
// afterwards are read-only.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_BACKEND_H_
#define EVALD_RUNNERS_NATIVE_MODEL_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runners/native/model/decoder_weights.h"
#include "runners/native/model/model.h"
#include "runners/native/model/safetensors.h"

namespace evald::engine {

struct GpuBackend {
  // "cuda"
  const char* name = "";
  // OK when a usable device is present; else why not (no driver, no device).
  absl::Status (*available)(int device) = nullptr;
  absl::StatusOr<std::unique_ptr<Model>> (*create)(ModelConfig config,
                                                   std::unique_ptr<TensorStore> store,
                                                   DecoderWeights weights,
                                                   const LoadOptions& options) = nullptr;
};

// Returns true so it can initialize a namespace-scope constant.
bool RegisterGpuBackend(const GpuBackend& backend);
// nullptr when the build has no GPU backend.
const GpuBackend* FindGpuBackend();

}  // namespace evald::engine

#endif  // EVALD_RUNNERS_NATIVE_MODEL_BACKEND_H_
