// File: runners/native/model/moe_weights.cc
#include "runners/native/model/moe_weights.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace evald::runners::native::model {

absl::Status CheckMoeConfig(const ModelConfig& c, const char* experts_key) {
  auto missing = [&](const char* key) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field '", key, "' is missing (", c.architecture, " needs it)"));
  };
  if (c.moe.num_experts <= 0) return missing(experts_key);
  if (c.moe.experts_per_token <= 0) return missing("num_experts_per_tok");
  if (c.moe.experts_per_token > c.moe.num_experts) {
    return absl::InvalidArgumentError(
        absl::StrCat("field 'num_experts_per_tok': ", c.moe.experts_per_token,
                     " exceeds ", experts_key, " (", c.moe.num_experts, ")"));
  }
  for (int l : c.moe.mlp_only_layers) {
    if (l >= c.num_layers) {
      return absl::InvalidArgumentError(absl::StrCat(
          "field 'mlp_only_layers': layer ", l,
          " does not exist (num_hidden_layers is ", c.num_layers, ")"));
    }
  }
  if (c.quantization.awq) {
    return absl::InvalidArgumentError(
        absl::StrCat("field 'quantization_config': AWQ is not supported for ",
                     c.architecture));
  }
  return absl::OkStatus();
}

absl::StatusOr<DecoderWeights> LoadMoeWeights(const ModelConfig& c,
                                              WeightLoader* loader,
                                              const MoeTensorNames& names) {
  ASSIGN_OR_RETURN(DecoderWeights w, LoadLlamaStyleWeights(c, loader));
  const int64_t h = c.hidden_size;
  const int64_t inter = c.moe.expert_intermediate_size;
  const int64_t shared = c.moe.shared_expert_intermediate_size;
  for (int l = 0; l < c.num_layers; ++l) {
    if (!IsMoeLayer(c, l)) continue;
    LayerWeights& lw = w.layers[l];
    const std::string p =
        absl::StrCat("model.layers.", l, ".", names.block, ".");
    ASSIGN_OR_RETURN(
        lw.router, loader->Matrix(p + "gate.weight", c.moe.num_experts, h, &w));
    lw.experts.resize(c.moe.num_experts);
    for (int e = 0; e < c.moe.num_experts; ++e) {
      const std::string x = absl::StrCat(p, "experts.", e, ".");
      ExpertWeights& ew = lw.experts[e];
      ASSIGN_OR_RETURN(ew.gate, loader->MappedMatrix(x + names.gate + ".weight",
                                                     inter, h, &w));
      ASSIGN_OR_RETURN(
          ew.up, loader->MappedMatrix(x + names.up + ".weight", inter, h, &w));
      ASSIGN_OR_RETURN(ew.down, loader->MappedMatrix(x + names.down + ".weight",
                                                     h, inter, &w));
    }
    if (shared > 0) {
      const std::string s = p + "shared_expert.";
      ExpertWeights& sw = lw.shared_expert;
      ASSIGN_OR_RETURN(
          sw.gate, loader->MappedMatrix(s + "gate_proj.weight", shared, h, &w));
      ASSIGN_OR_RETURN(
          sw.up, loader->MappedMatrix(s + "up_proj.weight", shared, h, &w));
      ASSIGN_OR_RETURN(
          sw.down, loader->MappedMatrix(s + "down_proj.weight", h, shared, &w));
      ASSIGN_OR_RETURN(
          lw.shared_expert_gate,
          loader->Matrix(p + "shared_expert_gate.weight", 1, h, &w));
    }
  }
  return w;
}

}  // namespace evald::runners::native::model
