// File: runners/native/engine/block_hash.h
// -----------------------------------------------------------------------------
// Chained hashes of full KV blocks, the keys of the prefix cache.
//
// The hash of block i covers the model identity and every token of blocks
// 0..i: hash_i = H(hash_{i-1} || tokens of block i), hash_{-1} = H(model id).
// Equal hashes therefore mean equal prefixes, so a flat hash map gives the
// semantics of a radix tree over blocks. Only full blocks (kKvBlockSize
// tokens) are hashed: a partial block is never shared.
//
// H is SHA-256 truncated to 128 bits. With a strong 128-bit hash a collision
// is not a practical concern (birthday bound ~2^64 blocks), so a hit is
// trusted without comparing tokens.
//
// Thread-safety: pure functions and a value type.
#ifndef EVALD_RUNNERS_NATIVE_ENGINE_BLOCK_HASH_H_
#define EVALD_RUNNERS_NATIVE_ENGINE_BLOCK_HASH_H_

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace evald::runners::native::engine {

struct BlockHash {
  uint64_t hi = 0;
  uint64_t lo = 0;

  friend bool operator==(const BlockHash& a, const BlockHash& b) {
    return a.hi == b.hi && a.lo == b.lo;
  }
  friend bool operator!=(const BlockHash& a, const BlockHash& b) {
    return !(a == b);
  }
  template <typename H>
  friend H AbslHashValue(H h, const BlockHash& b) {
    return H::combine(std::move(h), b.hi, b.lo);
  }
};

// The root of every chain for one model (the "parent" of block 0).
BlockHash RootBlockHash(absl::string_view model_id);

// Hash of one full block given its parent's hash.
// REQUIRES: tokens.size() == kKvBlockSize.
BlockHash HashBlock(const BlockHash& parent, absl::Span<const int32_t> tokens);

// Extends `hashes` (the chain of the first hashes->size() full blocks of
// `tokens`) to cover every full block of `tokens`.
void ExtendBlockHashes(const BlockHash& root, absl::Span<const int32_t> tokens,
                       std::vector<BlockHash>* hashes);

}  // namespace evald::runners::native::engine

#endif  // EVALD_RUNNERS_NATIVE_ENGINE_BLOCK_HASH_H_
