// evald-logprobs: next-token log-probabilities of token sequences through one
// backend, for numerical comparisons between backends and with other
// implementations (tests/runners/native/model/torch_reference.py speaks the
// same JSON, and bench/gpu/hf_compare.py compares against transformers).
//
//   evald-logprobs --model DIR [--device auto|cpu|cuda] < request.json
//
// request.json: {"prompts": [[token ids], ...]}
// stdout:       {"device": "...", "next_logprobs": [[log p(t[i+1] | t[..i]),
// ...], ...]}
//
// Each prompt runs alone from an empty cache, as one prefill chunk.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "base/json.h"
#include "runners/native/model/model.h"

namespace model = ::evald::runners::native::model;

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "evald-logprobs: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace evald;
  std::string model_dir;
  std::string device = "auto";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return Fail("flag " + flag + " needs a value");
    if (flag == "--model") {
      model_dir = argv[++i];
    } else if (flag == "--device") {
      device = argv[++i];
    } else {
      return Fail("unknown flag " + flag);
    }
  }
  if (model_dir.empty()) {
    return Fail(
        "usage: evald-logprobs --model DIR [--device auto|cpu|cuda] < "
        "request.json");
  }
  model::LoadOptions options;
  if (device == "cpu") {
    options.device = model::Device::kCpu;
  } else if (device == "cuda") {
    options.device = model::Device::kCuda;
  } else if (device != "auto") {
    return Fail("--device: expected auto, cpu or cuda, got '" + device + "'");
  }
  std::string input((std::istreambuf_iterator<char>(std::cin)),
                    std::istreambuf_iterator<char>());
  absl::StatusOr<base::Json> request = base::ParseJson(input);
  if (!request.ok())
    return Fail("stdin: " + std::string(request.status().message()));
  const base::Json* prompts = request->Find("prompts");
  if (prompts == nullptr || !prompts->is_array())
    return Fail("stdin: field 'prompts': missing or not a list");

  absl::StatusOr<std::unique_ptr<model::Model>> model =
      model::Model::Load(model_dir, options);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  const int vocab = (*model)->config().vocab_size;

  base::Json out_list = base::Json::MakeArray();
  for (size_t p = 0; p < prompts->array().size(); ++p) {
    const base::Json& prompt = prompts->array()[p];
    std::vector<int32_t> tokens;
    bool valid = prompt.is_array();
    for (size_t i = 0; valid && i < prompt.array().size(); ++i) {
      const base::Json& t = prompt.array()[i];
      valid = t.is_int() && t.int_value() >= 0 && t.int_value() < vocab;
      if (valid) tokens.push_back(static_cast<int32_t>(t.int_value()));
    }
    if (!valid || tokens.size() < 2) {
      return Fail("stdin: prompts[" + std::to_string(p) +
                  "]: need at least 2 token ids in [0, vocab)");
    }
    const int n = static_cast<int>(tokens.size());
    const int blocks = (n + model::kKvBlockSize - 1) / model::kKvBlockSize;
    // Block 0 is the engine's null block by convention; use 1..blocks.
    absl::StatusOr<std::unique_ptr<model::KvCache>> kv =
        (*model)->AllocateKvCache(blocks + 1);
    if (!kv.ok()) return Fail(std::string(kv.status().message()));
    std::vector<int32_t> table(blocks);
    for (int b = 0; b < blocks; ++b) table[b] = b + 1;
    model::SeqChunk chunk;
    chunk.tokens = tokens;
    chunk.start_pos = 0;
    chunk.block_table = table;
    for (int r = 0; r + 1 < n; ++r) chunk.logit_rows.push_back(r);
    model::ForwardOutput out;
    absl::Status status = (*model)->Forward({&chunk, 1}, kv->get(), &out);
    if (!status.ok()) return Fail(std::string(status.message()));
    base::Json row = base::Json::MakeArray();
    for (int r = 0; r + 1 < n; ++r) {
      const std::vector<float>& logits = out.logits[r];
      double max = -INFINITY;
      for (float v : logits) max = std::max(max, static_cast<double>(v));
      double sum = 0;
      for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
      row.Push(base::Json::Double(static_cast<double>(logits[tokens[r + 1]]) -
                                  max - std::log(sum)));
    }
    out_list.Push(std::move(row));
  }
  base::Json result = base::Json::MakeObject();
  result.Set("device", base::Json::String(device));
  result.Set("next_logprobs", std::move(out_list));
  std::cout << result.Dump() << "\n";
  return 0;
}
