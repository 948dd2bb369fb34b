// File: runners/native/model/backend.h
// -----------------------------------------------------------------------------
// The seam between Model::Load and the backends that compute: the CPU
// backend (runners/native/cpu), always part of a build that loads models, and
// the optional CUDA backend (runners/native/cuda). Each registers itself from
// a static initializer; Model::Load then places a model on the GPU when
// LoadOptions.device asks for it (kCuda) or allows it (kAuto with a GPU
// present), else on the CPU. Builds without nvcc have no GPU registration.
// The model library knows neither backend, so each builds on it alone.
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

namespace evald::runners::native::model {

struct GpuBackend {
  // "cuda"
  const char* name = "";
  // OK when a usable device is present; else why not (no driver, no device).
  absl::Status (*available)(int device) = nullptr;
  absl::StatusOr<std::unique_ptr<Model>> (*create)(
      ModelConfig config, std::unique_ptr<TensorStore> store,
      DecoderWeights weights, const LoadOptions& options) = nullptr;
};

// Returns true so it can initialize a namespace-scope constant.
bool RegisterGpuBackend(const GpuBackend& backend);
// nullptr when the build has no GPU backend.
const GpuBackend* FindGpuBackend();

// The CPU backend's Model factory.
using CpuModelFactory = absl::StatusOr<std::unique_ptr<Model>> (*)(
    ModelConfig config, std::unique_ptr<TensorStore> store,
    DecoderWeights weights, const LoadOptions& options);
bool RegisterCpuBackend(CpuModelFactory create);
// nullptr when the binary links no CPU backend (a build fault).
CpuModelFactory FindCpuBackend();

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_BACKEND_H_
