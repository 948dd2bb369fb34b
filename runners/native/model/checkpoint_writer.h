// File: runners/native/model/checkpoint_writer.h
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
#ifndef EVALD_RUNNERS_NATIVE_MODEL_CHECKPOINT_WRITER_H_
#define EVALD_RUNNERS_NATIVE_MODEL_CHECKPOINT_WRITER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runners/native/model/dtype.h"
#include "runners/native/model/model_config.h"

namespace evald::engine {

struct CheckpointSpec {
  // "llama", "mistral", "qwen2" or "qwen3".
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
  DType dtype = DType::kBF16;  // kBF16, kF16 or kF32
  uint64_t seed = 0;
  bool tie_embeddings = false;
  // "" or "llama3" (factor 8 / 1 / 4 / 8192 unless changed below).
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
};

// Known presets: "tiny", "llama-3.2-1b", "llama-3.1-8b", "llama-3.1-70b".
absl::StatusOr<CheckpointSpec> CheckpointPreset(absl::string_view name);

// The ModelConfig the spec describes (what config.json will say).
ModelConfig SpecToModelConfig(const CheckpointSpec& spec);

// Writes the folder `dir` (created if missing; existing files replaced).
absl::Status WriteCheckpoint(const CheckpointSpec& spec, const std::string& dir);

// A tensor for WriteSafetensors: data is produced by `fill`, which writes
// `count` elements starting at element `offset` as raw little-endian bytes of
// `dtype` into `out`.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::function<void(int64_t offset, int64_t count, uint8_t* out)> fill;
};

// Writes one safetensors file (header padded to 8 bytes, `__metadata__`
// {"format": "pt"}); tensors are laid out in the given order.
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace evald::engine

#endif  // EVALD_RUNNERS_NATIVE_MODEL_CHECKPOINT_WRITER_H_
