// File: runners/native/model/arch_gemma3.cc
// -----------------------------------------------------------------------------
// Gemma3ForCausalLM (Gemma 3, text only): Gemma 2's layout without the
// soft-capping (unless config.json asks for it) and with per-head (1 +
// weight) RMSNorms on q and k; every sliding_window_pattern-th layer is
// global (or layer_types), local layers take rope_local_base_freq without
// scaling and global ones rope_theta with rope_scaling (linear for the 4B
// and larger models). Gemma3ForConditionalGeneration (the multimodal
// checkpoints: a nested text_config and language_model.* tensors) is
// refused by config_parser.cc with one line. The CUDA backend refuses
// Gemma at load.
#include "absl/status/status.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/gemma_weights.h"

namespace evald::runners::native::model {
namespace {

class Gemma3Architecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    if (config->quantization.awq) {
      return absl::InvalidArgumentError(
          "quantization_config: awq is not supported for Gemma");
    }
    config->attention_bias = false;
    config->qk_norm = true;
    config->scale_embeddings = true;
    config->gelu_tanh = true;
    return absl::OkStatus();
  }
  absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& config, WeightLoader* loader) const override {
    return LoadGemmaWeights(config, loader);
  }
};

EVALD_REGISTER_ARCHITECTURE("Gemma3ForCausalLM", Gemma3Architecture);

}  // namespace
}  // namespace evald::runners::native::model
