// File: runners/native/tokenizer/bpe_model.h
// -----------------------------------------------------------------------------
// The BPE model of a tokenizer.json: vocabulary, ranked merges, unknown-token
// and byte-fallback rules. Tokenize() turns one pre-tokenized word into ids
// with the rank-ordered merge loop of HF tokenizers (lowest rank first, ties
// to the leftmost pair), in O(n log n) per word, with a bounded word cache.
//
// Thread-safety: immutable after FromJson except the internal cache, which is
// guarded by a mutex; Tokenize may be called from many threads.
#ifndef EVALD_RUNNERS_NATIVE_TOKENIZER_BPE_MODEL_H_
#define EVALD_RUNNERS_NATIVE_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/json.h"

namespace evald::runners::native::tokenizer::internal {

class BpeModel {
 public:
  // `model` reads the tokenizer.json "model" object.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(
      const base::JsonReader& model);

  // Appends the ids of `word` (one pre-tokenized piece) to `out`.
  void Tokenize(absl::string_view word, std::vector<int32_t>* out) const;

  std::optional<int32_t> TokenToId(absl::string_view token) const;
  // nullptr when `id` is not in the vocabulary.
  const std::string* IdToToken(int32_t id) const;
  // One past the largest id.
  int32_t id_limit() const { return static_cast<int32_t>(id_to_token_.size()); }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
           static_cast<uint32_t>(b);
  }
  void TokenizeUncached(absl::string_view word,
                        std::vector<int32_t>* out) const;

  absl::flat_hash_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> id_present_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  std::array<int32_t, 256> byte_ids_{};  // ids of "<0xNN>" tokens, -1 if absent

  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kMaxCacheEntries = 1 << 16;
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace evald::runners::native::tokenizer::internal

#endif  // EVALD_RUNNERS_NATIVE_TOKENIZER_BPE_MODEL_H_
