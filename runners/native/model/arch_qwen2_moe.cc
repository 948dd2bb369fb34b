// File: runners/native/model/arch_qwen2_moe.cc
// -----------------------------------------------------------------------------
// Qwen2MoeForCausalLM: Qwen2 attention (q/k/v biases unless `qkv_bias` is
// false) with a sparse MoE block
// (`mlp`: router `gate` [num_experts, hidden], experts `experts.E.
// {gate,up,down}_proj` moe_intermediate_size wide) in every
// decoder_sparse_step-th layer not listed in mlp_only_layers; the other
// layers keep a dense MLP of intermediate_size. Routing is softmax over all
// experts, then top num_experts_per_tok (renormalised when norm_topk_prob).
// Every sparse block adds a shared expert (shared_expert_intermediate_size
// wide) scaled by sigmoid(shared_expert_gate . x).
#include "absl/status/status.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/moe_weights.h"

namespace evald::runners::native::model {
namespace {

class Qwen2MoeArchitecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    config->attention_bias = config->moe.qkv_bias;  // default true
    config->qk_norm = false;
    MoeConfig& moe = config->moe;
    if (moe.moe_intermediate_size <= 0) {
      return absl::InvalidArgumentError(
          "field 'moe_intermediate_size' is missing "
          "(Qwen2MoeForCausalLM needs it)");
    }
    if (moe.shared_expert_intermediate_size <= 0) {
      return absl::InvalidArgumentError(
          "field 'shared_expert_intermediate_size' is missing "
          "(Qwen2MoeForCausalLM needs it)");
    }
    moe.expert_intermediate_size = moe.moe_intermediate_size;
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

EVALD_REGISTER_ARCHITECTURE("Qwen2MoeForCausalLM", Qwen2MoeArchitecture);

}  // namespace
}  // namespace evald::runners::native::model
