#include "tests/runners/native/model/model_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::testing {
namespace {

std::string ScriptPath() {
  const char* src = std::getenv("EVALD_SOURCE_DIR");
  if (src != nullptr)
    return std::string(src) + "/tests/runners/native/model/torch_reference.py";
  return std::string(EVALD_MODEL_TEST_DIR) + "/torch_reference.py";
}

absl::StatusOr<std::string> RunCommand(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen failed: " + command);
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int rc = ::pclose(pipe);
  if (rc != 0)
    return absl::InternalError(
        absl::StrCat("command failed (", rc, "): ", command));
  return out;
}

}  // namespace

std::vector<double> LogSoftmax(const std::vector<float>& logits) {
  double max = -INFINITY;
  for (float x : logits) max = std::max(max, static_cast<double>(x));
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
  const double lse = max + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - lse;
  return out;
}

absl::StatusOr<std::vector<std::vector<float>>> RunPrompt(
    model::Model* model, model::KvCache* kv, const std::vector<int32_t>& tokens,
    const std::vector<int32_t>& blocks, int chunk) {
  std::vector<std::vector<float>> all;
  const int n = static_cast<int>(tokens.size());
  const int step = chunk <= 0 ? n : chunk;
  for (int start = 0; start < n; start += step) {
    const int len = std::min(step, n - start);
    model::SeqChunk c;
    c.tokens = absl::MakeConstSpan(tokens.data() + start, len);
    c.start_pos = start;
    c.block_table = blocks;
    c.rope_length = n;  // the whole prompt, as the engine passes it
    for (int i = 0; i < len; ++i) c.logit_rows.push_back(i);
    model::ForwardOutput out;
    RETURN_IF_ERROR(model->Forward({c}, kv, &out));
    for (auto& l : out.logits) all.push_back(std::move(l));
  }
  return all;
}

bool TorchAvailable() {
  return std::system(
             "/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
}

absl::StatusOr<ReferenceResult> RunTorchReference(
    const std::string& model_dir,
    const std::vector<std::vector<int32_t>>& prompts, int greedy) {
  base::Json req = base::Json::MakeObject();
  req.Set("model", base::Json::String(model_dir));
  base::Json list = base::Json::MakeArray();
  for (const auto& p : prompts) {
    base::Json a = base::Json::MakeArray();
    for (int32_t t : p) a.Push(base::Json::Int(t));
    list.Push(std::move(a));
  }
  req.Set("prompts", std::move(list));
  if (greedy > 0) req.Set("greedy", base::Json::Int(greedy));
  const std::string req_path = model_dir + "/reference_request.json";
  RETURN_IF_ERROR(base::WriteFileAtomically(req_path, req.Dump()));
  ASSIGN_OR_RETURN(
      std::string text,
      RunCommand("/usr/bin/python3 " + ScriptPath() + " < " + req_path));
  ASSIGN_OR_RETURN(base::Json json, base::ParseJson(text));
  ReferenceResult result;
  for (const char* key : {"next_logprobs", "last_logprobs"}) {
    const base::Json* rows = json.Find(key);
    if (rows == nullptr || !rows->is_array()) {
      return absl::InternalError(absl::StrCat("reference output lacks ", key));
    }
    auto& dst = std::string(key) == "next_logprobs" ? result.next_logprobs
                                                    : result.last_logprobs;
    for (const base::Json& row : rows->array()) {
      std::vector<double> v;
      for (const base::Json& x : row.array()) v.push_back(x.number_value());
      dst.push_back(std::move(v));
    }
  }
  if (greedy > 0) {
    const base::Json* rows = json.Find("greedy");
    if (rows == nullptr || !rows->is_array()) {
      return absl::InternalError("reference output lacks greedy");
    }
    for (const base::Json& row : rows->array()) {
      std::vector<int32_t> v;
      for (const base::Json& x : row.array())
        v.push_back(static_cast<int32_t>(x.int_value()));
      result.greedy.push_back(std::move(v));
    }
  }
  return result;
}

std::vector<int32_t> RandomTokens(int n, int vocab, uint64_t seed) {
  std::vector<int32_t> out;
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (int i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    out.push_back(static_cast<int32_t>(s % static_cast<uint64_t>(vocab)));
  }
  return out;
}

double MaxLogprobDiff(const std::vector<std::vector<float>>& logits,
                      const std::vector<int32_t>& prompt,
                      const std::vector<double>& next_ref,
                      const std::vector<double>& last_ref) {
  double max_diff = 0;
  for (size_t i = 0; i + 1 < prompt.size(); ++i) {
    const std::vector<double> lp = LogSoftmax(logits[i]);
    max_diff = std::max(max_diff, std::fabs(lp[prompt[i + 1]] - next_ref[i]));
  }
  const std::vector<double> last = LogSoftmax(logits.back());
  for (size_t v = 0; v < last.size(); ++v)
    max_diff = std::max(max_diff, std::fabs(last[v] - last_ref[v]));
  return max_diff;
}

absl::StatusOr<std::vector<int32_t>> Greedy(model::Model* model,
                                            model::KvCache* kv,
                                            const std::vector<int32_t>& prompt,
                                            const std::vector<int32_t>& blocks,
                                            int n, int rope_length) {
  ASSIGN_OR_RETURN(auto logits, RunPrompt(model, kv, prompt, blocks, 0));
  std::vector<int32_t> seq = prompt;
  std::vector<int32_t> out;
  std::vector<float> last = logits.back();
  for (int i = 0; i < n; ++i) {
    const int32_t next = static_cast<int32_t>(
        std::max_element(last.begin(), last.end()) - last.begin());
    out.push_back(next);
    seq.push_back(next);
    if (i + 1 == n) break;
    model::SeqChunk c;
    c.tokens = absl::MakeConstSpan(seq.data() + seq.size() - 1, 1);
    c.start_pos = static_cast<int>(seq.size()) - 1;
    c.block_table = blocks;
    c.logit_rows = {0};
    c.rope_length = rope_length;
    model::ForwardOutput step;
    RETURN_IF_ERROR(model->Forward({c}, kv, &step));
    last = step.logits[0];
  }
  return out;
}

}  // namespace evald::runners::native::testing
