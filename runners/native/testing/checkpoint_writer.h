// File: runners/native/testing/checkpoint_writer.h
// -----------------------------------------------------------------------------
// Writes a random-weight Hugging Face checkpoint folder for a given shape:
// config.json, generation_config.json, model.safetensors (or shards of at
// most `max_shard_bytes` with model.safetensors.index.json), tokenizer.json
// and tokenizer_config.json (see tokenizer_writer.h).
//
// Weights are deterministic in (seed, tensor name): each tensor has its own
// PRNG stream, so the bytes do not depend on the order of writing. Linear
// weights are uniform with std 1/sqrt(fan_in) so that activations and logits
// stay O(1) at any width; norm weights are 1 (+ `norm_jitter` noise); biases
// have std `bias_std`. Tensor data is generated and written in chunks, so a
// 70B-shaped checkpoint needs no more memory than a small one.
//
// Thread-safety: stateless functions.
#ifndef EVALD_RUNNERS_NATIVE_TESTING_CHECKPOINT_WRITER_H_
#define EVALD_RUNNERS_NATIVE_TESTING_CHECKPOINT_WRITER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runners/native/model/dtype.h"
#include "runners/native/model/model_config.h"

namespace evald::runners::native::testing {

struct CheckpointSpec {
  // "llama", "mistral", "qwen2", "qwen3", "phi3" (fused qkv_proj and
  // gate_up_proj), "mixtral", "qwen2_moe", "qwen3_moe", "gemma2" or
  // "gemma3" (text-only Gemma3ForCausalLM).
  std::string arch = "llama";
  int hidden = 128;
  int layers = 2;
  int heads = 4;
  int kv_heads = 2;
  // 0 = hidden / heads (Qwen3 checkpoints write it explicitly).
  int head_dim = 0;
  int intermediate = 256;
  int vocab = 1024;
  int max_position = 4096;
  model::DType dtype = model::DType::kBF16;  // kBF16, kF16 or kF32
  uint64_t seed = 0;
  bool tie_embeddings = false;
  // "", "llama3" (factor 8 / 1 / 4 / 8192 unless changed below), "linear",
  // "yarn" (factor, original context), "dynamic" (factor; the original
  // context is max_position) or "longrope" (original context at the top
  // level, as Phi-3 writes it; short/long factors drawn from `seed`).
  std::string rope_scaling;
  double rope_factor = 8.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int rope_original_max_position = 8192;
  double rope_theta = 500000.0;
  double rms_norm_eps = 1e-5;
  // Norm weights are 1 + uniform noise of this std (0 = exactly 1).
  double norm_jitter = 0.0;
  // Std of the q/k/v biases (qwen2).
  double bias_std = 0.1;
  // Files above this are split into shards.
  uint64_t max_shard_bytes = 2ull << 30;
  // Writes the seven projections as AWQ "gemm" INT4 (qweight/qzeros/scales,
  // zero point, this group size) quantised from the BF16 weights that the
  // same spec without AWQ would write; embeddings, norms and lm_head stay in
  // `dtype`.
  bool awq_int4 = false;
  int awq_group_size = 128;
  // Mixture of experts (arch "mixtral", "qwen2_moe", "qwen3_moe"); ignored
  // by the dense archs. Mixtral's experts are `intermediate` wide.
  int num_experts = 8;
  int experts_per_token = 2;
  // Qwen MoE experts' width (0 = intermediate / 2) and Qwen2-MoE's shared
  // expert (0 = intermediate).
  int moe_intermediate = 0;
  int shared_expert_intermediate = 0;
  // -1: the family's usual (qwen2_moe false, qwen3_moe true), else 0 / 1.
  int norm_topk_prob = -1;
  int decoder_sparse_step = 1;
  std::vector<int> mlp_only_layers;
  // Written as config.json's partial_rotary_factor when not 1.
  double partial_rotary_factor = 1.0;
  // config.json's sliding_window (phi3, mistral, mixtral); 0 writes null.
  // qwen2 / qwen3: > 0 also writes use_sliding_window true and
  // max_window_layers (the first sliding layer).
  int sliding_window = 0;
  int max_window_layers = 0;
  // Gemma (arch "gemma2", "gemma3"): norms are stored as offsets from 1
  // (0 + `norm_jitter` noise), embeddings are always tied, sliding_window 0
  // writes 4096. Soft-capping < 0: the family's (Gemma 2 50 / 30, Gemma 3
  // null); 0 writes null. query_pre_attn_scalar 0: head_dim. Gemma 3: every
  // sliding_window_pattern-th layer is global, local layers use
  // rope_local_theta.
  double attn_logit_softcapping = -1.0;
  double final_logit_softcapping = -1.0;
  int query_pre_attn_scalar = 0;
  int sliding_window_pattern = 6;
  double rope_local_theta = 10000.0;
};

// Known presets: "tiny", "llama-3.2-1b", "llama-3.1-8b", "llama-3.1-70b",
// "llama-3.1-70b-awq" (70B with awq_int4), "mixtral-8x7b", and
// "mixtral-small" (Mixtral's 8 experts / top 2 at hidden 1024, for benches).
absl::StatusOr<CheckpointSpec> CheckpointPreset(absl::string_view name);

// The shape of a parsed Hugging Face config.json (real model shapes): arch
// from model_type (llama, mistral, qwen2, qwen3, phi3, the MoE types,
// gemma2, gemma3_text), sizes, RoPE and norm
// settings; an AWQ quantization_config turns on awq_int4. Other model types
// are an InvalidArgument naming model_type.
absl::StatusOr<CheckpointSpec> SpecFromModelConfig(
    const model::ModelConfig& config);

// The ModelConfig the spec describes (what config.json will say).
model::ModelConfig SpecToModelConfig(const CheckpointSpec& spec);

// AWQ INT4 quantisation of one group of weights (AutoAWQ's zero-point math):
// scale = max(max - min, 1e-5) / 15 rounded to FP16, zero = clamp(round(-min /
// scale), 0, 15), q = clamp(round(w / scale) + zero, 0, 15).
struct AwqGroupParams {
  uint16_t scale_f16 = 0;
  int zero = 0;
};
AwqGroupParams AwqQuantizeGroupParams(const float* w, int64_t n);
int AwqQuantizeValue(float w, const AwqGroupParams& p);
// Packs 8 nibbles (logical output columns 8c..8c+7) into one AWQ word with the
// order {0, 2, 4, 6, 1, 3, 5, 7}.
int32_t AwqPackWord(const int nibbles[8]);

// Writes the folder `dir` (created if missing; existing files replaced).
absl::Status WriteCheckpoint(const CheckpointSpec& spec,
                             const std::string& dir);

// A tensor for WriteSafetensors: data is produced by `fill`, which writes
// `count` elements starting at element `offset` as raw little-endian bytes of
// `dtype` into `out`.
struct TensorToWrite {
  std::string name;
  model::DType dtype = model::DType::kF32;
  std::vector<int64_t> shape;
  std::function<void(int64_t offset, int64_t count, uint8_t* out)> fill;
};

// Writes one safetensors file (header padded to 8 bytes, `__metadata__`
// {"format": "pt"}); tensors are laid out in the given order.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<TensorToWrite>& tensors);

}  // namespace evald::runners::native::testing

#endif  // EVALD_RUNNERS_NATIVE_TESTING_CHECKPOINT_WRITER_H_
