// File: runners/native/model/arch_qwen3_moe.cc
// -----------------------------------------------------------------------------
// Qwen3MoeForCausalLM: Qwen3 attention (per-head q/k RMSNorm, attention_bias
// as written) with the Qwen2-MoE sparse block minus the shared expert:
// softmax over num_experts router logits, top num_experts_per_tok,
// renormalised when norm_topk_prob; experts moe_intermediate_size wide;
// decoder_sparse_step and mlp_only_layers choose the sparse layers.
#include "absl/status/status.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/moe_weights.h"

namespace evald::runners::native::model {
namespace {

class Qwen3MoeArchitecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    config->qk_norm = true;
    MoeConfig& moe = config->moe;
    if (moe.moe_intermediate_size <= 0) {
      return absl::InvalidArgumentError(
          "field 'moe_intermediate_size' is missing "
          "(Qwen3MoeForCausalLM needs it)");
    }
    moe.expert_intermediate_size = moe.moe_intermediate_size;
    moe.shared_expert_intermediate_size = 0;
    moe.softmax_after_topk = false;
    return CheckMoeConfig(*config, "num_experts");
  }
  absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& config, WeightLoader* loader) const override {
    return LoadMoeWeights(
        config, loader,
        MoeTensorNames{"mlp", "gate_proj", "up_proj", "down_proj"});
  }
};

EVALD_REGISTER_ARCHITECTURE("Qwen3MoeForCausalLM", Qwen3MoeArchitecture);

}  // namespace
}  // namespace evald::runners::native::model
