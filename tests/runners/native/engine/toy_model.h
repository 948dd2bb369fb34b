// File: tests/runners/native/engine/toy_model.h
// -----------------------------------------------------------------------------
// A small deterministic Model for engine tests that honours the paged-KV
// contract for real: Forward writes each new position's key vector into the
// block named by the block table and computes a row's logits by reading every
// earlier position back *from the KV blocks*. Unwritten slots hold NaN, so a
// wrong block table, a stale cache hit or a missed write shows up as NaN or as
// logits that differ from ReferenceLogits(), which recomputes from the tokens
// alone with the same summation order (bit-identical when all is well).
//
// Also a byte tokenizer (id = byte value, plus BOS/EOS ids) for stop strings.
#ifndef EVALD_TESTS_RUNNERS_NATIVE_ENGINE_TOY_MODEL_H_
#define EVALD_TESTS_RUNNERS_NATIVE_ENGINE_TOY_MODEL_H_

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runners/native/model/model.h"
#include "runners/native/tokenizer/tokenizer.h"

namespace evald::runners::native::testing {

inline constexpr int kToyDim = 8;

// With `commit_unit` > 0 the cache is elastic: blocks start uncommitted,
// Decommit wipes them back to NaN, and Forward fails on a block table that
// names an uncommitted block (memory the engine does not hold).
class ToyKvCache : public model::KvCache {
 public:
  explicit ToyKvCache(int num_blocks, int commit_unit = 0)
      : num_blocks_(num_blocks),
        unit_(commit_unit),
        committed_(num_blocks, commit_unit == 0),
        keys_(static_cast<size_t>(num_blocks) * model::kKvBlockSize * kToyDim,
              std::numeric_limits<float>::quiet_NaN()) {}
  int num_blocks() const override { return num_blocks_; }
  size_t bytes() const override {
    size_t n = 0;
    for (bool c : committed_) n += c ? 1 : 0;
    return n * model::kKvBlockSize * kToyDim * sizeof(float);
  }
  int commit_unit() const override { return unit_; }
  absl::Status Commit(int first, int n) override {
    if (unit_ == 0) return absl::OkStatus();
    if (first % unit_ != 0 || n % unit_ != 0 || first + n > num_blocks_) {
      return absl::InvalidArgumentError(
          absl::StrCat("unaligned commit ", first, "+", n));
    }
    for (int b = first; b < first + n; ++b) {
      if (committed_[b])
        return absl::InternalError(
            absl::StrCat("block ", b, " committed twice"));
      committed_[b] = true;
    }
    ++commits_;
    return absl::OkStatus();
  }
  void Decommit(int first, int n) override {
    for (int b = first; b < first + n; ++b) {
      committed_[b] = false;
      for (int o = 0; o < model::kKvBlockSize; ++o) {
        for (int d = 0; d < kToyDim; ++d)
          slot(b, o)[d] = std::numeric_limits<float>::quiet_NaN();
      }
    }
    ++decommits_;
  }
  bool committed(int block) const { return committed_[block]; }
  int commits() const { return commits_; }
  int decommits() const { return decommits_; }
  float* slot(int block, int offset) {
    return &keys_[(static_cast<size_t>(block) * model::kKvBlockSize + offset) *
                  kToyDim];
  }

 private:
  int num_blocks_;
  int unit_;
  std::vector<bool> committed_;
  int commits_ = 0;
  int decommits_ = 0;
  std::vector<float> keys_;
};

class ToyModel : public model::Model {
 public:
  explicit ToyModel(int vocab = 300, int max_position = 4096) {
    config_.architecture = "ToyForTesting";
    config_.vocab_size = vocab;
    config_.max_position_embeddings = max_position;
    config_.num_layers = 1;
    config_.num_kv_heads = 1;
    config_.head_dim = kToyDim;
  }

  static float Embed(int32_t token, int d) {
    return std::sin(0.37f * static_cast<float>(token) +
                    1.3f * static_cast<float>(d));
  }
  static void Key(int32_t token, int pos, float* k) {
    for (int d = 0; d < kToyDim; ++d) {
      k[d] = Embed(token, d) +
             0.25f * std::cos(0.11f * static_cast<float>(pos) * (d + 1));
    }
  }
  // logits[v] from the keys of positions 0..p, in position order.
  static void Logits(const std::vector<const float*>& keys, int vocab,
                     std::vector<float>* out) {
    float h[kToyDim] = {};
    for (const float* k : keys) {
      for (int d = 0; d < kToyDim; ++d) h[d] = 0.8f * h[d] + k[d];
    }
    out->assign(vocab, 0.0f);
    for (int v = 0; v < vocab; ++v) {
      float acc = 0;
      for (int d = 0; d < kToyDim; ++d) acc += h[d] * Embed(v, d);
      (*out)[v] = 2.0f * acc;
    }
  }

  // What Forward must produce for the last position of `tokens`.
  std::vector<float> ReferenceLogits(const std::vector<int32_t>& tokens) const {
    std::vector<std::vector<float>> k(tokens.size(),
                                      std::vector<float>(kToyDim));
    std::vector<const float*> ptrs;
    for (size_t p = 0; p < tokens.size(); ++p) {
      Key(tokens[p], static_cast<int>(p), k[p].data());
      ptrs.push_back(k[p].data());
    }
    std::vector<float> out;
    Logits(ptrs, config_.vocab_size, &out);
    return out;
  }

  const model::ModelConfig& config() const override { return config_; }
  size_t weight_bytes() const override { return 1000; }
  size_t kv_bytes_per_token() const override { return kToyDim * sizeof(float); }
  absl::StatusOr<std::unique_ptr<model::KvCache>> AllocateKvCache(
      int num_blocks) const override {
    return std::make_unique<ToyKvCache>(num_blocks);
  }
  // Elastic caches in units of `unit` blocks when set_elastic_unit(unit > 0).
  absl::StatusOr<std::unique_ptr<model::KvCache>> ReserveKvCache(
      int capacity_blocks) const override {
    if (elastic_unit_ == 0)
      return absl::UnimplementedError("toy model: no elastic cache");
    return std::make_unique<ToyKvCache>(
        capacity_blocks / elastic_unit_ * elastic_unit_, elastic_unit_);
  }
  void set_elastic_unit(int unit) { elastic_unit_ = unit; }

  absl::Status Forward(absl::Span<const model::SeqChunk> batch,
                       model::KvCache* kv_base,
                       model::ForwardOutput* out) override {
    auto* kv = static_cast<ToyKvCache*>(kv_base);
    out->logits.clear();
    int tokens = 0;
    for (const model::SeqChunk& c : batch) {
      tokens += static_cast<int>(c.tokens.size());
      const int end = c.start_pos + static_cast<int>(c.tokens.size());
      if (static_cast<int>(c.block_table.size()) * model::kKvBlockSize < end) {
        return absl::InternalError("block table too short");
      }
      for (int32_t b : c.block_table) {
        if (b <= 0 || b >= kv->num_blocks())
          return absl::InternalError(absl::StrCat("bad block ", b));
        if (!kv->committed(b))
          return absl::InternalError(absl::StrCat("uncommitted block ", b));
      }
      for (size_t i = 0; i < c.tokens.size(); ++i) {
        const int p = c.start_pos + static_cast<int>(i);
        Key(c.tokens[i], p,
            kv->slot(c.block_table[p / model::kKvBlockSize],
                     p % model::kKvBlockSize));
      }
      for (int row : c.logit_rows) {
        const int p = c.start_pos + row;
        std::vector<const float*> keys;
        for (int q = 0; q <= p; ++q) {
          keys.push_back(kv->slot(c.block_table[q / model::kKvBlockSize],
                                  q % model::kKvBlockSize));
        }
        out->logits.emplace_back();
        Logits(keys, config_.vocab_size, &out->logits.back());
      }
    }
    forwarded_tokens_ += tokens;
    max_step_tokens_ = std::max(max_step_tokens_.load(), tokens);
    ++calls_;
    return absl::OkStatus();
  }

  int64_t forwarded_tokens() const { return forwarded_tokens_; }
  int max_step_tokens() const { return max_step_tokens_; }
  int64_t calls() const { return calls_; }

 private:
  model::ModelConfig config_;
  int elastic_unit_ = 0;
  std::atomic<int64_t> forwarded_tokens_{0};
  std::atomic<int> max_step_tokens_{0};
  std::atomic<int64_t> calls_{0};
};

// Byte tokenizer: ids 0..255 are bytes; 256 = BOS, 257 = EOS.
class ByteTokenizer : public tokenizer::Tokenizer {
 public:
  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text, bool add_special_tokens) const override {
    std::vector<int32_t> ids;
    if (add_special_tokens) ids.push_back(256);
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string Decode(absl::Span<const int32_t> ids,
                     bool skip_special_tokens) const override {
    std::string s;
    for (int32_t id : ids) {
      if (id < 256)
        s.push_back(static_cast<char>(id));
      else if (!skip_special_tokens)
        s += id == 256 ? "<s>" : "</s>";
    }
    return s;
  }
  std::string TokenBytes(int32_t id) const override {
    return id < 256 ? std::string(1, static_cast<char>(id)) : "";
  }
  int vocab_size() const override { return 258; }
  std::optional<int32_t> TokenToId(absl::string_view) const override {
    return std::nullopt;
  }
  std::optional<std::string> IdToToken(int32_t) const override {
    return std::nullopt;
  }
  bool IsSpecial(int32_t id) const override { return id >= 256; }
  std::optional<int32_t> bos_id() const override { return 256; }
  std::optional<int32_t> eos_id() const override { return 257; }
  std::string bos_token() const override { return "<s>"; }
  std::string eos_token() const override { return "</s>"; }
  const std::string& chat_template() const override { return empty_; }

 private:
  std::string empty_;
};

}  // namespace evald::runners::native::testing

#endif  // EVALD_TESTS_RUNNERS_NATIVE_ENGINE_TOY_MODEL_H_
