// File: daemon/planner.cc
#include "daemon/planner.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "runners/native/planner/footprint.h"

namespace evald::daemon {
namespace {

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

struct Shape {
  int64_t layers = 0, hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, head_dim = 0,
          vocab = 0;
  std::string format;
};

absl::StatusOr<int64_t> Int(const base::Json& root, const std::string& path, const char* field,
                            int64_t fallback = -1) {
  const base::Json* v = root.Find(field);
  if (v == nullptr || v->is_null()) {
    if (fallback >= 0) return fallback;
    return absl::InvalidArgumentError(absl::StrCat(path, ": field '", field, "' is missing"));
  }
  if (!v->is_int() || v->int_value() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": field '", field, "': expected a positive integer"));
  }
  return v->int_value();
}

absl::StatusOr<Shape> ReadShape(const std::string& dir) {
  const std::string path = dir + "/config.json";
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  absl::StatusOr<base::Json> root = base::ParseJson(text);
  if (!root.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", root.status().message()));
  Shape s;
  ASSIGN_OR_RETURN(s.layers, Int(*root, path, "num_hidden_layers"));
  ASSIGN_OR_RETURN(s.hidden, Int(*root, path, "hidden_size"));
  ASSIGN_OR_RETURN(s.intermediate, Int(*root, path, "intermediate_size"));
  ASSIGN_OR_RETURN(s.heads, Int(*root, path, "num_attention_heads"));
  ASSIGN_OR_RETURN(s.kv_heads, Int(*root, path, "num_key_value_heads", s.heads));
  ASSIGN_OR_RETURN(s.head_dim, Int(*root, path, "head_dim", s.hidden / s.heads));
  ASSIGN_OR_RETURN(s.vocab, Int(*root, path, "vocab_size"));
  const base::Json* dtype = root->Find("torch_dtype");
  s.format = dtype != nullptr && dtype->is_string() ? dtype->string_value() : "unknown";
  if (s.format == "bfloat16") s.format = "bf16";
  if (s.format == "float16") s.format = "fp16";
  if (s.format == "float32") s.format = "fp32";
  if (const base::Json* q = root->Find("quantization_config"); q != nullptr && q->is_object()) {
    const base::Json* method = q->Find("quant_method");
    const base::Json* bits = q->Find("bits");
    if (method == nullptr || !method->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": field 'quantization_config.quant_method' is missing"));
    }
    s.format = absl::StrCat(method->string_value(), "-int",
                            bits != nullptr && bits->is_int() ? bits->int_value() : 0);
  }
  return s;
}

// Sum of the tensor byte sizes of one safetensors file, from its header.
absl::StatusOr<int64_t> HeaderBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  unsigned char len_bytes[8];
  if (!in.read(reinterpret_cast<char*>(len_bytes), 8)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": shorter than a safetensors header"));
  }
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | len_bytes[i];
  if (len == 0 || len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": safetensors header length ", len, " is not plausible"));
  }
  std::string header(len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(len))) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": truncated safetensors header"));
  }
  absl::StatusOr<base::Json> json = base::ParseJson(header);
  if (!json.ok() || !json->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": safetensors header is not a JSON object"));
  }
  int64_t total = 0;
  for (const auto& [name, info] : json->object()) {
    if (name == "__metadata__") continue;
    const base::Json* offsets = info.is_object() ? info.Find("data_offsets") : nullptr;
    if (offsets == nullptr || !offsets->is_array() || offsets->array().size() != 2 ||
        !offsets->array()[0].is_int() || !offsets->array()[1].is_int() ||
        offsets->array()[1].int_value() < offsets->array()[0].int_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", name, "': bad data_offsets"));
    }
    total += offsets->array()[1].int_value() - offsets->array()[0].int_value();
  }
  return total;
}

absl::StatusOr<int64_t> WeightBytes(const std::string& dir) {
  const std::string index = dir + "/model.safetensors.index.json";
  std::set<std::string> files;
  if (base::PathExists(index)) {
    ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(index));
    absl::StatusOr<base::Json> json = base::ParseJson(text);
    const base::Json* map = json.ok() ? json->Find("weight_map") : nullptr;
    if (map == nullptr || !map->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(index, ": field 'weight_map' is missing"));
    }
    for (const auto& [tensor, file] : map->object()) {
      if (!file.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(index, ": weight_map.", tensor, ": not a file name"));
      }
      files.insert(file.string_value());
    }
  } else {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() > 12 && name.substr(name.size() - 12) == ".safetensors") files.insert(name);
    }
    if (ec) return absl::NotFoundError(absl::StrCat(dir, ": ", ec.message()));
  }
  if (files.empty()) return absl::NotFoundError(absl::StrCat(dir, ": no *.safetensors files"));
  int64_t total = 0;
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(int64_t bytes, HeaderBytes(dir + "/" + f));
    total += bytes;
  }
  return total;
}

}  // namespace

absl::StatusOr<MemoryPlan> PlanModels(const v1::RunSpec& spec, const PlanOptions& options) {
  MemoryPlan plan;
  plan.device = options.device;
  plan.budget_bytes = options.budget_bytes;
  plan.reserve_bytes = options.device == PlanDevice::kGpu ? native::kCudaContextReserve : 0;
  std::vector<std::pair<std::string, const v1::ModelSpec*>> models = {{"candidate", &spec.candidate()}};
  if (spec.has_judge()) models.push_back({"judge", &spec.judge()});
  const int64_t kv_elem = options.device == PlanDevice::kGpu ? 2 : 4;
  int64_t needed = plan.reserve_bytes;
  int64_t min_pools = 0;
  for (const auto& [role, model] : models) {
    ModelPlan m;
    m.role = role;
    if (model->kind() == "openai" || (!model->endpoint().empty() && model->path().empty())) {
      m.endpoint = true;
      m.path = model->endpoint();
      m.format = "endpoint";
      plan.models.push_back(m);
      continue;
    }
    m.path = model->path();
    ASSIGN_OR_RETURN(Shape s, ReadShape(m.path));
    ASSIGN_OR_RETURN(m.weight_bytes, WeightBytes(m.path));
    m.format = s.format;
    m.kv_bytes_per_token = s.layers * 2 * s.kv_heads * s.head_dim * kv_elem;
    m.workspace_bytes = native::WorkspaceBytes(s.hidden, s.intermediate, s.vocab,
                                               options.max_batch_tokens,
                                               options.device == PlanDevice::kGpu,
                                               s.format == "awq-int4");
    m.min_kv_tokens = native::MinKvTokens(model->max_context());
    needed += m.weight_bytes + m.workspace_bytes + m.min_kv_tokens * m.kv_bytes_per_token;
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
          min_pools > 0 ? static_cast<int64_t>(static_cast<long double>(spare) * min_pool / min_pools) : 0;
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
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  double number = 0;
  if (i == 0 || !absl::SimpleAtod(t.substr(0, i), &number)) {
    return absl::InvalidArgumentError(
        absl::StrCat("size '", text, "': expected a number with an optional unit (24GiB, 80GB)"));
  }
  std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(i)));
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "kib" || unit == "k") scale = 1024.0;
  else if (unit == "mib" || unit == "m") scale = 1024.0 * 1024;
  else if (unit == "gib" || unit == "g") scale = 1024.0 * 1024 * 1024;
  else if (unit == "tib" || unit == "t") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "kb") scale = 1e3;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "gb") scale = 1e9;
  else if (unit == "tb") scale = 1e12;
  else {
    return absl::InvalidArgumentError(absl::StrCat(
        "size '", text, "': unknown unit '", unit, "' (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"));
  }
  const double bytes = number * scale;
  if (!(bytes > 0) || bytes > 9e18) {
    return absl::InvalidArgumentError(absl::StrCat("size '", text, "': out of range"));
  }
  return static_cast<int64_t>(bytes);
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < (int64_t{1} << 30)) {
    return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024));
  }
  return absl::StrFormat("%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
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
  std::string out = absl::StrFormat(
      "memory plan on the %s: budget %s\n", plan.device == PlanDevice::kGpu ? "GPU" : "CPU",
      FormatBytes(plan.budget_bytes));
  absl::StrAppendFormat(&out, "  %-10s %-9s %11s %11s %11s %11s %12s  %s\n", "ROLE", "FORMAT",
                        "WEIGHTS", "KV/TOKEN", "WORKSPACE", "KV POOL", "KV TOKENS", "PATH");
  for (const ModelPlan& m : plan.models) {
    if (m.endpoint) {
      absl::StrAppendFormat(&out, "  %-10s %-9s %11s %11s %11s %11s %12s  %s\n", m.role, m.format,
                            "-", "-", "-", "-", "-", m.path);
      continue;
    }
    absl::StrAppendFormat(&out, "  %-10s %-9s %11s %9.0f KiB %11s %11s %12s  %s\n", m.role,
                          m.format, FormatBytes(m.weight_bytes), m.kv_bytes_per_token / 1024.0,
                          FormatBytes(m.workspace_bytes),
                          plan.fits ? FormatBytes(m.kv_pool_bytes) : "-",
                          plan.fits ? absl::StrCat(m.kv_tokens) : absl::StrCat(">=", m.min_kv_tokens),
                          m.path);
  }
  if (plan.reserve_bytes > 0) {
    absl::StrAppendFormat(&out, "  CUDA context reserve %s\n", FormatBytes(plan.reserve_bytes));
  }
  int native_models = 0;
  for (const ModelPlan& m : plan.models) native_models += m.endpoint ? 0 : 1;
  if (plan.fits && native_models > 1) {
    std::string lend;
    for (const ModelPlan& m : plan.models) {
      if (m.endpoint) continue;
      absl::StrAppend(&lend, lend.empty() ? "" : ", ", m.role, " up to ", m.kv_max_tokens);
    }
    absl::StrAppendFormat(&out, "  KV pools are shared: with the other model idle, %s KV tokens\n",
                          lend);
  }
  absl::StrAppendFormat(&out, "%s: needed %s (weights + workspaces + minimum KV pools%s) vs %s available\n",
                        plan.fits ? "fits" : "does not fit", FormatBytes(plan.needed_bytes),
                        plan.reserve_bytes > 0 ? " + reserve" : "", FormatBytes(plan.budget_bytes));
  return out;
}

}  // namespace evald::daemon
