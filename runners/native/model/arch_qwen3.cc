// Qwen3ForCausalLM: the Llama layout with an explicit head_dim and a per-head
// RMSNorm on q and k (q_norm, k_norm: [head_dim]) applied before RoPE.
#include "absl/status/status.h"
#include "runners/native/model/architecture.h"

namespace evald::runners::native::model {
namespace {

class Qwen3Architecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    // Qwen3's `attention_bias` (default false) is honoured as written.
    config->qk_norm = true;
    return absl::OkStatus();
  }
  absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& config, WeightLoader* loader) const override {
    return LoadLlamaStyleWeights(config, loader);
  }
};

EVALD_REGISTER_ARCHITECTURE("Qwen3ForCausalLM", Qwen3Architecture);

}  // namespace
}  // namespace evald::runners::native::model
