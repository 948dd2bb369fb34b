// File: daemon/planner.h
// -----------------------------------------------------------------------------
// The memory planner: whether a suite's resident models (candidate and judge)
// fit a memory budget, computed from the checkpoints' config.json and
// safetensors headers without loading any weights; and whether those
// checkpoints can load at all (CheckModels), judged by the same reads, so
// `evalctl plan` and submit refuse the same broken checkpoints.
//
// Per model:
//   weights    exact: the sum of the tensor sizes in the safetensors headers
//              (sharded checkpoints through model.safetensors.index.json);
//              AWQ INT4 checkpoints count their packed qweight/qzeros/scales.
//   kv/token   layers x 2 (K and V) x kv_heads x head_dim x the KV element
//              size: 4 bytes on the CPU (FP32), 2 on the GPU (FP16).
//   workspace  working memory of one engine step of max_batch_tokens tokens
//              (runners/native/planner/footprint.h). On the GPU exactly the
//              step buffers the CUDA model allocates (GpuStepBufferBytes:
//              activations, 256 rows of FP32 logits - scored rows go through
//              the lm_head 256 at a time - and step metadata), plus 32 MiB of
//              GEMM workspace, 32 MiB of load-time weight staging and, for an
//              AWQ model, 128 MiB of INT4 workspace. On the CPU
//              max_batch_tokens x (24 x hidden + 10 x intermediate) bytes plus
//              the logits of up to 256 rows (256 x vocab x 4 bytes).
//   kv pool    at least `min_kv_tokens` (the model's context window when the
//              suite caps it with max_context, else 8,192 tokens); what the
//              budget has left after weights, workspaces, minimum pools and (on
//              the GPU) a 512 MiB CUDA context reserve is shared between the
//              models in proportion to their minimum pools; that is each
//              model's share when all are busy, and a model whose peers are
//              idle can borrow all of it (kv_max_tokens).
// A plan that cannot give every model its minimum pool does not fit; the
// refusal names needed and available bytes.
//
// Thread-safety: stateless functions.
#ifndef EVALD_DAEMON_PLANNER_H_
#define EVALD_DAEMON_PLANNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/store.pb.h"

namespace evald::daemon {

enum class PlanDevice { kCpu, kGpu };

struct ModelPlan {
  std::string role;  // "candidate" | "judge"
  std::string path;
  std::string format;  // "bf16", "fp16", "fp32", "awq-int4", ...
  int64_t weight_bytes = 0;
  int64_t kv_bytes_per_token = 0;
  int64_t workspace_bytes = 0;
  int64_t min_kv_tokens = 0;
  int64_t kv_pool_bytes = 0;  // the pool it gets (0 when the plan does not fit)
  int64_t kv_tokens = 0;      // kv_pool_bytes / kv_bytes_per_token
  // The tokens its pool can grow to while the other models sit at their
  // minimums (idle): KV pools are elastic (runners/native/engine/elastic_kv.h).
  int64_t kv_max_tokens = 0;
  bool endpoint = false;  // served elsewhere: no memory here
};

struct MemoryPlan {
  PlanDevice device = PlanDevice::kCpu;
  int64_t budget_bytes = 0;
  int64_t reserve_bytes = 0;  // CUDA context on the GPU
  int64_t needed_bytes = 0;   // weights + workspaces + minimum pools + reserve
  bool fits = false;
  std::vector<ModelPlan> models;
};

struct PlanOptions {
  PlanDevice device = PlanDevice::kCpu;
  int64_t budget_bytes = 0;
  int max_batch_tokens = 2048;
};

// Whether the native checkpoint in `dir` can load, judged with the engine's
// own readers from headers alone (the safetensors files are mapped, no
// weight is read; tokenizer.json is parsed once): config.json is JSON with
// the required fields, names an architecture this build registers
// (EVALD_REGISTER_ARCHITECTURE) and that accepts it; tokenizer.json (with
// tokenizer_config.json) builds; every safetensors header fits its file
// (offsets inside the data section, sizes matching shapes, shards as the
// index says). The reader's code (InvalidArgument, NotFound, ...) is kept;
// the message is one line, "<role> model <dir>: <file>: <what>".
absl::Status CheckCheckpoint(absl::string_view role, const std::string& dir);

// CheckCheckpoint for the candidate and the judge of `spec`; endpoint models
// (kind "openai") are not checked.
absl::Status CheckModels(const v1::RunSpec& spec);

// Makes the checks of CheckModels first, with the same errors; a plan that
// does not fit is not an error (fits = false).
absl::StatusOr<MemoryPlan> PlanModels(const v1::RunSpec& spec,
                                      const PlanOptions& options);

// "24GiB", "80 GB", "512MiB", "1073741824": bytes.
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);
std::string FormatBytes(int64_t bytes);  // "14.96 GiB", "612.3 MiB"

// 80% of the machine's memory (MemTotal in /proc/meminfo), the default CPU
// budget of evald and `evalctl plan`.
int64_t DefaultCpuBudget();

std::string FormatPlan(const MemoryPlan& plan);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_PLANNER_H_
