#include "runners/native/model/model.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/backend.h"
#include "runners/native/model/config_parser.h"
#include "runners/native/model/rope.h"
#include "runners/native/model/safetensors.h"

namespace evald::runners::native::model {
namespace {

const GpuBackend*& GpuBackendSlot() {
  static const GpuBackend* backend = nullptr;
  return backend;
}

CpuModelFactory& CpuBackendSlot() {
  static CpuModelFactory create = nullptr;
  return create;
}

}  // namespace

absl::Status ValidateBatch(const ModelConfig& config,
                           absl::Span<const SeqChunk> batch, int num_blocks) {
  for (size_t c = 0; c < batch.size(); ++c) {
    const SeqChunk& chunk = batch[c];
    const int64_t n = static_cast<int64_t>(chunk.tokens.size());
    if (chunk.start_pos < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch entry ", c, ": negative start_pos ", chunk.start_pos));
    }
    const int64_t end = chunk.start_pos + n;
    if (end > config.max_position_embeddings) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch entry ", c, ": positions up to ", end,
                       " exceed the model's context of ",
                       config.max_position_embeddings, " tokens"));
    }
    const int64_t blocks_needed = (end + kKvBlockSize - 1) / kKvBlockSize;
    if (static_cast<int64_t>(chunk.block_table.size()) < blocks_needed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch entry ", c, ": block table has ", chunk.block_table.size(),
          " blocks, positions up to ", end, " need ", blocks_needed));
    }
    for (int64_t b = 0; b < blocks_needed; ++b) {
      if (chunk.block_table[b] < 0 || chunk.block_table[b] >= num_blocks) {
        return absl::InvalidArgumentError(
            absl::StrCat("batch entry ", c, ": block id ", chunk.block_table[b],
                         " out of range [0, ", num_blocks, ")"));
      }
    }
    for (int32_t t : chunk.tokens) {
      if (t < 0 || t >= config.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("batch entry ", c, ": token id ", t,
                         " out of range [0, ", config.vocab_size, ")"));
      }
    }
    int prev = -1;
    for (int r : chunk.logit_rows) {
      if (r <= prev || r >= n) {
        return absl::InvalidArgumentError(
            absl::StrCat("batch entry ", c, ": logit row ", r,
                         " is not increasing within [0, ", n, ")"));
      }
      prev = r;
    }
  }
  return absl::OkStatus();
}

bool RegisterGpuBackend(const GpuBackend& backend) {
  GpuBackendSlot() = new GpuBackend(backend);
  return true;
}

const GpuBackend* FindGpuBackend() { return GpuBackendSlot(); }

bool RegisterCpuBackend(CpuModelFactory create) {
  CpuBackendSlot() = create;
  return true;
}

CpuModelFactory FindCpuBackend() { return CpuBackendSlot(); }

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& dir,
                                                   const LoadOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  const Architecture* arch = FindArchitecture(config.architecture);
  if (arch == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, "/config.json: unknown architecture '", config.architecture,
        "' (known: ", absl::StrJoin(RegisteredArchitectures(), ", "), ")"));
  }
  if (absl::Status s = arch->FinalizeConfig(&config); !s.ok()) {
    // Messages name the key; say which file.
    return absl::Status(s.code(),
                        absl::StrCat(dir, "/config.json: ", s.message()));
  }
  // Pick the backend before reading weights, so a refused kCuda costs nothing.
  const GpuBackend* gpu = FindGpuBackend();
  bool use_gpu = false;
  if (options.device == Device::kCuda) {
    if (gpu == nullptr) {
      return absl::FailedPreconditionError(
          "--device cuda: this build of evald has no CUDA backend (built "
          "without nvcc)");
    }
    absl::Status available = gpu->available(options.cuda_device);
    if (!available.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("--device cuda: ", available.message()));
    }
    if (absl::Status rope = CheckRopeOnCuda(config); !rope.ok()) {
      return absl::Status(rope.code(),
                          absl::StrCat("--device cuda: ", rope.message()));
    }
    use_gpu = true;
  } else if (options.device == Device::kAuto && gpu != nullptr) {
    // RoPE the GPU kernels cannot compute keeps the model on the CPU.
    use_gpu = gpu->available(options.cuda_device).ok() &&
              CheckRopeOnCuda(config).ok();
  }
  // The CUDA backend has no mixture-of-experts op yet: such models are
  // refused on kCuda and computed by the CPU backend under kAuto.
  if (config.moe.num_experts > 0 && use_gpu) {
    if (options.device == Device::kCuda) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--device cuda: ", config.architecture,
          " needs the mixture-of-experts op (router top-k, per-expert "
          "FFNs), which the CUDA backend does not compute; use --device cpu"));
    }
    use_gpu = false;
  }
  // Nor Gemma's ops (GeGLU, the norms after attention and the MLP, logit
  // soft-capping, per-layer sliding windows and RoPE bases): the same rule.
  if (config.scale_embeddings && use_gpu) {
    if (options.device == Device::kCuda) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--device cuda: ", config.architecture,
          " needs the Gemma ops (GeGLU, post-attention and post-MLP norms, "
          "logit soft-capping, per-layer sliding windows), which the CUDA "
          "backend does not compute; use --device cpu"));
    }
    use_gpu = false;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<TensorStore> store, TensorStore::Open(dir));
  WeightLoader loader(store.get());
  absl::StatusOr<DecoderWeights> weights = arch->LoadWeights(config, &loader);
  if (!weights.ok()) {
    return absl::Status(weights.status().code(),
                        absl::StrCat(dir, ": ", weights.status().message()));
  }
  if (use_gpu) {
    return gpu->create(std::move(config), std::move(store), *std::move(weights),
                       options);
  }
  const CpuModelFactory cpu = FindCpuBackend();
  if (cpu == nullptr) {
    return absl::InternalError(
        "this binary links no CPU backend (link evald_model, not its core)");
  }
  return cpu(std::move(config), std::move(store), *std::move(weights), options);
}

}  // namespace evald::runners::native::model
