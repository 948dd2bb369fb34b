// File: runners/native/model/gemma_weights.h
// -----------------------------------------------------------------------------
// The tensors of Gemma 2 and Gemma 3 (text) checkpoints. Gemma stores each
// RMSNorm weight as an offset from 1 (its norm multiplies by 1 + weight);
// the loader adds the 1 once, in FP32 as transformers does, so the backends
// run the ordinary RMSNorm. Thread-safety: a plain function.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_GEMMA_WEIGHTS_H_
#define EVALD_RUNNERS_NATIVE_MODEL_GEMMA_WEIGHTS_H_

#include "absl/status/statusor.h"
#include "runners/native/model/decoder_weights.h"
#include "runners/native/model/model_config.h"

namespace evald::runners::native::model {

// model.embed_tokens, per layer input_layernorm, self_attn.{q,k,v,o}_proj
// (and q_norm / k_norm when config.qk_norm), post_attention_layernorm,
// pre_feedforward_layernorm, post_feedforward_layernorm,
// mlp.{gate,up,down}_proj; model.norm; lm_head.weight unless the
// embeddings are tied. Missing tensors and shape mismatches name the tensor
// and its file.
absl::StatusOr<DecoderWeights> LoadGemmaWeights(const ModelConfig& config,
                                                WeightLoader* loader);

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_GEMMA_WEIGHTS_H_
