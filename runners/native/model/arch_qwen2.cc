// Qwen2ForCausalLM (Qwen2, Qwen2.5): the Llama layout plus biases on the q, k
// and v projections (always present; config.json does not announce them).
#include "absl/status/status.h"
#include "runners/native/model/architecture.h"

namespace evald::runners::native::model {
namespace {

class Qwen2Architecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    config->attention_bias = true;
    config->qk_norm = false;
    return absl::OkStatus();
  }
  absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& config, WeightLoader* loader) const override {
    return LoadLlamaStyleWeights(config, loader);
  }
};

EVALD_REGISTER_ARCHITECTURE("Qwen2ForCausalLM", Qwen2Architecture);

}  // namespace
}  // namespace evald::runners::native::model
