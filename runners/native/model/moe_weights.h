// File: runners/native/model/moe_weights.h
// -----------------------------------------------------------------------------
// Loading the sparse mixture-of-experts blocks (Mixtral, Qwen2-MoE,
// Qwen3-MoE) on top of the Llama-style attention weights. Every expert
// matrix stays in the checkpoint's mapping (WeightLoader::MappedMatrix), so
// loading reads no expert data and decoding touches only the experts that
// the router picks.
//
// Thread-safety: as decoder_weights.h.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_MOE_WEIGHTS_H_
#define EVALD_RUNNERS_NATIVE_MODEL_MOE_WEIGHTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runners/native/model/decoder_weights.h"
#include "runners/native/model/model_config.h"

namespace evald::runners::native::model {

// How a family names the tensors of its sparse block
// `model.layers.N.<block>.`: the router `gate.weight`, the experts
// `experts.E.<gate|up|down>.weight`, and (when the config has a shared
// expert) `shared_expert.{gate,up,down}_proj.weight` and
// `shared_expert_gate.weight`.
struct MoeTensorNames {
  std::string block;  // "block_sparse_moe" (Mixtral) or "mlp" (Qwen)
  std::string gate;   // "w1" or "gate_proj"
  std::string up;     // "w3" or "up_proj"
  std::string down;   // "w2" or "down_proj"
};

absl::StatusOr<DecoderWeights> LoadMoeWeights(const ModelConfig& config,
                                              WeightLoader* loader,
                                              const MoeTensorNames& names);

// The checks every MoE family shares: `key` names where num_experts came
// from. Errors name config.json and the key.
absl::Status CheckMoeConfig(const ModelConfig& config, const char* experts_key);

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_MOE_WEIGHTS_H_
