// File: runners/native/model/model_config.h
// -----------------------------------------------------------------------------
// The parsed config.json of a decoder-only checkpoint, architecture-neutral.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_MODEL_CONFIG_H_
#define EVALD_RUNNERS_NATIVE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

namespace evald::runners::native::model {

struct RopeScaling {
  // "" (none), "llama3", "linear", "yarn", "dynamic", "longrope" ("su" is
  // read as "longrope").
  std::string type;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int original_max_position_embeddings = 8192;
  // yarn
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 0.0;          // 0: not given
  double mscale_all_dim = 0.0;  // 0: not given
  // yarn, longrope: multiplies cos and sin; < 0: derived from the factor.
  double attention_factor = -1.0;
  // longrope: per-frequency divisors [rotary_dim / 2], short used while the
  // sequence fits original_max_position_embeddings, long past it.
  std::vector<double> short_factor;
  std::vector<double> long_factor;

  // Whether the frequencies depend on the sequence's length (rope.h).
  bool DependsOnLength() const {
    return type == "dynamic" || type == "longrope";
  }
};

// config.json "quantization_config"; only AWQ "gemm" INT4 with zero points
// is accepted, so `awq` alone says whether projections are quantised.
struct QuantizationConfig {
  bool awq = false;
  int bits = 0;
  int group_size = 0;
};

// Mixture-of-experts settings (Mixtral, Qwen2-MoE, Qwen3-MoE). Dense models
// keep num_experts == 0. 0 for a count means "not in config.json".
struct MoeConfig {
  int num_experts = 0;                      // num_local_experts / num_experts
  int experts_per_token = 0;                // num_experts_per_tok
  int expert_intermediate_size = 0;         // each expert's FFN width
  int moe_intermediate_size = 0;            // config.json moe_intermediate_size
  int shared_expert_intermediate_size = 0;  // 0 = no shared expert
  bool norm_topk_prob = false;  // renormalise the top-k router weights
  // Mixtral: softmax over the k largest router logits (equal to its
  // softmax, top-k, renormalise). Qwen: softmax over all experts, then top-k
  // (renormalised only with norm_topk_prob).
  bool softmax_after_topk = false;
  int decoder_sparse_step = 1;       // every Nth layer is sparse
  std::vector<int> mlp_only_layers;  // these layers stay dense
  bool qkv_bias = true;              // Qwen2-MoE's "qkv_bias": q/k/v biases
};

struct ModelConfig {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  std::string model_type;    // e.g. "llama"
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (Qwen2)
  bool qk_norm = false;         // per-head RMSNorm on q and k (Qwen3)
  std::string torch_dtype;      // "bfloat16", "float16", "float32"
  std::vector<int32_t> bos_token_ids;
  std::vector<int32_t> eos_token_ids;
  QuantizationConfig quantization;
  MoeConfig moe;
  // Dimensions of each head that RoPE rotates (the leading ones, as
  // partial_rotary_factor * head_dim); 0 means all of head_dim.
  int rotary_dim = 0;
  // Attention window in tokens (Phi-3's `sliding_window`): a query attends
  // to the W most recent positions, its own included; 0: none. The CPU
  // backend applies it; the CUDA backend refuses positions past it.
  int sliding_window = 0;
  // Per layer, whether `sliding_window` applies to it (Gemma's interleaved
  // local and global layers); empty: every layer, as for Phi-3.
  std::vector<bool> sliding_layers;
  // RoPE base of the sliding layers (Gemma 3's rope_local_base_freq, never
  // scaled); 0: they use the global table.
  double rope_local_theta = 0.0;
  // Gemma 2 / Gemma 3 (arch_gemma2.cc, arch_gemma3.cc); the defaults leave
  // every other family as it was.
  // Embeddings times sqrt(hidden_size), rounded to the embedding's dtype.
  bool scale_embeddings = false;
  // MLP: tanh-approximated GELU of the gate times up (GeGLU), not SwiGLU.
  bool gelu_tanh = false;
  // > 0: attention scores are scaled by query_pre_attn_scalar^-1/2 instead
  // of head_dim^-1/2.
  double query_pre_attn_scalar = 0.0;
  // > 0: cap * tanh(x / cap) on the attention scores / the final logits.
  double attn_logit_softcapping = 0.0;
  double final_logit_softcapping = 0.0;
};

// Whether attention in layer `layer` is limited to `sliding_window`.
inline bool IsSlidingLayer(const ModelConfig& c, int layer) {
  if (c.sliding_window <= 0) return false;
  return c.sliding_layers.empty() || c.sliding_layers[layer];
}

// Whether layer `layer` has a sparse MoE block (else the dense MLP): the
// Qwen2-MoE rule, which Mixtral (step 1, no dense layers) also follows.
inline bool IsMoeLayer(const ModelConfig& c, int layer) {
  if (c.moe.num_experts <= 0) return false;
  for (int l : c.moe.mlp_only_layers) {
    if (l == layer) return false;
  }
  return (layer + 1) % c.moe.decoder_sparse_step == 0;
}

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_MODEL_CONFIG_H_
