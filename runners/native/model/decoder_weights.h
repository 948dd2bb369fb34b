// File: runners/native/model/decoder_weights.h
// -----------------------------------------------------------------------------
// The weights of a pre-norm decoder-only transformer (Llama family), and the
// loader that an architecture file uses to fill them from a checkpoint with
// every shape checked.
//
// Matrices stay where the checkpoint put them: BF16 and FP32 tensors are used
// in place from the mmap; FP16 tensors are widened once to FP32 buffers owned
// by DecoderWeights. Small vectors (norms, biases) are always copied to FP32.
//
// Thread-safety: DecoderWeights is immutable after loading. WeightLoader is
// single-threaded.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_DECODER_WEIGHTS_H_
#define EVALD_RUNNERS_NATIVE_MODEL_DECODER_WEIGHTS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runners/native/model/model_config.h"
#include "runners/native/model/safetensors.h"
#include "runners/native/model/weight_matrix.h"

namespace evald::runners::native::model {

// One expert's SwiGLU FFN, read in place from the mapping.
struct ExpertWeights {
  WeightMatrix gate;  // [expert_intermediate, hidden]
  WeightMatrix up;    // [expert_intermediate, hidden]
  WeightMatrix down;  // [hidden, expert_intermediate]
};

struct LayerWeights {
  std::vector<float> input_norm;  // [hidden]
  WeightMatrix q;                 // [heads * head_dim, hidden]
  WeightMatrix k;                 // [kv_heads * head_dim, hidden]
  WeightMatrix v;                 // [kv_heads * head_dim, hidden]
  std::vector<float> q_bias;      // [heads * head_dim] or empty
  std::vector<float> k_bias;      // [kv_heads * head_dim] or empty
  std::vector<float> v_bias;      // [kv_heads * head_dim] or empty
  std::vector<float> q_norm;      // [head_dim] or empty (per-head RMSNorm)
  std::vector<float> k_norm;      // [head_dim] or empty
  WeightMatrix o;                 // [hidden, heads * head_dim]
  std::vector<float> post_norm;   // [hidden]
  WeightMatrix gate;              // [intermediate, hidden]
  WeightMatrix up;                // [intermediate, hidden]
  WeightMatrix down;              // [hidden, intermediate]
  // A sparse MoE layer (IsMoeLayer) has these instead of gate/up/down.
  WeightMatrix router;                 // [num_experts, hidden]
  std::vector<ExpertWeights> experts;  // [num_experts]
  ExpertWeights shared_expert;         // rows == 0 when absent (Qwen2-MoE)
  WeightMatrix shared_expert_gate;     // [1, hidden]
  // Gemma's norms of the attention and MLP outputs before their residual
  // adds (post_attention_layernorm, post_feedforward_layernorm): [hidden],
  // or empty when the family has none.
  std::vector<float> attn_out_norm;
  std::vector<float> ffn_out_norm;
};

struct DecoderWeights {
  WeightMatrix embed;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [hidden]
  WeightMatrix lm_head;           // [vocab, hidden]; == embed when tied
  // Converted copies that the matrices above may point into.
  std::vector<std::unique_ptr<std::vector<float>>> owned;
  size_t bytes = 0;  // weight bytes in memory (mapped or owned)
};

class WeightLoader {
 public:
  // `store` is borrowed and must outlive the weights built from it.
  explicit WeightLoader(const TensorStore* store) : store_(store) {}

  bool Has(absl::string_view name) const {
    return store_->Find(name) != nullptr;
  }
  // A [rows, cols] matrix; a missing tensor, a wrong shape or an unsupported
  // dtype is an InvalidArgument naming the tensor and its file.
  absl::StatusOr<WeightMatrix> Matrix(absl::string_view name, int64_t rows,
                                      int64_t cols, DecoderWeights* weights);
  // An AWQ INT4 [rows, cols] matrix from `<prefix>.qweight` (I32 [cols,
  // rows / 8]), `.qzeros` (I32 [cols / g, rows / 8]) and `.scales` (F16
  // [cols / g, rows]), used in place from the mapping.
  absl::StatusOr<WeightMatrix> AwqMatrix(absl::string_view prefix, int64_t rows,
                                         int64_t cols, int group_size,
                                         DecoderWeights* weights);
  absl::StatusOr<std::vector<float>> Vector(absl::string_view name, int64_t n,
                                            DecoderWeights* weights);
  // Like Matrix, but only for BF16 and FP32 tensors, which stay in the
  // mapping (pages are read when first used): MoE experts, of which only a
  // few are touched per token, are never copied. F16 is an InvalidArgument.
  absl::StatusOr<WeightMatrix> MappedMatrix(absl::string_view name,
                                            int64_t rows, int64_t cols,
                                            DecoderWeights* weights);

 private:
  // The tensor `name` with exactly `shape`; errors name the tensor and file.
  absl::StatusOr<const TensorInfo*> Find(absl::string_view name,
                                         const std::vector<int64_t>& shape);
  absl::StatusOr<const TensorInfo*> Get(absl::string_view name,
                                        std::vector<int64_t> shape);
  absl::StatusOr<const TensorInfo*> GetTyped(absl::string_view name,
                                             std::vector<int64_t> shape,
                                             DType dtype, size_t alignment);
  const TensorStore* store_;
};

// The common Llama-family naming (model.embed_tokens, model.layers.N.self_attn
// .q_proj, ..., model.norm, lm_head). Biases and q/k norms are loaded when the
// config asks for them.
// Layers with a sparse MoE block (IsMoeLayer) get no dense MLP here; see
// moe_weights.h.
absl::StatusOr<DecoderWeights> LoadLlamaStyleWeights(const ModelConfig& config,
                                                     WeightLoader* loader);

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_DECODER_WEIGHTS_H_
