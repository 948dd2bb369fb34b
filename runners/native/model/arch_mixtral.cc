// File: runners/native/model/arch_mixtral.cc
// -----------------------------------------------------------------------------
// MixtralForCausalLM: Mistral attention with a sparse MoE block in every
// layer (`block_sparse_moe`: router `gate` [num_local_experts, hidden],
// experts `experts.E.w1` (gate), `w3` (up), `w2` (down), each
// intermediate_size wide). Each token takes the num_experts_per_tok experts
// with the largest router logits, weighted by the softmax over those logits.
#include "absl/status/status.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/moe_weights.h"

namespace evald::runners::native::model {
namespace {

class MixtralArchitecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    config->attention_bias = false;
    config->qk_norm = false;
    MoeConfig& moe = config->moe;
    moe.expert_intermediate_size = config->intermediate_size;
    moe.shared_expert_intermediate_size = 0;
    moe.norm_topk_prob = true;
    moe.softmax_after_topk = true;
    moe.decoder_sparse_step = 1;
    moe.mlp_only_layers.clear();
    return CheckMoeConfig(*config, "num_local_experts");
  }
  absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& config, WeightLoader* loader) const override {
    return LoadMoeWeights(config, loader,
                          MoeTensorNames{"block_sparse_moe", "w1", "w3", "w2"});
  }
};

EVALD_REGISTER_ARCHITECTURE("MixtralForCausalLM", MixtralArchitecture);

}  // namespace
}  // namespace evald::runners::native::model
