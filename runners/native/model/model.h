// File: runners/native/model/model.h
// -----------------------------------------------------------------------------
// The model seam of the native engine: a decoder-only transformer that runs a
// forward pass over a batch of sequence chunks against a paged KV cache.
//
// The engine (scheduler, block pool, prefix cache) owns the bookkeeping: which
// physical KV block holds which 16 positions of which sequence. The model owns
// the tensors: it writes the K/V of the new tokens into the blocks named by the
// block table and attends over positions [0, start_pos + n).
//
// Determinism contract: the logits of a row depend only on the tokens of its
// own sequence up to that row - never on the other entries of the batch, the
// chunking of the prompt, or whether earlier positions were computed in this
// call or came from the cache. Kernels reduce in a fixed order to make this
// hold bit for bit.
//
// Thread-safety: Forward() calls must not overlap on one Model; the model may
// use several threads internally. Weights are immutable after Load.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_MODEL_H_
#define EVALD_RUNNERS_NATIVE_MODEL_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runners/native/model/model_config.h"

namespace evald::runners::native::model {

inline constexpr int kKvBlockSize = 16;  // tokens per KV block

// One sequence's chunk of new tokens in a forward batch.
struct SeqChunk {
  // Tokens at positions [start_pos, start_pos + tokens.size()).
  absl::Span<const int32_t> tokens;
  int start_pos = 0;
  // Physical KV block ids; block_table[i] holds positions [16 i, 16 i + 16).
  // Must cover every position up to start_pos + tokens.size().
  absl::Span<const int32_t> block_table;
  // Rows of `tokens` (0-based within the chunk) whose logits are wanted, in
  // increasing order.
  std::vector<int> logit_rows;
  // The length by which sequence-length-dependent RoPE (`dynamic`,
  // `longrope`; see rope.h) picks the frequencies of this sequence; the same
  // for every chunk of it. 0: start_pos + tokens.size() of this chunk.
  int rope_length = 0;
};

// Logits for the requested rows of each chunk, in batch order then row order:
// logits[k] is a [vocab_size] vector.
struct ForwardOutput {
  std::vector<std::vector<float>> logits;
};

// A paged KV cache: for each layer, K and V blocks of
// [kKvBlockSize, num_kv_heads, head_dim] floats. Owned by the engine, shaped
// by the model (AllocateKvCache).
//
// A cache from AllocateKvCache is backed by memory in full. One from
// ReserveKvCache is elastic: it has ids for many blocks but memory only for
// those committed, in aligned units of commit_unit() blocks, so an engine
// can grow and shrink its pool while another model on the device takes the
// memory it gives back (runners/native/engine/elastic_kv.h).
class KvCache {
 public:
  virtual ~KvCache() = default;
  // Block ids valid in block tables: [0, num_blocks()).
  virtual int num_blocks() const = 0;
  // Bytes of memory backing the cache now.
  virtual size_t bytes() const = 0;
  // 0 for a cache backed in full; else the alignment and size unit of
  // Commit and Decommit, in blocks.
  virtual int commit_unit() const { return 0; }
  // Backs blocks [first, first + n) with memory. Their contents are
  // undefined until written (the engine writes a position before reading
  // it). REQUIRES: aligned to commit_unit() and not committed.
  virtual absl::Status Commit(int /*first*/, int /*n*/) {
    return absl::OkStatus();
  }
  // Returns the memory of committed blocks [first, first + n).
  virtual void Decommit(int /*first*/, int /*n*/) {}
};

// Where a model's weights live and its forward pass runs.
enum class Device {
  kAuto,  // CUDA when this build has it and a GPU is present, else CPU
  kCpu,
  kCuda,  // an error when the build or the machine has no GPU
};

struct LoadOptions {
  Device device = Device::kAuto;
  int cuda_device = 0;  // ordinal of the GPU to use
  // GPU: one GEMM algorithm per matrix shape whatever the number of rows, so
  // a row's logits never depend on its batch (runners/native/cuda/gemm.h).
  // Off trades that guarantee for faster small batches. The CPU backend is
  // always batch-invariant.
  bool batch_invariant = true;
  // GPU: attention with query rows in tiles that share each K/V load
  // (runners/native/cuda/attention_tiled.cu). Bit-identical to the per-row
  // kernel by construction and much lighter on the cache in prefill; off by
  // default until its conformance tests have run on a GPU.
  bool tiled_attention = false;
  // Worker threads for the CPU backend; 0 = all hardware threads.
  int num_threads = 0;
  // CPU: round GEMM inputs to BF16 and use the AVX512_BF16 dot products for
  // BF16 weights (faster prefill; log-probs move by ~3e-2 on the tiny test
  // models, against ~2e-6 for the FP32 path). Still batch-invariant, but not
  // the numerical reference, so off by default. Ignored where the CPU lacks
  // AVX512_BF16.
  bool bf16_activations = false;
};

class Model {
 public:
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Loads a Hugging Face checkpoint folder (config.json + safetensors). The
  // architecture is picked from config.json `architectures[0]` through the
  // registry; an unknown one is an InvalidArgument naming it and the known
  // ones. Errors name the file at fault.
  static absl::StatusOr<std::unique_ptr<Model>> Load(
      const std::string& dir, const LoadOptions& options);

  virtual const ModelConfig& config() const = 0;
  // Bytes of weights held in memory (mapped or converted; device memory for
  // a GPU model).
  virtual size_t weight_bytes() const = 0;
  // Where the forward pass runs, for logs and fingerprints: "cpu" or e.g.
  // "cuda:0 (NVIDIA H100 80GB HBM3)".
  virtual std::string backend() const { return "cpu"; }
  // Bytes of KV per token (all layers, K and V).
  virtual size_t kv_bytes_per_token() const = 0;

  virtual absl::StatusOr<std::unique_ptr<KvCache>> AllocateKvCache(
      int num_blocks) const = 0;
  // An elastic cache with ids for `capacity_blocks` blocks and no memory
  // committed yet. Backends that cannot commit memory lazily keep this
  // default, and engines then allocate a fixed pool.
  virtual absl::StatusOr<std::unique_ptr<KvCache>> ReserveKvCache(
      int /*capacity_blocks*/) const {
    return absl::UnimplementedError("this backend has no elastic kv cache");
  }

  // Runs the batch. REQUIRES: every chunk's positions < config().max_position.
  virtual absl::Status Forward(absl::Span<const SeqChunk> batch, KvCache* kv,
                               ForwardOutput* out) = 0;

 protected:
  Model() = default;
};

// Checks a batch against the model's config and a KV pool of `num_blocks`
// blocks (positions within the context, block tables long enough and in
// range, token ids within the vocabulary, logit rows increasing); the error
// names the batch entry. Every backend's Forward starts with it.
absl::Status ValidateBatch(const ModelConfig& config,
                           absl::Span<const SeqChunk> batch, int num_blocks);

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_MODEL_H_
