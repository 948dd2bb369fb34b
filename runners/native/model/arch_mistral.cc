// MistralForCausalLM: the Llama layout, with `sliding_window` (4096 tokens in
// Mistral 7B v0.1, null later) masked as transformers masks it.
#include "absl/status/status.h"
#include "runners/native/model/architecture.h"

namespace evald::runners::native::model {
namespace {

class MistralArchitecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    config->attention_bias = false;
    config->qk_norm = false;
    return absl::OkStatus();
  }
  absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& config, WeightLoader* loader) const override {
    return LoadLlamaStyleWeights(config, loader);
  }
};

EVALD_REGISTER_ARCHITECTURE("MistralForCausalLM", MistralArchitecture);

}  // namespace
}  // namespace evald::runners::native::model
