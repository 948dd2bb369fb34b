// File: runners/native/model/arch_phi3.cc
// -----------------------------------------------------------------------------
// Phi3ForCausalLM (Phi-3, Phi-3.5, Phi-4-mini): the Llama computation with
// fused projections. self_attn.qkv_proj stacks q, k and v by rows
// ([(heads + 2 kv_heads) head_dim, hidden]) and mlp.gate_up_proj stacks gate
// and up ([2 intermediate, hidden]); both are split at load into row views of
// the same mapping (no copy). partial_rotary_factor, longrope/su scaling and
// tied embeddings come from config.json; `sliding_window` limits attention
// to the W most recent positions (the CPU backend's mask; the CUDA backend
// refuses positions past it).
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runners/native/model/architecture.h"

namespace evald::runners::native::model {
namespace {

// Rows [first, first + rows) of a dense matrix, viewing the same storage.
WeightMatrix RowSlice(const WeightMatrix& m, int64_t first, int64_t rows) {
  WeightMatrix out = m;
  out.rows = rows;
  out.data = static_cast<const uint8_t*>(m.data) +
             first * m.cols * static_cast<int64_t>(DTypeSize(m.dtype));
  return out;
}

class Phi3Architecture : public Architecture {
 public:
  absl::Status FinalizeConfig(ModelConfig* config) const override {
    if (config->quantization.awq) {
      return absl::InvalidArgumentError(
          "config.json: quantization_config: awq is not supported for "
          "Phi3ForCausalLM (fused qkv_proj / gate_up_proj)");
    }
    config->attention_bias = false;
    config->qk_norm = false;
    return absl::OkStatus();
  }

  absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& c, WeightLoader* loader) const override {
    DecoderWeights w;
    const int64_t h = c.hidden_size;
    const int64_t q_dim = static_cast<int64_t>(c.num_heads) * c.head_dim;
    const int64_t kv_dim = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
    const int64_t inter = c.intermediate_size;
    ASSIGN_OR_RETURN(w.embed, loader->Matrix("model.embed_tokens.weight",
                                             c.vocab_size, h, &w));
    for (int l = 0; l < c.num_layers; ++l) {
      const std::string p = absl::StrCat("model.layers.", l, ".");
      LayerWeights lw;
      ASSIGN_OR_RETURN(lw.input_norm,
                       loader->Vector(p + "input_layernorm.weight", h, &w));
      ASSIGN_OR_RETURN(const WeightMatrix qkv,
                       loader->Matrix(p + "self_attn.qkv_proj.weight",
                                      q_dim + 2 * kv_dim, h, &w));
      lw.q = RowSlice(qkv, 0, q_dim);
      lw.k = RowSlice(qkv, q_dim, kv_dim);
      lw.v = RowSlice(qkv, q_dim + kv_dim, kv_dim);
      ASSIGN_OR_RETURN(
          lw.o, loader->Matrix(p + "self_attn.o_proj.weight", h, q_dim, &w));
      ASSIGN_OR_RETURN(
          lw.post_norm,
          loader->Vector(p + "post_attention_layernorm.weight", h, &w));
      ASSIGN_OR_RETURN(
          const WeightMatrix gate_up,
          loader->Matrix(p + "mlp.gate_up_proj.weight", 2 * inter, h, &w));
      lw.gate = RowSlice(gate_up, 0, inter);
      lw.up = RowSlice(gate_up, inter, inter);
      ASSIGN_OR_RETURN(
          lw.down, loader->Matrix(p + "mlp.down_proj.weight", h, inter, &w));
      w.layers.push_back(std::move(lw));
    }
    ASSIGN_OR_RETURN(w.final_norm, loader->Vector("model.norm.weight", h, &w));
    if (loader->Has("lm_head.weight") || !c.tie_word_embeddings) {
      ASSIGN_OR_RETURN(w.lm_head,
                       loader->Matrix("lm_head.weight", c.vocab_size, h, &w));
    } else {
      w.lm_head = w.embed;
    }
    return w;
  }
};

EVALD_REGISTER_ARCHITECTURE("Phi3ForCausalLM", Phi3Architecture);

}  // namespace
}  // namespace evald::runners::native::model
