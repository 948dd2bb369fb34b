// File: runners/native/cpu/cpu_model.h
// -----------------------------------------------------------------------------
// The CPU backend's Model for pre-norm decoder transformers (the Llama
// family): every registered architecture produces DecoderWeights and runs
// through this one forward pass. It registers itself with Model::Load
// (model/backend.h); callers load models through Model::Load.
//
// Ownership: the model owns the TensorStore (the mmaps) and the weights that
// point into it. Thread-safety: as Model (Forward calls must not overlap).
#ifndef EVALD_RUNNERS_NATIVE_CPU_CPU_MODEL_H_
#define EVALD_RUNNERS_NATIVE_CPU_CPU_MODEL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runners/native/model/decoder_weights.h"
#include "runners/native/model/model.h"
#include "runners/native/model/safetensors.h"

namespace evald::runners::native::cpu {

absl::StatusOr<std::unique_ptr<model::Model>> CreateCpuModel(
    model::ModelConfig config, std::unique_ptr<model::TensorStore> store,
    model::DecoderWeights weights, const model::LoadOptions& options);

}  // namespace evald::runners::native::cpu

#endif  // EVALD_RUNNERS_NATIVE_CPU_CPU_MODEL_H_
