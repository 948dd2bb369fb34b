// File: runners/native/cuda/cuda_model.cc
// -----------------------------------------------------------------------------
// The CUDA implementation of Model for the same pre-norm decoders the CPU
// backend runs (it starts from the DecoderWeights every architecture loads).
//
// Matrices are uploaded once as FP16 (BF16 values convert exactly in the
// range weights live in; FP32 checkpoints round once); the embedding table
// stays in its 16-bit checkpoint type for the gather. AWQ INT4 projections
// stay packed as in the checkpoint and go through the INT4 kernel
// (int4_gemm.h) at every batch size; their embedding and lm_head are FP16.
// q/k/v and gate/up are stored concatenated so each pair is one product.
// The residual stream and every GEMM output are FP32; GEMM inputs are FP16
// (finer than BF16 activations: the log-probs stay within 1e-2 of the FP32
// CPU backend on the test models). The KV cache is FP16, [blocks, 16,
// kv_heads, head_dim] per layer, the CPU cache's layout, fixed or elastic
// (virtual_memory.h). Logits come back to the host as FP32 for the
// requested rows only.
//
// Registers itself as the GPU backend (model/backend.h); Model::Load picks
// it by LoadOptions.device.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "runners/native/cuda/gemm.h"
#include "runners/native/cuda/int4_gemm.h"
#include "runners/native/cuda/kernels.h"
#include "runners/native/cuda/virtual_memory.h"
#include "runners/native/model/backend.h"
#include "runners/native/model/dtype.h"
#include "runners/native/model/rope.h"
#include "runners/native/planner/footprint.h"

namespace evald::runners::native::cuda {

using model::DType;
using model::DTypeName;
using model::FloatToBf16;
using model::FloatToF16;
using model::kKvBlockSize;
using model::KvCache;
using model::LoadOptions;
using model::Model;
using model::ModelConfig;
using model::SeqChunk;
using model::ValidateBatch;
using model::WeightFormat;
using model::WeightMatrix;
namespace {

#define CUDA_RETURN_IF_ERROR(expr, what) \
  RETURN_IF_ERROR(CudaStatus((expr), what))

// A device allocation freed with the owner.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  absl::Status Allocate(size_t bytes, const char* what) {
    cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
    if (bytes == 0) return absl::OkStatus();
    cudaError_t error = cudaMalloc(&ptr_, bytes);
    if (error != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free error state
      return absl::ResourceExhaustedError(absl::StrCat(
          "cuda: cannot allocate ", bytes, " bytes of device memory for ", what,
          ": ", cudaGetErrorString(error)));
    }
    bytes_ = bytes;
    return absl::OkStatus();
  }
  // Grows (never shrinks) to exactly `bytes` when smaller; contents are not
  // kept. The sizes come from planner::GpuStepBufferBytes, which the budget
  // counts, so nothing is added here.
  absl::Status Reserve(size_t bytes, const char* what) {
    return bytes <= bytes_ ? absl::OkStatus() : Allocate(bytes, what);
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// A matrix on the device: dense FP16 (BF16 for the embedding table when the
// checkpoint is BF16), or AWQ INT4 packed as in the checkpoint (then
// `buffer` is empty and the three packed arrays are set).
struct DeviceMatrix {
  std::shared_ptr<DeviceBuffer> buffer;                   // dense [rows, cols]
  std::shared_ptr<DeviceBuffer> qweight, qzeros, scales;  // AWQ
  int64_t rows = 0;
  int64_t cols = 0;
  int group_size = 0;
  bool awq() const { return qweight != nullptr; }
  const void* data() const { return buffer->as<void>(); }
  DeviceAwqMatrix awq_matrix() const {
    return DeviceAwqMatrix{qweight->as<int32_t>(),
                           qzeros->as<int32_t>(),
                           scales->as<uint16_t>(),
                           rows,
                           cols,
                           group_size};
  }
};

struct DeviceLayer {
  DeviceMatrix qkv, o, gate_up, down;
  std::unique_ptr<DeviceBuffer> input_norm, post_norm;
  std::unique_ptr<DeviceBuffer> q_bias, k_bias, v_bias, q_norm,
      k_norm;  // may be empty
};

// K and V per layer, [blocks, 16, kv_heads, head_dim] FP16 each. A fixed
// cache is one allocation per layer; an elastic one (ReserveKvCache) is one
// reserved address range holding layer l's K then V, each `capacity` blocks
// long, with pages mapped per commit unit - the base pointers never move, so
// the kernels index it as they index a fixed cache.
class CudaKvCache : public KvCache {
 public:
  int num_blocks() const override { return num_blocks_; }
  size_t bytes() const override {
    return range_ != nullptr ? range_->mapped_bytes() : bytes_;
  }
  int commit_unit() const override { return unit_; }

  absl::Status Allocate(int num_layers, int num_blocks, int64_t kv_dim) {
    num_blocks_ = num_blocks;
    const size_t per = static_cast<size_t>(num_blocks) * model::kKvBlockSize *
                       kv_dim * sizeof(f16_t);
    for (int l = 0; l < num_layers; ++l) {
      buffers_.push_back(std::make_unique<DeviceBuffer>());
      RETURN_IF_ERROR(buffers_.back()->Allocate(per, "the kv cache"));
      k_.push_back(buffers_.back()->as<f16_t>());
      buffers_.push_back(std::make_unique<DeviceBuffer>());
      RETURN_IF_ERROR(buffers_.back()->Allocate(per, "the kv cache"));
      v_.push_back(buffers_.back()->as<f16_t>());
      bytes_ += 2 * per;
    }
    return absl::OkStatus();
  }

  // Reserves address space for about `capacity` blocks (rounded down to the
  // commit unit: the blocks whose bytes per layer fill whole pages).
  absl::Status Reserve(int device, int num_layers, int capacity,
                       int64_t kv_dim) {
    ASSIGN_OR_RETURN(const size_t granularity,
                     VirtualDeviceRange::Granularity(device));
    block_layer_bytes_ =
        static_cast<size_t>(model::kKvBlockSize) * kv_dim * sizeof(f16_t);
    unit_ = static_cast<int>(granularity /
                             std::gcd(granularity, block_layer_bytes_));
    num_blocks_ = capacity / unit_ * unit_;
    if (num_blocks_ == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("elastic kv cache needs at least ", unit_,
                       " blocks, got ", capacity));
    }
    region_bytes_ = static_cast<size_t>(num_blocks_) * block_layer_bytes_;
    num_layers_ = num_layers;
    ASSIGN_OR_RETURN(range_, VirtualDeviceRange::Reserve(
                                 device, 2 * num_layers * region_bytes_));
    for (int l = 0; l < num_layers; ++l) {
      k_.push_back(reinterpret_cast<f16_t*>(static_cast<char*>(range_->base()) +
                                            (2 * l) * region_bytes_));
      v_.push_back(reinterpret_cast<f16_t*>(static_cast<char*>(range_->base()) +
                                            (2 * l + 1) * region_bytes_));
    }
    return absl::OkStatus();
  }

  absl::Status Commit(int first, int n) override {
    if (range_ == nullptr) return absl::OkStatus();
    if (first % unit_ != 0 || n % unit_ != 0 || first + n > num_blocks_) {
      return absl::InvalidArgumentError(
          absl::StrCat("kv cache: commit of blocks [", first, ", ", first + n,
                       ") is not aligned"));
    }
    const size_t offset = static_cast<size_t>(first) * block_layer_bytes_;
    const size_t len = static_cast<size_t>(n) * block_layer_bytes_;
    for (int r = 0; r < 2 * num_layers_; ++r) {
      absl::Status st = range_->Map(r * region_bytes_ + offset, len);
      if (!st.ok()) {
        for (int u = 0; u < r; ++u) {
          range_->Unmap(u * region_bytes_ + offset, len).IgnoreError();
        }
        return st;
      }
    }
    return absl::OkStatus();
  }
  void Decommit(int first, int n) override {
    if (range_ == nullptr) return;
    const size_t offset = static_cast<size_t>(first) * block_layer_bytes_;
    const size_t len = static_cast<size_t>(n) * block_layer_bytes_;
    for (int r = 0; r < 2 * num_layers_; ++r) {
      // Only the elastic pool's own bookkeeping calls this; a mismatch is a
      // bug there, reported without taking the daemon down.
      if (absl::Status st = range_->Unmap(r * region_bytes_ + offset, len);
          !st.ok()) {
        LOG(ERROR) << "kv cache: decommit of blocks [" << first << ", "
                   << first + n << "): " << st;
      }
    }
  }

  f16_t* k(int layer) const { return k_[layer]; }
  f16_t* v(int layer) const { return v_[layer]; }
  int num_layers() const { return static_cast<int>(k_.size()); }

 private:
  int num_blocks_ = 0;
  size_t bytes_ = 0;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;  // fixed cache
  std::unique_ptr<VirtualDeviceRange> range_;           // elastic cache
  int unit_ = 0;
  int num_layers_ = 0;
  size_t block_layer_bytes_ = 0;
  size_t region_bytes_ = 0;
  std::vector<f16_t*> k_, v_;
};

absl::Status Upload(const void* src, size_t bytes, DeviceBuffer* dst,
                    size_t* total_bytes) {
  RETURN_IF_ERROR(dst->Allocate(bytes, "weights"));
  *total_bytes += bytes;
  CUDA_RETURN_IF_ERROR(
      cudaMemcpy(dst->as<void>(), src, bytes, cudaMemcpyHostToDevice),
      "upload weights");
  return absl::OkStatus();
}

// AWQ matrices stacked by output rows (q/k/v, gate/up): the packed arrays are
// [in, out / 8] (qweight), [groups, out / 8] (qzeros) and [groups, out]
// (scales), so stacking outputs concatenates each of their rows.
absl::StatusOr<DeviceMatrix> UploadStackedAwq(
    std::initializer_list<const WeightMatrix*> parts, size_t* total_bytes) {
  DeviceMatrix m;
  const WeightMatrix& first = **parts.begin();
  m.cols = first.cols;
  m.group_size = first.group_size;
  for (const WeightMatrix* p : parts) {
    if (p->format != WeightFormat::kAwqInt4 || p->cols != m.cols ||
        p->group_size != m.group_size || p->rows % 8 != 0) {
      return absl::UnimplementedError(
          "cuda backend: a fused projection mixes AWQ INT4 and dense matrices, "
          "or AWQ group sizes");
    }
    m.rows += p->rows;
  }
  const int64_t groups = m.cols / m.group_size;
  auto concat = [&](auto member, int64_t height, auto width_of, size_t elem,
                    std::shared_ptr<DeviceBuffer>* out) -> absl::Status {
    int64_t total_width = 0;
    for (const WeightMatrix* p : parts) total_width += width_of(*p);
    std::vector<char> host(static_cast<size_t>(height) * total_width * elem);
    int64_t col = 0;
    for (const WeightMatrix* p : parts) {
      const int64_t w = width_of(*p);
      const char* src = reinterpret_cast<const char*>(p->*member);
      for (int64_t r = 0; r < height; ++r) {
        std::memcpy(host.data() + (r * total_width + col) * elem,
                    src + r * w * elem, w * elem);
      }
      col += w;
    }
    *out = std::make_shared<DeviceBuffer>();
    return Upload(host.data(), host.size(), out->get(), total_bytes);
  };
  auto words = [](const WeightMatrix& p) { return p.rows / 8; };
  auto outs = [](const WeightMatrix& p) { return p.rows; };
  RETURN_IF_ERROR(concat(&WeightMatrix::qweight, m.cols, words, sizeof(int32_t),
                         &m.qweight));
  RETURN_IF_ERROR(
      concat(&WeightMatrix::qzeros, groups, words, sizeof(int32_t), &m.qzeros));
  RETURN_IF_ERROR(
      concat(&WeightMatrix::scales, groups, outs, sizeof(uint16_t), &m.scales));
  return m;
}

// Uploads matrices stacked by rows (same cols) as one device matrix: FP16
// when `to_f16`, else the 16-bit type of the checkpoint (the embedding
// table, read by the gather; FP32 tables become BF16). AWQ parts go to
// UploadStackedAwq.
absl::StatusOr<DeviceMatrix> UploadStacked(
    std::initializer_list<const WeightMatrix*> parts, bool to_f16,
    size_t* total_bytes) {
  if ((*parts.begin())->format == WeightFormat::kAwqInt4) {
    return UploadStackedAwq(parts, total_bytes);
  }
  DeviceMatrix m;
  m.cols = (*parts.begin())->cols;
  for (const WeightMatrix* p : parts) m.rows += p->rows;
  m.buffer = std::make_shared<DeviceBuffer>();
  const size_t bytes = static_cast<size_t>(m.rows) * m.cols * sizeof(uint16_t);
  RETURN_IF_ERROR(m.buffer->Allocate(bytes, "weights"));
  *total_bytes += bytes;
  size_t offset = 0;
  DeviceBuffer staging;
  std::vector<uint16_t> host;
  for (const WeightMatrix* p : parts) {
    if (p->cols != m.cols)
      return absl::InternalError(
          "cuda backend: stacked matrices differ in width");
    if (p->format != WeightFormat::kDense) {
      return absl::UnimplementedError(
          "cuda backend: a fused projection mixes AWQ INT4 and dense matrices");
    }
    const size_t count = static_cast<size_t>(p->rows) * p->cols;
    char* dst = m.buffer->as<char>() + offset;
    offset += count * sizeof(uint16_t);
    if (p->dtype == DType::kF16) {
      // FP16 is the GEMM type, and the gather reads FP16 tables as they are.
      CUDA_RETURN_IF_ERROR(
          cudaMemcpy(dst, p->data, count * 2, cudaMemcpyHostToDevice),
          "upload weights");
      continue;
    }
    if (p->dtype == DType::kBF16) {
      if (!to_f16) {
        CUDA_RETURN_IF_ERROR(
            cudaMemcpy(dst, p->data, count * 2, cudaMemcpyHostToDevice),
            "upload weights");
        continue;
      }
      // BF16 -> FP16 on the device, through a staging buffer of fixed size
      // (counted in the planner's workspace), a piece at a time.
      const size_t piece = planner::kWeightStagingBytes / sizeof(bf16_t);
      RETURN_IF_ERROR(staging.Reserve(std::min(count, piece) * sizeof(bf16_t),
                                      "weight staging"));
      const auto* src = static_cast<const bf16_t*>(p->data);
      for (size_t done = 0; done < count; done += piece) {
        const size_t n = std::min(piece, count - done);
        CUDA_RETURN_IF_ERROR(
            cudaMemcpy(staging.as<void>(), src + done, n * sizeof(bf16_t),
                       cudaMemcpyHostToDevice),
            "upload weights");
        Bf16ToF16(staging.as<bf16_t>(), static_cast<int64_t>(n),
                  reinterpret_cast<f16_t*>(dst) + done, nullptr);
        // The next piece overwrites the staging buffer.
        CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "convert weights");
      }
      continue;
    }
    if (p->dtype != DType::kF32) {
      return absl::UnimplementedError(
          absl::StrCat("cuda backend: weight dtype ", DTypeName(p->dtype),
                       " is not supported"));
    }
    const float* src = static_cast<const float*>(p->data);
    host.resize(count);
    for (size_t i = 0; i < count; ++i)
      host[i] = to_f16 ? FloatToF16(src[i]) : FloatToBf16(src[i]);
    CUDA_RETURN_IF_ERROR(
        cudaMemcpy(dst, host.data(), count * 2, cudaMemcpyHostToDevice),
        "upload weights");
  }
  return m;
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> UploadVector(
    const std::vector<float>& v, size_t* total_bytes) {
  auto buffer = std::make_unique<DeviceBuffer>();
  if (v.empty()) return buffer;
  RETURN_IF_ERROR(buffer->Allocate(v.size() * sizeof(float), "weights"));
  *total_bytes += v.size() * sizeof(float);
  CUDA_RETURN_IF_ERROR(
      cudaMemcpy(buffer->as<void>(), v.data(), v.size() * sizeof(float),
                 cudaMemcpyHostToDevice),
      "upload vector");
  return buffer;
}

absl::Status DeviceAvailable(int device) {
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return absl::UnavailableError(
        absl::StrCat("no usable GPU: ", cudaGetErrorString(error)));
  }
  if (device < 0 || device >= count) {
    return absl::UnavailableError(
        absl::StrCat("no GPU with ordinal ", device, " (", count, " present)"));
  }
  return absl::OkStatus();
}

// Whether QkvPost's shared memory (q, k and v of a row) fits the device.
absl::Status CheckQkvPostFits(const ModelConfig& c, int device) {
  int optin = 0;
  CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                             device),
      "shared memory limit");
  const QkvShape shape{c.num_heads, c.num_kv_heads, c.head_dim, 0.0f};
  if (!QkvPostFits(shape, optin)) {
    return absl::UnimplementedError(
        absl::StrCat("cuda backend: q/k/v of one row (", c.num_heads, " + 2 x ",
                     c.num_kv_heads, " heads x ", c.head_dim, ") need ",
                     QkvPostSharedBytes(shape), " bytes of shared memory; GPU ",
                     device, " allows ", optin));
  }
  return absl::OkStatus();
}

planner::ModelShape ShapeOf(const ModelConfig& c) {
  return planner::ModelShape{.hidden = c.hidden_size,
                             .intermediate = c.intermediate_size,
                             .num_heads = c.num_heads,
                             .num_kv_heads = c.num_kv_heads,
                             .head_dim = c.head_dim,
                             .vocab = c.vocab_size,
                             .awq = c.quantization.awq};
}

class CudaDecoderModel : public Model {
 public:
  static absl::StatusOr<std::unique_ptr<model::Model>> Create(
      model::ModelConfig config, std::unique_ptr<model::TensorStore> store,
      model::DecoderWeights weights, const model::LoadOptions& options) {
    RETURN_IF_ERROR(DeviceAvailable(options.cuda_device));
    if (config.head_dim > 256 || config.head_dim % 2 != 0) {
      return absl::UnimplementedError(
          absl::StrCat("cuda backend: head_dim ", config.head_dim,
                       " is not supported (even, at most 256)"));
    }
    RETURN_IF_ERROR(model::CheckRopeOnCuda(config));
    RETURN_IF_ERROR(CheckQkvPostFits(config, options.cuda_device));
    if (options.tiled_attention &&
        !TiledAttentionFits(config.head_dim, options.cuda_device)) {
      return absl::UnimplementedError(
          absl::StrCat("cuda backend: tiled attention does not fit this GPU's "
                       "shared memory at head_dim ",
                       config.head_dim));
    }
    std::unique_ptr<CudaDecoderModel> model(
        new CudaDecoderModel(std::move(config), options));
    RETURN_IF_ERROR(model->Upload(weights));
    // The mmap is no longer needed: everything lives on the device.
    store.reset();
    return std::unique_ptr<model::Model>(std::move(model));
  }

  ~CudaDecoderModel() override {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  const model::ModelConfig& config() const override { return config_; }
  size_t weight_bytes() const override { return weight_bytes_; }
  std::string backend() const override { return backend_; }
  size_t kv_bytes_per_token() const override {
    return static_cast<size_t>(config_.num_layers) * 2 * KvDim() *
           sizeof(f16_t);
  }

  absl::StatusOr<std::unique_ptr<model::KvCache>> AllocateKvCache(
      int num_blocks) const override {
    if (num_blocks <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv cache needs a positive number of blocks, got ", num_blocks));
    }
    CUDA_RETURN_IF_ERROR(cudaSetDevice(device_), "set device");
    auto kv = std::make_unique<CudaKvCache>();
    RETURN_IF_ERROR(kv->Allocate(config_.num_layers, num_blocks, KvDim()));
    return std::unique_ptr<model::KvCache>(std::move(kv));
  }

  absl::StatusOr<std::unique_ptr<model::KvCache>> ReserveKvCache(
      int capacity_blocks) const override {
    CUDA_RETURN_IF_ERROR(cudaSetDevice(device_), "set device");
    auto kv = std::make_unique<CudaKvCache>();
    RETURN_IF_ERROR(
        kv->Reserve(device_, config_.num_layers, capacity_blocks, KvDim()));
    return std::unique_ptr<model::KvCache>(std::move(kv));
  }

  absl::Status Forward(absl::Span<const SeqChunk> batch,
                       model::KvCache* kv_base,
                       model::ForwardOutput* out) override;

 private:
  CudaDecoderModel(ModelConfig config, const LoadOptions& options)
      : config_(std::move(config)),
        device_(options.cuda_device),
        batch_invariant_(options.batch_invariant),
        tiled_attention_(options.tiled_attention) {}

  int64_t KvDim() const {
    return static_cast<int64_t>(config_.num_kv_heads) * config_.head_dim;
  }
  int64_t QDim() const {
    return static_cast<int64_t>(config_.num_heads) * config_.head_dim;
  }

  absl::Status Upload(const model::DecoderWeights& w);
  // y[t, w.rows] (+)= x[t, w.cols] * w^T through cuBLASLt (dense) or the
  // INT4 kernel (AWQ; batch-invariant at every t).
  absl::Status Linear(const DeviceMatrix& w, const f16_t* x, int64_t t,
                      float* y, bool accumulate) {
    if (w.awq()) {
      return CudaStatus(AwqMatMul(w.awq_matrix(), x, t, y, accumulate,
                                  awq_workspace_.as<float>(),
                                  awq_workspace_.bytes(), stream_),
                        "int4 matmul");
    }
    return gemm_->Run(w.data(), w.rows, w.cols, x, t, y, accumulate, stream_);
  }

  model::ModelConfig config_;
  int device_;
  bool batch_invariant_;
  bool tiled_attention_;
  std::string backend_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  size_t weight_bytes_ = 0;
  DeviceMatrix embed_, lm_head_;
  DeviceBuffer awq_workspace_;  // split-K partials of the INT4 products
  bool embed_f16_ = false;  // the table is FP16 (AWQ checkpoints), else BF16
  std::unique_ptr<DeviceBuffer> final_norm_;
  std::vector<DeviceLayer> layers_;
  DeviceBuffer inv_freq_;
  // Per-step buffers, grown on demand.
  DeviceBuffer meta_, h_, xn_, qkv_, q_, att_, gate_up_, act_, logits_;
  std::vector<float> host_logits_;
};

absl::Status CudaDecoderModel::Upload(const model::DecoderWeights& w) {
  CUDA_RETURN_IF_ERROR(cudaSetDevice(device_), "set device");
  cudaDeviceProp prop{};
  CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device_),
                       "device properties");
  backend_ = absl::StrCat("cuda:", device_, " (", prop.name, ")");
  CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream");
  ASSIGN_OR_RETURN(gemm_, Gemm::Create(batch_invariant_));
  ASSIGN_OR_RETURN(embed_,
                   UploadStacked({&w.embed}, /*to_f16=*/false, &weight_bytes_));
  embed_f16_ = w.embed.dtype == model::DType::kF16;
  // A tied lm_head is uploaded again, as FP16 for the GEMM.
  ASSIGN_OR_RETURN(
      lm_head_, UploadStacked({&w.lm_head}, /*to_f16=*/true, &weight_bytes_));
  ASSIGN_OR_RETURN(final_norm_, UploadVector(w.final_norm, &weight_bytes_));
  for (const model::LayerWeights& lw : w.layers) {
    DeviceLayer d;
    ASSIGN_OR_RETURN(
        d.qkv, UploadStacked({&lw.q, &lw.k, &lw.v}, true, &weight_bytes_));
    ASSIGN_OR_RETURN(d.o, UploadStacked({&lw.o}, true, &weight_bytes_));
    ASSIGN_OR_RETURN(d.gate_up,
                     UploadStacked({&lw.gate, &lw.up}, true, &weight_bytes_));
    ASSIGN_OR_RETURN(d.down, UploadStacked({&lw.down}, true, &weight_bytes_));
    ASSIGN_OR_RETURN(d.input_norm, UploadVector(lw.input_norm, &weight_bytes_));
    ASSIGN_OR_RETURN(d.post_norm, UploadVector(lw.post_norm, &weight_bytes_));
    ASSIGN_OR_RETURN(d.q_bias, UploadVector(lw.q_bias, &weight_bytes_));
    ASSIGN_OR_RETURN(d.k_bias, UploadVector(lw.k_bias, &weight_bytes_));
    ASSIGN_OR_RETURN(d.v_bias, UploadVector(lw.v_bias, &weight_bytes_));
    ASSIGN_OR_RETURN(d.q_norm, UploadVector(lw.q_norm, &weight_bytes_));
    ASSIGN_OR_RETURN(d.k_norm, UploadVector(lw.k_norm, &weight_bytes_));
    layers_.push_back(std::move(d));
  }
  size_t workspace = 0;
  for (const DeviceLayer& d : layers_) {
    for (const DeviceMatrix* m : {&d.qkv, &d.o, &d.gate_up, &d.down}) {
      if (m->awq())
        workspace = std::max(workspace, AwqWorkspaceBytes(m->awq_matrix()));
    }
  }
  if (workspace > static_cast<size_t>(planner::kInt4WorkspaceBytes)) {
    return absl::UnimplementedError(absl::StrCat(
        "cuda backend: the INT4 products need ", workspace,
        " bytes of workspace, more than the ", planner::kInt4WorkspaceBytes,
        " the memory planner counts"));
  }
  RETURN_IF_ERROR(awq_workspace_.Allocate(workspace, "int4 workspace"));
  const std::vector<double> inv_freq = model::RopeInverseFrequencies(config_);
  RETURN_IF_ERROR(
      inv_freq_.Allocate(inv_freq.size() * sizeof(double), "rope frequencies"));
  CUDA_RETURN_IF_ERROR(
      cudaMemcpy(inv_freq_.as<void>(), inv_freq.data(),
                 inv_freq.size() * sizeof(double), cudaMemcpyHostToDevice),
      "upload rope frequencies");
  weight_bytes_ += inv_freq.size() * sizeof(double);
  // Copies from pageable memory may still be in flight when cudaMemcpy
  // returns, and the conversions ran on the legacy default stream, which the
  // non-blocking stream of Forward does not wait for.
  CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "finish weight upload");
  return absl::OkStatus();
}

absl::Status CudaDecoderModel::Forward(absl::Span<const SeqChunk> batch,
                                       model::KvCache* kv_base,
                                       model::ForwardOutput* out) {
  auto* kv = dynamic_cast<CudaKvCache*>(kv_base);
  if (kv == nullptr || kv->num_layers() != config_.num_layers) {
    return absl::InvalidArgumentError(
        "kv cache was not allocated by this cuda model");
  }
  RETURN_IF_ERROR(ValidateBatch(config_, batch, kv->num_blocks()));
  // The attention kernels have no window: refuse what it would change.
  for (size_t i = 0; i < batch.size(); ++i) {
    const int64_t end =
        batch[i].start_pos + static_cast<int64_t>(batch[i].tokens.size());
    if (config_.sliding_window > 0 && end > config_.sliding_window) {
      return absl::UnimplementedError(absl::StrCat(
          "batch entry ", i, ": positions up to ", end,
          " exceed the model's sliding_window of ", config_.sliding_window,
          " tokens (the cuda backend has no windowed attention; use the cpu "
          "device)"));
    }
  }
  out->logits.clear();
  CUDA_RETURN_IF_ERROR(cudaSetDevice(device_), "set device");

  // Host-side metadata: one RowInfo per token, the block tables, the rows
  // whose logits are wanted.
  std::vector<RowInfo> rows;
  std::vector<int32_t> tables;
  std::vector<int32_t> gather;
  for (const SeqChunk& chunk : batch) {
    const int32_t offset = static_cast<int32_t>(tables.size());
    const int end = chunk.start_pos + static_cast<int>(chunk.tokens.size());
    const int blocks = (end + kKvBlockSize - 1) / kKvBlockSize;
    tables.insert(tables.end(), chunk.block_table.begin(),
                  chunk.block_table.begin() + blocks);
    size_t next_logit = 0;
    for (size_t i = 0; i < chunk.tokens.size(); ++i) {
      const int pos = chunk.start_pos + static_cast<int>(i);
      if (next_logit < chunk.logit_rows.size() &&
          chunk.logit_rows[next_logit] == static_cast<int>(i)) {
        gather.push_back(static_cast<int32_t>(rows.size()));
        ++next_logit;
      }
      rows.push_back(
          RowInfo{chunk.tokens[i], pos, offset,
                  chunk.block_table[pos / kKvBlockSize] * kKvBlockSize +
                      pos % kKvBlockSize});
    }
  }
  const int t = static_cast<int>(rows.size());
  if (t == 0) return absl::OkStatus();
  // Attention tiles: runs of consecutive rows of one chunk.
  std::vector<RowTile> tiles;
  if (tiled_attention_) {
    int32_t first = 0;
    for (const SeqChunk& chunk : batch) {
      const int32_t n = static_cast<int32_t>(chunk.tokens.size());
      for (int32_t i = 0; i < n; i += kAttentionTileRows) {
        tiles.push_back(
            RowTile{first + i, std::min<int32_t>(kAttentionTileRows, n - i)});
      }
      first += n;
    }
  }
  const int n_logits = static_cast<int>(gather.size());

  const ModelConfig& c = config_;
  const int64_t hidden = c.hidden_size;
  const int64_t inter = c.intermediate_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const QkvShape shape{c.num_heads, c.num_kv_heads, c.head_dim, eps};

  const size_t rows_bytes = rows.size() * sizeof(RowInfo);
  const size_t tables_bytes = tables.size() * sizeof(int32_t);
  const size_t gather_bytes = gather.size() * sizeof(int32_t);
  const size_t tiles_bytes = tiles.size() * sizeof(RowTile);
  std::vector<char> meta(rows_bytes + tables_bytes + gather_bytes +
                         tiles_bytes);
  std::memcpy(meta.data(), rows.data(), rows_bytes);
  std::memcpy(meta.data() + rows_bytes, tables.data(), tables_bytes);
  std::memcpy(meta.data() + rows_bytes + tables_bytes, gather.data(),
              gather_bytes);
  std::memcpy(meta.data() + rows_bytes + tables_bytes + gather_bytes,
              tiles.data(), tiles_bytes);
  // Every buffer is sized by the rule the memory planner counts.
  const planner::GpuStepBuffers sizes =
      planner::GpuStepBufferBytes(ShapeOf(c), t);
  RETURN_IF_ERROR(meta_.Reserve(std::max<size_t>(meta.size(), sizes.metadata),
                                "step metadata"));
  RETURN_IF_ERROR(h_.Reserve(sizes.residual, "activations"));
  RETURN_IF_ERROR(xn_.Reserve(sizes.normed, "activations"));
  RETURN_IF_ERROR(qkv_.Reserve(sizes.qkv, "activations"));
  RETURN_IF_ERROR(q_.Reserve(sizes.q, "activations"));
  RETURN_IF_ERROR(att_.Reserve(sizes.attention, "activations"));
  RETURN_IF_ERROR(gate_up_.Reserve(sizes.gate_up, "activations"));
  RETURN_IF_ERROR(act_.Reserve(sizes.act, "activations"));
  RETURN_IF_ERROR(logits_.Reserve(sizes.logits, "logits"));
  CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(meta_.as<void>(), meta.data(), meta.size(),
                      cudaMemcpyHostToDevice, stream_),
      "upload step metadata");
  const RowInfo* d_rows = meta_.as<RowInfo>();
  const int32_t* d_tables =
      reinterpret_cast<const int32_t*>(meta_.as<char>() + rows_bytes);
  const int32_t* d_gather = reinterpret_cast<const int32_t*>(
      meta_.as<char>() + rows_bytes + tables_bytes);
  const RowTile* d_tiles = reinterpret_cast<const RowTile*>(
      meta_.as<char>() + rows_bytes + tables_bytes + gather_bytes);

  float* h = h_.as<float>();
  f16_t* xn = xn_.as<f16_t>();
  EmbedGather(embed_.buffer->as<bf16_t>(), embed_f16_, d_rows, t,
              static_cast<int>(hidden), h, stream_);
  for (int layer = 0; layer < c.num_layers; ++layer) {
    const DeviceLayer& lw = layers_[layer];
    RmsNormToF16(h, nullptr, lw.input_norm->as<float>(), t,
                 static_cast<int>(hidden), eps, xn, stream_);
    RETURN_IF_ERROR(
        Linear(lw.qkv, xn, t, qkv_.as<float>(), /*accumulate=*/false));
    CUDA_RETURN_IF_ERROR(
        QkvPost(qkv_.as<float>(), d_rows, t, shape, lw.q_bias->as<float>(),
                lw.k_bias->as<float>(), lw.v_bias->as<float>(),
                lw.q_norm->as<float>(), lw.k_norm->as<float>(),
                inv_freq_.as<double>(), q_.as<float>(), kv->k(layer),
                kv->v(layer), stream_),
        "qkv post");
    if (tiled_attention_) {
      CUDA_RETURN_IF_ERROR(
          PagedAttentionTiled(q_.as<float>(), d_rows, d_tiles,
                              static_cast<int>(tiles.size()), d_tables, shape,
                              kv->k(layer), kv->v(layer), att_.as<f16_t>(),
                              stream_),
          "tiled attention");
    } else {
      PagedAttention(q_.as<float>(), d_rows, d_tables, t, shape, kv->k(layer),
                     kv->v(layer), att_.as<f16_t>(), stream_);
    }
    // h += att * Wo^T, in the GEMM's epilogue.
    RETURN_IF_ERROR(Linear(lw.o, att_.as<f16_t>(), t, h, /*accumulate=*/true));
    RmsNormToF16(h, nullptr, lw.post_norm->as<float>(), t,
                 static_cast<int>(hidden), eps, xn, stream_);
    RETURN_IF_ERROR(
        Linear(lw.gate_up, xn, t, gate_up_.as<float>(), /*accumulate=*/false));
    SiluMulToF16(gate_up_.as<float>(), t, static_cast<int>(inter),
                 act_.as<f16_t>(), stream_);
    RETURN_IF_ERROR(
        Linear(lw.down, act_.as<f16_t>(), t, h, /*accumulate=*/true));
  }
  CUDA_RETURN_IF_ERROR(cudaGetLastError(), "forward kernels");
  if (n_logits == 0) {
    return CudaStatus(cudaStreamSynchronize(stream_), "forward");
  }
  // The scored rows go through the lm_head kLogitChunkRows at a time into
  // one chunk-sized buffer (the size the planner counts). With batch-
  // invariant GEMMs (the default) a row's product does not depend on the
  // rows beside it, so chunking changes no bits.
  const int64_t vocab = c.vocab_size;
  host_logits_.resize(static_cast<size_t>(n_logits) * vocab);
  for (int first = 0; first < n_logits;
       first += static_cast<int>(planner::kLogitChunkRows)) {
    const int n = std::min<int>(n_logits - first,
                                static_cast<int>(planner::kLogitChunkRows));
    RmsNormToF16(h, d_gather + first, final_norm_->as<float>(), n,
                 static_cast<int>(hidden), eps, xn, stream_);
    RETURN_IF_ERROR(Linear(lm_head_, xn, n, logits_.as<float>(),
                           /*accumulate=*/false));
    // Stream order keeps the next chunk's product behind this copy.
    CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(
            host_logits_.data() + static_cast<size_t>(first) * vocab,
            logits_.as<void>(), static_cast<size_t>(n) * vocab * sizeof(float),
            cudaMemcpyDeviceToHost, stream_),
        "download logits");
  }
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "forward");
  out->logits.resize(n_logits);
  for (int i = 0; i < n_logits; ++i) {
    out->logits[i].assign(host_logits_.begin() + i * vocab,
                          host_logits_.begin() + (i + 1) * vocab);
  }
  return absl::OkStatus();
}

[[maybe_unused]] const bool kRegistered = model::RegisterGpuBackend(
    model::GpuBackend{.name = "cuda",
                      .available = &DeviceAvailable,
                      .create = &CudaDecoderModel::Create});

}  // namespace
}  // namespace evald::runners::native::cuda
