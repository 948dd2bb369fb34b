// File: runners/native/model/gemma_weights.cc
// -----------------------------------------------------------------------------
#include "runners/native/model/gemma_weights.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace evald::runners::native::model {
namespace {

// A Gemma norm weight w of `n` floats, returned as 1 + w.
absl::StatusOr<std::vector<float>> GemmaNorm(WeightLoader* loader,
                                             const std::string& name, int64_t n,
                                             DecoderWeights* w) {
  ASSIGN_OR_RETURN(std::vector<float> v, loader->Vector(name, n, w));
  for (float& x : v) x = 1.0f + x;
  return v;
}

}  // namespace

absl::StatusOr<DecoderWeights> LoadGemmaWeights(const ModelConfig& c,
                                                WeightLoader* loader) {
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
                     GemmaNorm(loader, p + "input_layernorm.weight", h, &w));
    ASSIGN_OR_RETURN(
        lw.q, loader->Matrix(p + "self_attn.q_proj.weight", q_dim, h, &w));
    ASSIGN_OR_RETURN(
        lw.k, loader->Matrix(p + "self_attn.k_proj.weight", kv_dim, h, &w));
    ASSIGN_OR_RETURN(
        lw.v, loader->Matrix(p + "self_attn.v_proj.weight", kv_dim, h, &w));
    if (c.qk_norm) {
      ASSIGN_OR_RETURN(
          lw.q_norm,
          GemmaNorm(loader, p + "self_attn.q_norm.weight", c.head_dim, &w));
      ASSIGN_OR_RETURN(
          lw.k_norm,
          GemmaNorm(loader, p + "self_attn.k_norm.weight", c.head_dim, &w));
    }
    ASSIGN_OR_RETURN(
        lw.o, loader->Matrix(p + "self_attn.o_proj.weight", h, q_dim, &w));
    ASSIGN_OR_RETURN(
        lw.attn_out_norm,
        GemmaNorm(loader, p + "post_attention_layernorm.weight", h, &w));
    ASSIGN_OR_RETURN(
        lw.post_norm,
        GemmaNorm(loader, p + "pre_feedforward_layernorm.weight", h, &w));
    ASSIGN_OR_RETURN(
        lw.ffn_out_norm,
        GemmaNorm(loader, p + "post_feedforward_layernorm.weight", h, &w));
    ASSIGN_OR_RETURN(lw.gate,
                     loader->Matrix(p + "mlp.gate_proj.weight", inter, h, &w));
    ASSIGN_OR_RETURN(lw.up,
                     loader->Matrix(p + "mlp.up_proj.weight", inter, h, &w));
    ASSIGN_OR_RETURN(lw.down,
                     loader->Matrix(p + "mlp.down_proj.weight", h, inter, &w));
    w.layers.push_back(std::move(lw));
  }
  ASSIGN_OR_RETURN(w.final_norm, GemmaNorm(loader, "model.norm.weight", h, &w));
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    ASSIGN_OR_RETURN(w.lm_head,
                     loader->Matrix("lm_head.weight", c.vocab_size, h, &w));
  }
  return w;
}

}  // namespace evald::runners::native::model
