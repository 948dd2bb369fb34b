// File: runners/native/model/rope.h
// -----------------------------------------------------------------------------
// Rotary position embedding frequencies of a model, which every backend
// applies the same way. Pure functions; thread-safe.
//
// `dynamic` (NTK) and `longrope` depend on the length of the sequence. The
// Hugging Face models recompute them at every forward call from the largest
// position in it, so their result depends on how a sequence was fed; evald
// fixes them per sequence instead: SeqChunk::rope_length (the engine passes
// the prompt's length) chooses the frequencies of every position of that
// sequence, prompt and generated tokens alike. A whole prompt scored in one
// call therefore matches transformers exactly, and the result is the same
// whatever the batch or the chunking.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_ROPE_H_
#define EVALD_RUNNERS_NATIVE_MODEL_ROPE_H_

#include <vector>

#include "absl/status/status.h"
#include "runners/native/model/model_config.h"

namespace evald::runners::native::model {

struct RopeTable {
  std::vector<double> inv_freq;   // [rotary_dim / 2]
  double attention_factor = 1.0;  // multiplies cos and sin (yarn, longrope)
};

// The frequencies for a sequence of `seq_len` tokens (only `dynamic` and
// `longrope` read it).
RopeTable RopeFrequencies(const ModelConfig& config, int seq_len);

// True when RopeFrequencies depends on seq_len.
bool RopeDependsOnLength(const ModelConfig& config);

// Inverse frequencies for the length-independent types (none, linear,
// llama3, yarn); what RopeFrequencies gives for seq_len 0.
std::vector<double> RopeInverseFrequencies(const ModelConfig& config);

// OK when the CUDA backend's RoPE kernel (whole heads, one unscaled table per
// model) computes this config's RoPE; else an Unimplemented error naming the
// config key (yarn, dynamic, longrope; partial_rotary_factor). Model::Load
// keeps such models on the CPU under Device::kAuto.
absl::Status CheckRopeOnCuda(const ModelConfig& config);

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_ROPE_H_
