// File: runners/native/engine/sequence.h
// -----------------------------------------------------------------------------
// The scheduler's view of one request: its tokens, how many of them have
// K/V computed, and the chained hashes of its full blocks.
//
// Ownership: the Engine owns each Sequence (inside its request state); the
// Scheduler and KvCacheManager refer to it by pointer / id while it lives.
// Thread-safety: engine thread only.
#ifndef EVALD_RUNNERS_NATIVE_ENGINE_SEQUENCE_H_
#define EVALD_RUNNERS_NATIVE_ENGINE_SEQUENCE_H_

#include <cstdint>
#include <vector>

#include "runners/native/engine/block_hash.h"

namespace evald::runners::native::engine {

struct Sequence {
  enum class Kind { kScore, kGenerate };

  int64_t id = 0;
  Kind kind = Kind::kScore;
  // Score: the fed tokens (context + continuation minus its last token).
  // Generate: the prompt, then each generated token as it is sampled.
  std::vector<int32_t> tokens;
  int num_prompt_tokens = 0;
  // Positions [0, num_computed_tokens) have K/V in the sequence's blocks.
  int num_computed_tokens = 0;
  // Chained hashes of every full block of `tokens`.
  std::vector<BlockHash> block_hashes;
  // Score: positions whose logits are needed, increasing. Generate: unused
  // (the last position's logits are needed once all tokens are computed).
  std::vector<int> logit_rows;

  // Set on first admission: prompt tokens served from the prefix cache.
  bool ever_admitted = false;
  int cached_prompt_tokens = 0;
  int num_preemptions = 0;

  int num_tokens() const { return static_cast<int>(tokens.size()); }
  int num_uncomputed() const { return num_tokens() - num_computed_tokens; }
};

}  // namespace evald::runners::native::engine

#endif  // EVALD_RUNNERS_NATIVE_ENGINE_SEQUENCE_H_
