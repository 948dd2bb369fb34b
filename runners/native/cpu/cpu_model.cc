#include "runners/native/cpu/cpu_model.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runners/native/cpu/cpu_gemm.h"
#include "runners/native/cpu/cpu_ops.h"
#include "runners/native/cpu/thread_pool.h"
#include "runners/native/model/backend.h"
#include "runners/native/model/dtype.h"
#include "runners/native/model/rope.h"

namespace evald::runners::native::cpu {

using model::DecoderWeights;
using model::kKvBlockSize;
using model::KvCache;
using model::LayerWeights;
using model::LoadOptions;
using model::Model;
using model::ModelConfig;
using model::RopeDependsOnLength;
using model::RopeFrequencies;
using model::RopeTable;
using model::SeqChunk;
using model::TensorStore;
using model::ValidateBatch;
namespace {

// K and V of every layer: [num_blocks, kKvBlockSize, num_kv_heads, head_dim]
// floats each, in one anonymous mapping: layer l's K, then its V. The kernel
// backs pages when they are first written, so an elastic cache (unit > 0)
// reserves address space for its whole capacity and costs memory only where
// blocks are used; Decommit hands pages back (MADV_DONTNEED).
class CpuKvCache : public KvCache {
 public:
  static constexpr int kCommitUnit =
      64;  // blocks; 4096 x kv_dim bytes, page-aligned

  static absl::StatusOr<std::unique_ptr<CpuKvCache>> Create(
      int num_layers, int num_blocks, int64_t block_floats, bool elastic) {
    const size_t region =
        static_cast<size_t>(num_blocks) * block_floats * sizeof(float);
    const size_t bytes = region * 2 * num_layers;
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
      return absl::ResourceExhaustedError(
          absl::StrCat("kv cache: cannot map ", bytes, " bytes for ",
                       num_blocks, " blocks: ", strerror(errno)));
    }
    return std::unique_ptr<CpuKvCache>(
        new CpuKvCache(static_cast<float*>(base), bytes, num_layers, num_blocks,
                       block_floats, elastic));
  }
  ~CpuKvCache() override { munmap(base_, mapped_bytes_); }
  CpuKvCache(const CpuKvCache&) = delete;
  CpuKvCache& operator=(const CpuKvCache&) = delete;

  int num_blocks() const override { return num_blocks_; }
  size_t bytes() const override {
    return static_cast<size_t>(committed_) * 2 * num_layers_ * block_floats_ *
           sizeof(float);
  }
  int commit_unit() const override { return elastic_ ? kCommitUnit : 0; }
  absl::Status Commit(int first, int n) override {
    if (!elastic_) return absl::OkStatus();
    if (first < 0 || n < 0 || first % kCommitUnit != 0 ||
        n % kCommitUnit != 0 || first + n > num_blocks_) {
      return absl::InvalidArgumentError(
          absl::StrCat("kv cache: commit of blocks [", first, ", ", first + n,
                       ") is not aligned"));
    }
    committed_ += n;  // pages are backed on first write
    return absl::OkStatus();
  }
  void Decommit(int first, int n) override {
    if (!elastic_) return;
    const size_t offset = static_cast<size_t>(first) * block_floats_;
    const size_t len = static_cast<size_t>(n) * block_floats_ * sizeof(float);
    for (int l = 0; l < num_layers_; ++l) {
      madvise(k(l) + offset, len, MADV_DONTNEED);
      madvise(v(l) + offset, len, MADV_DONTNEED);
    }
    committed_ -= n;
  }

  int num_layers() const { return num_layers_; }
  int64_t block_floats() const { return block_floats_; }
  float* k(int layer) const {
    return base_ + (2 * static_cast<size_t>(layer)) * region_floats();
  }
  float* v(int layer) const {
    return base_ + (2 * static_cast<size_t>(layer) + 1) * region_floats();
  }

 private:
  CpuKvCache(float* base, size_t mapped_bytes, int num_layers, int num_blocks,
             int64_t block_floats, bool elastic)
      : base_(base),
        mapped_bytes_(mapped_bytes),
        num_layers_(num_layers),
        num_blocks_(num_blocks),
        block_floats_(block_floats),
        elastic_(elastic),
        committed_(elastic ? 0 : num_blocks) {}
  size_t region_floats() const {
    return static_cast<size_t>(num_blocks_) * block_floats_;
  }

  float* const base_;
  const size_t mapped_bytes_;
  const int num_layers_;
  const int num_blocks_;
  const int64_t block_floats_;
  const bool elastic_;
  std::atomic<int> committed_;  // written by the engine thread, read by any
};

// The unscaled table of rope_local_theta; empty when there is none.
model::RopeTable LocalRope(const ModelConfig& c) {
  if (c.rope_local_theta <= 0) return {};
  ModelConfig local = c;
  local.rope_theta = c.rope_local_theta;
  local.rope_scaling = model::RopeScaling();
  return RopeFrequencies(local, 0);
}

// Gemma multiplies the embeddings by sqrt(hidden_size) taken in the
// activation dtype (that of the weights): rounded to BF16 or F16 for such
// checkpoints, FP32 otherwise.
float EmbedScale(const ModelConfig& c, model::DType dtype) {
  if (!c.scale_embeddings) return 0.0f;
  const float s =
      static_cast<float>(std::sqrt(static_cast<double>(c.hidden_size)));
  if (dtype == model::DType::kBF16)
    return model::Bf16ToFloat(model::FloatToBf16(s));
  if (dtype == model::DType::kF16)
    return model::F16ToFloat(model::FloatToF16(s));
  return s;
}

// One token of the flattened batch.
struct Row {
  int32_t token = 0;
  int position = 0;
  const int32_t* block_table = nullptr;
};

class DecoderModel : public Model {
 public:
  DecoderModel(ModelConfig config, std::unique_ptr<TensorStore> store,
               DecoderWeights weights, const LoadOptions& options)
      : config_(std::move(config)),
        store_(std::move(store)),
        weights_(std::move(weights)),
        pool_(options.num_threads),
        bf16_activations_(options.bf16_activations),
        rope_(RopeFrequencies(config_, 0)),
        rope_local_(LocalRope(config_)),
        embed_scale_(EmbedScale(config_, weights_.embed.dtype)) {}

  const model::ModelConfig& config() const override { return config_; }
  size_t weight_bytes() const override { return weights_.bytes; }
  size_t kv_bytes_per_token() const override {
    return static_cast<size_t>(config_.num_layers) * 2 * config_.num_kv_heads *
           config_.head_dim * sizeof(float);
  }

  absl::StatusOr<std::unique_ptr<model::KvCache>> AllocateKvCache(
      int num_blocks) const override {
    if (num_blocks <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv cache needs a positive number of blocks, got ", num_blocks));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<CpuKvCache> kv,
                     CpuKvCache::Create(config_.num_layers, num_blocks,
                                        BlockFloats(), false));
    return std::unique_ptr<model::KvCache>(std::move(kv));
  }

  absl::StatusOr<std::unique_ptr<model::KvCache>> ReserveKvCache(
      int capacity_blocks) const override {
    const int capacity =
        capacity_blocks / CpuKvCache::kCommitUnit * CpuKvCache::kCommitUnit;
    if (capacity <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "elastic kv cache needs at least ", CpuKvCache::kCommitUnit,
          " blocks, got ", capacity_blocks));
    }
    ASSIGN_OR_RETURN(
        std::unique_ptr<CpuKvCache> kv,
        CpuKvCache::Create(config_.num_layers, capacity, BlockFloats(), true));
    return std::unique_ptr<model::KvCache>(std::move(kv));
  }

  absl::Status Forward(absl::Span<const SeqChunk> batch, model::KvCache* kv,
                       model::ForwardOutput* out) override;

 private:
  int64_t BlockFloats() const {
    return static_cast<int64_t>(model::kKvBlockSize) * config_.num_kv_heads *
           config_.head_dim;
  }
  absl::Status Validate(absl::Span<const SeqChunk> batch,
                        const CpuKvCache& kv) const;
  // The sparse MoE block of `lw` on x[t, hidden] -> out[t, hidden].
  void MoeFfn(const LayerWeights& lw, const float* x, int64_t t, float* out);
  // Products of different inputs in one step (Gemm's path choice).
  void GroupedGemm(absl::Span<const MatMulGroup> groups);

  model::ModelConfig config_;
  std::unique_ptr<model::TensorStore> store_;
  model::DecoderWeights weights_;
  // Every product x * W^T of the forward pass.
  void Gemm(const float* x, int64_t m, absl::Span<const MatMulTarget> targets) {
    if (bf16_activations_) {
      MatMulManyBf16(x, m, targets, &pool_);
    } else {
      MatMulMany(x, m, targets, &pool_);
    }
  }

  ThreadPool pool_;
  bool bf16_activations_;
  // The length-independent table; length-dependent types build theirs per
  // sequence in Forward.
  model::RopeTable rope_;
  // The sliding layers' own table (Gemma 3's rope_local_base_freq); empty
  // inv_freq when they use rope_.
  model::RopeTable rope_local_;
  // sqrt(hidden_size) in the embedding's dtype (Gemma); 0: no scaling.
  float embed_scale_;
};

absl::Status DecoderModel::Validate(absl::Span<const SeqChunk> batch,
                                    const CpuKvCache& kv) const {
  if (kv.num_layers() != config_.num_layers ||
      kv.block_floats() != BlockFloats()) {
    return absl::InvalidArgumentError(
        "kv cache was not allocated by this model");
  }
  return ValidateBatch(config_, batch, kv.num_blocks());
}

// Router weights of one token from its logits over the experts: the `k`
// chosen experts in ascending id order and their weights. Ties go to the
// lower id. Depends on this token's logits only.
void RouteToken(const float* logits, const model::MoeConfig& m, int* experts,
                float* weights) {
  const int n = m.num_experts, k = m.experts_per_token;
  std::vector<int> order(n);
  for (int e = 0; e < n; ++e) order[e] = e;
  std::partial_sort(
      order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
      });
  std::vector<float> p(k);
  if (m.softmax_after_topk) {
    // Softmax over the k largest logits (order[0] is the largest).
    float sum = 0;
    for (int j = 0; j < k; ++j) {
      p[j] = std::exp(logits[order[j]] - logits[order[0]]);
      sum += p[j];
    }
    for (int j = 0; j < k; ++j) p[j] /= sum;
  } else {
    // Softmax over every expert, then the top k (softmax keeps the order).
    float max = logits[order[0]], sum = 0;
    for (int e = 0; e < n; ++e) sum += std::exp(logits[e] - max);
    float top = 0;
    for (int j = 0; j < k; ++j) {
      p[j] = std::exp(logits[order[j]] - max) / sum;
      top += p[j];
    }
    if (m.norm_topk_prob) {
      for (int j = 0; j < k; ++j) p[j] /= top;
    }
  }
  std::vector<int> by_id(k);
  for (int j = 0; j < k; ++j) by_id[j] = j;
  std::sort(by_id.begin(), by_id.end(),
            [&](int a, int b) { return order[a] < order[b]; });
  for (int j = 0; j < k; ++j) {
    experts[j] = order[by_id[j]];
    weights[j] = p[by_id[j]];
  }
}

void DecoderModel::GroupedGemm(absl::Span<const MatMulGroup> groups) {
  if (bf16_activations_) {
    for (const MatMulGroup& g : groups) {
      if (g.m > 0) MatMulManyBf16(g.x, g.m, {{g.w, g.y}}, &pool_);
    }
  } else {
    MatMulGrouped(groups, &pool_);
  }
}

// Tokens are grouped per expert; all experts' gate/up products run in one
// parallel step and all down products in another, and a row's product never
// depends on the other rows (cpu_gemm.h). Each token then sums its experts'
// outputs in ascending expert id, then adds the shared expert: a fixed
// order, so its result is the same whatever the batch.
void DecoderModel::MoeFfn(const LayerWeights& lw, const float* x, int64_t t,
                          float* out) {
  const model::MoeConfig& m = config_.moe;
  const int n_experts = m.num_experts, k = m.experts_per_token;
  const int64_t hidden = config_.hidden_size;
  const int64_t inter = m.expert_intermediate_size;
  const int64_t shared_inter =
      lw.shared_expert.gate.rows > 0 ? m.shared_expert_intermediate_size : 0;
  // The router always takes the FP32 path, also under the opt-in BF16
  // activations: its top-k is a discrete choice that rounding would flip.
  std::vector<float> logits(t * n_experts);
  MatMulMany(x, t, {{&lw.router, logits.data()}}, &pool_);
  std::vector<int> chosen(t * k);
  std::vector<float> weight(t * k);
  pool_.ParallelRange(t, 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      RouteToken(&logits[r * n_experts], m, &chosen[r * k], &weight[r * k]);
    }
  });
  // Picks (row * k + j) ordered by expert, then row: pos[pick] is its row in
  // the grouped buffers, first[e] where expert e's rows begin.
  const int64_t picks = t * k;
  std::vector<int64_t> first(n_experts + 1, 0), pos(picks);
  for (int64_t i = 0; i < picks; ++i) ++first[chosen[i] + 1];
  for (int e = 0; e < n_experts; ++e) first[e + 1] += first[e];
  {
    std::vector<int64_t> next(first.begin(), first.end() - 1);
    for (int64_t i = 0; i < picks; ++i) pos[i] = next[chosen[i]]++;
  }
  std::vector<float> xs(picks * hidden), gate(picks * inter), up(picks * inter),
      ys(picks * hidden);
  for (int64_t i = 0; i < picks; ++i) {
    std::memcpy(&xs[pos[i] * hidden], x + (i / k) * hidden,
                hidden * sizeof(float));
  }
  std::vector<float> s_gate(t * shared_inter), s_up(t * shared_inter),
      shared(t * (shared_inter > 0 ? hidden : 0)), shared_logit(t);
  std::vector<MatMulGroup> groups;
  for (int e = 0; e < n_experts; ++e) {
    const int64_t n = first[e + 1] - first[e];
    if (n == 0) continue;
    groups.push_back({&xs[first[e] * hidden], n, &lw.experts[e].gate,
                      &gate[first[e] * inter]});
    groups.push_back(
        {&xs[first[e] * hidden], n, &lw.experts[e].up, &up[first[e] * inter]});
  }
  if (shared_inter > 0) {
    groups.push_back({x, t, &lw.shared_expert.gate, s_gate.data()});
    groups.push_back({x, t, &lw.shared_expert.up, s_up.data()});
    groups.push_back({x, t, &lw.shared_expert_gate, shared_logit.data()});
  }
  GroupedGemm(groups);
  pool_.ParallelRange(picks, 1, [&](int64_t b, int64_t e) {
    SiluMul(&gate[b * inter], &up[b * inter], (e - b) * inter);
  });
  if (shared_inter > 0) {
    SiluMul(s_gate.data(), s_up.data(), t * shared_inter);
  }
  groups.clear();
  for (int e = 0; e < n_experts; ++e) {
    const int64_t n = first[e + 1] - first[e];
    if (n == 0) continue;
    groups.push_back({&gate[first[e] * inter], n, &lw.experts[e].down,
                      &ys[first[e] * hidden]});
  }
  if (shared_inter > 0) {
    groups.push_back({s_gate.data(), t, &lw.shared_expert.down, shared.data()});
  }
  GroupedGemm(groups);
  pool_.ParallelRange(t, 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* o = out + r * hidden;
      std::fill(o, o + hidden, 0.0f);
      for (int j = 0; j < k; ++j) {
        const float w = weight[r * k + j];
        const float* y = &ys[pos[r * k + j] * hidden];
        for (int64_t i = 0; i < hidden; ++i) o[i] += w * y[i];
      }
      if (shared_inter > 0) {
        const float g = 1.0f / (1.0f + std::exp(-shared_logit[r]));
        const float* s = &shared[r * hidden];
        for (int64_t i = 0; i < hidden; ++i) o[i] += g * s[i];
      }
    }
  });
}

absl::Status DecoderModel::Forward(absl::Span<const SeqChunk> batch,
                                   model::KvCache* kv_base,
                                   model::ForwardOutput* out) {
  auto* kv = dynamic_cast<CpuKvCache*>(kv_base);
  if (kv == nullptr)
    return absl::InvalidArgumentError("kv cache is not a CPU kv cache");
  RETURN_IF_ERROR(Validate(batch, *kv));
  out->logits.clear();

  const ModelConfig& c = config_;
  const int64_t hidden = c.hidden_size;
  const int hd = c.head_dim;
  const int rot = c.rotary_dim > 0 ? c.rotary_dim : hd;
  const int half = rot / 2;
  const int64_t q_dim = static_cast<int64_t>(c.num_heads) * hd;
  const int64_t kv_dim = static_cast<int64_t>(c.num_kv_heads) * hd;
  const float eps = static_cast<float>(c.rms_norm_eps);

  std::vector<Row> rows;
  // The RoPE table of each row: one per sequence when it depends on length.
  std::vector<RopeTable> seq_rope;
  std::vector<int> row_rope;
  const bool per_seq_rope = RopeDependsOnLength(c);
  std::vector<int64_t> logit_rows;  // flat row indices, batch then row order
  for (const SeqChunk& chunk : batch) {
    if (per_seq_rope) {
      const int len =
          chunk.rope_length > 0
              ? chunk.rope_length
              : chunk.start_pos + static_cast<int>(chunk.tokens.size());
      seq_rope.push_back(RopeFrequencies(c, len));
    }
    for (size_t i = 0; i < chunk.tokens.size(); ++i) {
      row_rope.push_back(per_seq_rope ? static_cast<int>(seq_rope.size()) - 1
                                      : -1);
      if (std::binary_search(chunk.logit_rows.begin(), chunk.logit_rows.end(),
                             static_cast<int>(i))) {
        logit_rows.push_back(static_cast<int64_t>(rows.size()));
      }
      rows.push_back(Row{chunk.tokens[i], chunk.start_pos + static_cast<int>(i),
                         chunk.block_table.data()});
    }
  }
  const int64_t t_rows = static_cast<int64_t>(rows.size());
  if (t_rows == 0) return absl::OkStatus();

  std::vector<float> h(t_rows * hidden), xn(t_rows * hidden);
  std::vector<float> q(t_rows * q_dim), k(t_rows * kv_dim), v(t_rows * kv_dim);
  std::vector<float> att(t_rows * q_dim), proj(t_rows * hidden);
  std::vector<float> gate(t_rows * c.intermediate_size),
      up(t_rows * c.intermediate_size);
  std::vector<float> cos(t_rows * half), sin(t_rows * half);
  std::vector<AttentionRow> att_rows(t_rows);
  // Gemma: rows of the global layers when only some layers slide, and the
  // sliding layers' own RoPE.
  const bool per_layer_window = !c.sliding_layers.empty();
  const bool local_rope = !rope_local_.inv_freq.empty();
  std::vector<AttentionRow> global_rows(per_layer_window ? t_rows : 0);
  std::vector<float> cos_local(local_rope ? t_rows * half : 0),
      sin_local(local_rope ? t_rows * half : 0);
  for (int64_t r = 0; r < t_rows; ++r) {
    ReadRow(weights_.embed, rows[r].token, &h[r * hidden]);
    if (embed_scale_ > 0) {
      for (int64_t i = 0; i < hidden; ++i) h[r * hidden + i] *= embed_scale_;
    }
    if (local_rope) {
      RopeCosSin(rope_local_.inv_freq, rows[r].position, &cos_local[r * half],
                 &sin_local[r * half]);
    }
    if (per_layer_window) {
      global_rows[r] = AttentionRow{rows[r].position, rows[r].block_table, 0};
    }
    const RopeTable& table = row_rope[r] < 0 ? rope_ : seq_rope[row_rope[r]];
    RopeCosSin(table.inv_freq, rows[r].position, &cos[r * half],
               &sin[r * half]);
    if (table.attention_factor != 1.0) {
      const float f = static_cast<float>(table.attention_factor);
      for (int i = 0; i < half; ++i) {
        cos[r * half + i] *= f;
        sin[r * half + i] *= f;
      }
    }
    // A sliding window of W tokens: the W most recent positions, its own
    // included (transformers' mask: key > query - W).
    const int first = c.sliding_window > 0
                          ? std::max(0, rows[r].position - c.sliding_window + 1)
                          : 0;
    att_rows[r] = AttentionRow{rows[r].position, rows[r].block_table, first};
  }
  AttentionShape shape{c.num_heads, c.num_kv_heads, hd};
  if (c.query_pre_attn_scalar > 0) {
    shape.scale = static_cast<float>(std::pow(c.query_pre_attn_scalar, -0.5));
  }
  shape.softcap = static_cast<float>(c.attn_logit_softcapping);
  const int64_t slot_floats = kv_dim;

  for (int layer = 0; layer < c.num_layers; ++layer) {
    const LayerWeights& lw = weights_.layers[layer];
    const bool sliding = model::IsSlidingLayer(c, layer);
    const std::vector<AttentionRow>& layer_rows =
        per_layer_window && !sliding ? global_rows : att_rows;
    const float* layer_cos =
        local_rope && sliding ? cos_local.data() : cos.data();
    const float* layer_sin =
        local_rope && sliding ? sin_local.data() : sin.data();
    pool_.ParallelRange(t_rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        RmsNorm(&h[r * hidden], lw.input_norm.data(), hidden, eps,
                &xn[r * hidden]);
      }
    });
    const MatMulTarget qkv[] = {
        {&lw.q, q.data()}, {&lw.k, k.data()}, {&lw.v, v.data()}};
    Gemm(xn.data(), t_rows, qkv);
    float* k_cache = kv->k(layer);
    float* v_cache = kv->v(layer);
    pool_.ParallelRange(t_rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        float* qr = &q[r * q_dim];
        float* kr = &k[r * kv_dim];
        float* vr = &v[r * kv_dim];
        if (!lw.q_bias.empty()) {
          for (int64_t i = 0; i < q_dim; ++i) qr[i] += lw.q_bias[i];
          for (int64_t i = 0; i < kv_dim; ++i) kr[i] += lw.k_bias[i];
          for (int64_t i = 0; i < kv_dim; ++i) vr[i] += lw.v_bias[i];
        }
        if (!lw.q_norm.empty()) {
          for (int hh = 0; hh < c.num_heads; ++hh) {
            RmsNorm(qr + hh * hd, lw.q_norm.data(), hd, eps, qr + hh * hd);
          }
          for (int hh = 0; hh < c.num_kv_heads; ++hh) {
            RmsNorm(kr + hh * hd, lw.k_norm.data(), hd, eps, kr + hh * hd);
          }
        }
        ApplyRope(qr, c.num_heads, hd, rot, layer_cos + r * half,
                  layer_sin + r * half);
        ApplyRope(kr, c.num_kv_heads, hd, rot, layer_cos + r * half,
                  layer_sin + r * half);
        const int pos = rows[r].position;
        const int64_t slot =
            static_cast<int64_t>(rows[r].block_table[pos / kKvBlockSize]) *
                kKvBlockSize +
            pos % kKvBlockSize;
        std::memcpy(k_cache + slot * slot_floats, kr, kv_dim * sizeof(float));
        std::memcpy(v_cache + slot * slot_floats, vr, kv_dim * sizeof(float));
      }
    });
    Attention(q.data(), layer_rows, k_cache, v_cache, shape, att.data(),
              &pool_);
    Gemm(att.data(), t_rows, {{&lw.o, proj.data()}});
    pool_.ParallelRange(t_rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        if (!lw.attn_out_norm.empty()) {
          RmsNorm(&proj[r * hidden], lw.attn_out_norm.data(), hidden, eps,
                  &proj[r * hidden]);
        }
        for (int64_t i = 0; i < hidden; ++i)
          h[r * hidden + i] += proj[r * hidden + i];
        RmsNorm(&h[r * hidden], lw.post_norm.data(), hidden, eps,
                &xn[r * hidden]);
      }
    });
    if (!lw.experts.empty()) {
      MoeFfn(lw, xn.data(), t_rows, proj.data());
    } else {
      const MatMulTarget gate_up[] = {{&lw.gate, gate.data()},
                                      {&lw.up, up.data()}};
      Gemm(xn.data(), t_rows, gate_up);
      const int64_t inter = c.intermediate_size;
      pool_.ParallelRange(t_rows, 1, [&](int64_t b, int64_t e) {
        if (c.gelu_tanh) {
          GeluTanhMul(&gate[b * inter], &up[b * inter], (e - b) * inter);
        } else {
          SiluMul(&gate[b * inter], &up[b * inter], (e - b) * inter);
        }
      });
      Gemm(gate.data(), t_rows, {{&lw.down, proj.data()}});
    }
    if (!lw.ffn_out_norm.empty()) {
      pool_.ParallelRange(t_rows, 1, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          RmsNorm(&proj[r * hidden], lw.ffn_out_norm.data(), hidden, eps,
                  &proj[r * hidden]);
        }
      });
    }
    // By rows: a decode step (one row) adds inline, without a pool step.
    pool_.ParallelRange(t_rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b * hidden; i < e * hidden; ++i) h[i] += proj[i];
    });
  }

  const int64_t n_logits = static_cast<int64_t>(logit_rows.size());
  if (n_logits == 0) return absl::OkStatus();
  std::vector<float> selected(n_logits * hidden);
  for (int64_t i = 0; i < n_logits; ++i) {
    RmsNorm(&h[logit_rows[i] * hidden], weights_.final_norm.data(), hidden, eps,
            &selected[i * hidden]);
  }
  std::vector<float> logits(n_logits * static_cast<int64_t>(c.vocab_size));
  Gemm(selected.data(), n_logits, {{&weights_.lm_head, logits.data()}});
  if (c.final_logit_softcapping > 0) {
    const float cap = static_cast<float>(c.final_logit_softcapping);
    for (float& x : logits) x = std::tanh(x / cap) * cap;
  }
  out->logits.resize(n_logits);
  for (int64_t i = 0; i < n_logits; ++i) {
    out->logits[i].assign(logits.begin() + i * c.vocab_size,
                          logits.begin() + (i + 1) * c.vocab_size);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<model::Model>> CreateCpuModel(
    model::ModelConfig config, std::unique_ptr<model::TensorStore> store,
    model::DecoderWeights weights, const model::LoadOptions& options) {
  return std::unique_ptr<model::Model>(new DecoderModel(
      std::move(config), std::move(store), std::move(weights), options));
}

[[maybe_unused]] const bool kCpuBackendRegistered =
    model::RegisterCpuBackend(&CreateCpuModel);

}  // namespace evald::runners::native::cpu
