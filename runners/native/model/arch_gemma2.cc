// File: runners/native/model/arch_gemma2.cc
// -----------------------------------------------------------------------------
// Gemma2ForCausalLM (Gemma 2): embeddings scaled by sqrt(hidden), (1 + weight)
// RMSNorms before and after attention and the MLP, GeGLU with the
// tanh-approximated GELU, query_pre_attn_scalar, attention-logit and
// final-logit soft-capping, alternating local (sliding_window) and global
// layers (layer_types when given), tied embeddings. The CPU backend computes
// it; the CUDA backend has none of these ops and refuses it at load.
#include "absl/status/status.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/gemma_weights.h"

namespace evald::runners::native::model {
namespace {

class Gemma2Architecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    if (config->quantization.awq) {
      return absl::InvalidArgumentError(
          "quantization_config: awq is not supported for Gemma");
    }
    config->attention_bias = false;
    config->qk_norm = false;
    config->scale_embeddings = true;
    config->gelu_tanh = true;
    return absl::OkStatus();
  }
  absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& config, WeightLoader* loader) const override {
    return LoadGemmaWeights(config, loader);
  }
};

EVALD_REGISTER_ARCHITECTURE("Gemma2ForCausalLM", Gemma2Architecture);

}  // namespace
}  // namespace evald::runners::native::model
