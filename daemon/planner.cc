// File: daemon/planner.cc
#include "daemon/planner.h"

#include <cctype>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/config_parser.h"
#include "runners/native/model/model_config.h"
#include "runners/native/model/safetensors.h"
#include "runners/native/planner/footprint.h"
#include "runners/native/tokenizer/tokenizer.h"

namespace evald::daemon {

namespace model = ::evald::runners::native::model;
namespace planner = ::evald::runners::native::planner;
namespace tokenizer = ::evald::runners::native::tokenizer;
namespace {

// What the planner needs of a checkpoint that can load.
struct Checkpoint {
  model::ModelConfig config;  // after the architecture's FinalizeConfig
  int64_t weight_bytes = 0;   // the sum of the tensors' byte spans
};

// One line naming the role, the folder and, from the reader's message, the
// file: "candidate model /m: tokenizer.json: cannot open: ...".
absl::Status InModel(absl::string_view role, const std::string& dir,
                     const absl::Status& s) {
  absl::string_view what = s.message();
  absl::ConsumePrefix(&what, dir + "/");
  return absl::Status(s.code(), absl::StrCat(role, " model ", dir, ": ", what));
}

// The loader's own readers (Model::Load, Tokenizer::FromDirectory), up to the
// point where weights would be read: the safetensors files are mapped, not
// read, and only their headers are touched.
absl::StatusOr<Checkpoint> ReadCheckpoint(const std::string& dir) {
  Checkpoint c;
  const std::string config_path = dir + "/config.json";
  ASSIGN_OR_RETURN(c.config, model::LoadModelConfig(dir));
  const model::Architecture* arch =
      model::FindArchitecture(c.config.architecture);
  if (arch == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        config_path, ": field 'architectures': '", c.config.architecture,
        "' is not supported by this evald (supported: ",
        absl::StrJoin(model::RegisteredArchitectures(), ", "), ")"));
  }
  if (absl::Status s = arch->FinalizeConfig(&c.config); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(config_path, ": ", s.message()));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tokenizer,
                   tokenizer::Tokenizer::FromDirectory(dir));
  ASSIGN_OR_RETURN(std::unique_ptr<model::TensorStore> store,
                   model::TensorStore::Open(dir));
  for (const std::string& name : store->Names()) {
    c.weight_bytes += static_cast<int64_t>(store->Find(name)->size_bytes);
  }
  return c;
}

std::string FormatOf(const model::ModelConfig& config) {
  if (config.quantization.awq)
    return absl::StrCat("awq-int", config.quantization.bits);
  if (config.torch_dtype == "bfloat16") return "bf16";
  if (config.torch_dtype == "float16") return "fp16";
  if (config.torch_dtype == "float32") return "fp32";
  return config.torch_dtype.empty() ? "unknown" : config.torch_dtype;
}

bool IsEndpoint(const v1::ModelSpec& model) {
  return model.source_case() == v1::ModelSpec::kEndpoint;
}

std::vector<std::pair<std::string, const v1::ModelSpec*>> Models(
    const v1::RunSpec& spec) {
  std::vector<std::pair<std::string, const v1::ModelSpec*>> models = {
      {"candidate", &spec.candidate()}};
  if (spec.has_judge()) models.push_back({"judge", &spec.judge()});
  return models;
}

}  // namespace

absl::Status CheckCheckpoint(absl::string_view role, const std::string& dir) {
  absl::StatusOr<Checkpoint> checkpoint = ReadCheckpoint(dir);
  if (!checkpoint.ok()) return InModel(role, dir, checkpoint.status());
  return absl::OkStatus();
}

absl::Status CheckModels(const v1::RunSpec& spec) {
  for (const auto& [role, model] : Models(spec)) {
    if (IsEndpoint(*model)) continue;
    RETURN_IF_ERROR(CheckCheckpoint(role, model->path()));
  }
  return absl::OkStatus();
}

absl::StatusOr<MemoryPlan> PlanModels(const v1::RunSpec& spec,
                                      const PlanOptions& options) {
  MemoryPlan plan;
  plan.device = options.device;
  plan.budget_bytes = options.budget_bytes;
  plan.reserve_bytes =
      options.device == PlanDevice::kGpu ? planner::kCudaContextReserve : 0;
  const int64_t kv_elem = options.device == PlanDevice::kGpu ? 2 : 4;
  int64_t needed = plan.reserve_bytes;
  int64_t min_pools = 0;
  for (const auto& [role, model] : Models(spec)) {
    ModelPlan m;
    m.role = role;
    if (IsEndpoint(*model)) {
      m.endpoint = true;
      m.path = model->endpoint();
      m.format = "endpoint";
      plan.models.push_back(m);
      continue;
    }
    m.path = model->path();
    absl::StatusOr<Checkpoint> checkpoint = ReadCheckpoint(m.path);
    if (!checkpoint.ok()) return InModel(role, m.path, checkpoint.status());
    const model::ModelConfig& c = checkpoint->config;
    m.weight_bytes = checkpoint->weight_bytes;
    m.format = FormatOf(c);
    m.kv_bytes_per_token =
        int64_t{c.num_layers} * 2 * c.num_kv_heads * c.head_dim * kv_elem;
    m.workspace_bytes = planner::WorkspaceBytes(
        planner::ModelShape{
            .hidden = c.hidden_size,
            .intermediate = c.intermediate_size,
            .num_heads = c.num_heads,
            .num_kv_heads = c.num_kv_heads,
            .head_dim = c.head_dim,
            .vocab = c.vocab_size,
            .awq = c.quantization.awq,
            .num_experts = c.moe.num_experts,
            .experts_per_token = c.moe.experts_per_token,
            .expert_intermediate = c.moe.expert_intermediate_size,
            .shared_expert_intermediate = c.moe.shared_expert_intermediate_size,
            .local_rope = c.rope_local_theta > 0,
            .per_layer_window = !c.sliding_layers.empty()},
        options.max_batch_tokens, options.device == PlanDevice::kGpu);
    m.min_kv_tokens = planner::MinKvTokens(model->max_context());
    needed += m.weight_bytes + m.workspace_bytes +
              m.min_kv_tokens * m.kv_bytes_per_token;
    min_pools += m.min_kv_tokens * m.kv_bytes_per_token;
    plan.models.push_back(m);
  }
  plan.needed_bytes = needed;
  plan.fits = needed <= plan.budget_bytes;
  if (plan.fits) {
    const int64_t spare = plan.budget_bytes - needed;
    for (ModelPlan& m : plan.models) {
      if (m.endpoint || m.kv_bytes_per_token == 0) continue;
      const int64_t min_pool = m.min_kv_tokens * m.kv_bytes_per_token;
      const int64_t share =
          min_pools > 0 ? static_cast<int64_t>(static_cast<long double>(spare) *
                                               min_pool / min_pools)
                        : 0;
      m.kv_pool_bytes = min_pool + share;
      m.kv_tokens = m.kv_pool_bytes / m.kv_bytes_per_token;
      m.kv_max_tokens = (min_pool + spare) / m.kv_bytes_per_token;
    }
  }
  return plan;
}

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  std::string t(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  while (i < t.size() &&
         (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.'))
    ++i;
  double number = 0;
  if (i == 0 || !absl::SimpleAtod(t.substr(0, i), &number)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "size '", text,
        "': expected a number with an optional unit (24GiB, 80GB)"));
  }
  std::string unit =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(i)));
  double scale = 0;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "kib" || unit == "k")
    scale = 1024.0;
  else if (unit == "mib" || unit == "m")
    scale = 1024.0 * 1024;
  else if (unit == "gib" || unit == "g")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "tib" || unit == "t")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "kb")
    scale = 1e3;
  else if (unit == "mb")
    scale = 1e6;
  else if (unit == "gb")
    scale = 1e9;
  else if (unit == "tb")
    scale = 1e12;
  else {
    return absl::InvalidArgumentError(
        absl::StrCat("size '", text, "': unknown unit '", unit,
                     "' (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"));
  }
  const double bytes = number * scale;
  if (!(bytes > 0) || bytes > 9e18) {
    return absl::InvalidArgumentError(
        absl::StrCat("size '", text, "': out of range"));
  }
  return static_cast<int64_t>(bytes);
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < (int64_t{1} << 30)) {
    return absl::StrFormat("%.1f MiB",
                           static_cast<double>(bytes) / (1024.0 * 1024));
  }
  return absl::StrFormat("%.2f GiB",
                         static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
}

int64_t DefaultCpuBudget() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * 1024 / 10 * 8;
  }
  return int64_t{8} << 30;
}

std::string FormatPlan(const MemoryPlan& plan) {
  std::string out =
      absl::StrFormat("memory plan on the %s: budget %s\n",
                      plan.device == PlanDevice::kGpu ? "GPU" : "CPU",
                      FormatBytes(plan.budget_bytes));
  absl::StrAppendFormat(&out, "  %-10s %-9s %11s %11s %11s %11s %12s  %s\n",
                        "ROLE", "FORMAT", "WEIGHTS", "KV/TOKEN", "WORKSPACE",
                        "KV POOL", "KV TOKENS", "PATH");
  for (const ModelPlan& m : plan.models) {
    if (m.endpoint) {
      absl::StrAppendFormat(&out, "  %-10s %-9s %11s %11s %11s %11s %12s  %s\n",
                            m.role, m.format, "-", "-", "-", "-", "-", m.path);
      continue;
    }
    absl::StrAppendFormat(
        &out, "  %-10s %-9s %11s %9.0f KiB %11s %11s %12s  %s\n", m.role,
        m.format, FormatBytes(m.weight_bytes), m.kv_bytes_per_token / 1024.0,
        FormatBytes(m.workspace_bytes),
        plan.fits ? FormatBytes(m.kv_pool_bytes) : "-",
        plan.fits ? absl::StrCat(m.kv_tokens)
                  : absl::StrCat(">=", m.min_kv_tokens),
        m.path);
  }
  if (plan.reserve_bytes > 0) {
    absl::StrAppendFormat(&out, "  CUDA context reserve %s\n",
                          FormatBytes(plan.reserve_bytes));
  }
  int native_models = 0;
  for (const ModelPlan& m : plan.models) native_models += m.endpoint ? 0 : 1;
  if (plan.fits && native_models > 1) {
    std::string lend;
    for (const ModelPlan& m : plan.models) {
      if (m.endpoint) continue;
      absl::StrAppend(&lend, lend.empty() ? "" : ", ", m.role, " up to ",
                      m.kv_max_tokens);
    }
    absl::StrAppendFormat(
        &out,
        "  KV pools are shared: with the other model idle, %s KV tokens\n",
        lend);
  }
  absl::StrAppendFormat(&out,
                        "%s: needed %s (weights + workspaces + minimum KV "
                        "pools%s) vs %s available\n",
                        plan.fits ? "fits" : "does not fit",
                        FormatBytes(plan.needed_bytes),
                        plan.reserve_bytes > 0 ? " + reserve" : "",
                        FormatBytes(plan.budget_bytes));
  return out;
}

}  // namespace evald::daemon
