// LlamaForCausalLM: Llama 2, 3, 3.1 (rope_scaling llama3) and 3.2 (tied
// embeddings). No biases, no q/k norms.
#include "absl/status/status.h"
#include "runners/native/model/architecture.h"

namespace evald::runners::native::model {
namespace {

class LlamaArchitecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    // Llama's `attention_bias` (default false) is honoured as written.
    config->qk_norm = false;
    return absl::OkStatus();
  }
  absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& config, WeightLoader* loader) const override {
    return LoadLlamaStyleWeights(config, loader);
  }
};

EVALD_REGISTER_ARCHITECTURE("LlamaForCausalLM", LlamaArchitecture);

}  // namespace
}  // namespace evald::runners::native::model
