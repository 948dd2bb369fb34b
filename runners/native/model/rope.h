// File: runners/native/model/rope.h
// -----------------------------------------------------------------------------
// Rotary position embedding frequencies of a model, which every backend
// applies the same way. Pure function; thread-safe.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_ROPE_H_
#define EVALD_RUNNERS_NATIVE_MODEL_ROPE_H_

#include <vector>

#include "runners/native/model/model_config.h"

namespace evald::runners::native::model {

// Inverse frequencies [head_dim / 2] for the config's rope_theta and
// rope_scaling (none, linear, llama3).
std::vector<double> RopeInverseFrequencies(const ModelConfig& config);

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_ROPE_H_
