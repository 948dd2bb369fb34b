// evald-cuda-bench: the CUDA backend against yardsticks measured in the same
// run on the same GPU.
//
//   decode:  tokens/s at batch 1 after a 512-token prompt, as a fraction of
//            the HBM roofline = measured device-to-device copy bandwidth /
//            bytes of weights read per token (every matrix; one embedding
//            row);
//   prefill: tokens/s of one 2048-token chunk, as a fraction of the cuBLAS
//            FP16 GEMM peak (an 8192^3 product) over 2 x matrix parameters
//            per token;
//   mmlu:    wall time of a 5-shot MMLU-shaped workload through the
//            NativeRunner with the prefix cache: 57 subjects, 14,042
//            questions, four one-token choices each, a ~600-token shared
//            prefix per subject (--questions scales it down);
//   gsm8k:   wall time of a 5-shot GSM8K-shaped workload: 1,319 greedy
//            generations of up to 256 tokens after a shared ~700-token
//            prefix (--gsm8k scales it down);
//   judge:   with --judge DIR, the candidate and a judge resident together
//            on one memory budget (elastic KV pools), the judge grading
//            while the candidate generates: wall time, each model's tokens/s
//            and KV held, device memory in use.
//
//   evald-cuda-bench --model DIR [--decode N] [--questions N] [--gsm8k N]
//                    [--judge DIR [--judge-prompts N]] [--fast-gemm]
//                    [--tiled-attention]
//
// --tiled-attention applies to the prefill and decode figures (the model
// loaded directly); the workloads through the runner use the default kernel.
//
// Matrix parameters (for the FLOP count) come from config.json; bytes per
// decoded token from the weights the model holds on the device, so an AWQ
// INT4 model's roofline counts its packed weights, scales and zeros.
// DIR is a Hugging Face checkpoint, e.g. written by
// `evald-make-checkpoint --preset llama-3.1-8b --out DIR` (random weights).
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runners/native/cuda/gemm.h"
#include "runners/native/model/dtype.h"
#include "runners/native/model/model.h"
#include "runners/native/native_runner.h"
#include "runners/native/planner/footprint.h"
#include "runners/native/planner/kv_budget.h"

namespace model = ::evald::runners::native::model;
namespace planner = ::evald::runners::native::planner;

namespace {

using Clock = std::chrono::steady_clock;
using namespace evald;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "evald-cuda-bench: %s\n", message.c_str());
  return 1;
}

// Bytes moved per second by cudaMemcpy device-to-device (read + write).
double CopyBandwidth() {
  const size_t bytes = size_t{2} << 30;
  void* a = nullptr;
  void* b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess ||
      cudaMalloc(&b, bytes) != cudaSuccess)
    return 0;
  cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  cudaDeviceSynchronize();
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes / best;
}

// FLOP/s of an n^3 FP16 product with FP32 output through the backend's own
// cuBLASLt wrapper (heuristic algorithm choice).
double GemmPeak(int64_t n) {
  auto gemm = runners::native::cuda::Gemm::Create(/*batch_invariant=*/false);
  if (!gemm.ok()) return 0;
  void* w = nullptr;
  void* x = nullptr;
  float* y = nullptr;
  cudaMalloc(&w, n * n * 2);
  cudaMalloc(&x, n * n * 2);
  cudaMalloc(reinterpret_cast<void**>(&y), n * n * 4);
  // Random values in [-1, 1): tensor cores draw more power (and clock lower)
  // on real data than on zeros.
  std::vector<uint16_t> host(static_cast<size_t>(n) * n);
  std::mt19937 rng(7);
  for (uint16_t& v : host)
    v = model::FloatToF16(static_cast<float>(rng() % 2048) / 1024.0f - 1.0f);
  cudaMemcpy(w, host.data(), n * n * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(x, host.data(), n * n * 2, cudaMemcpyHostToDevice);
  double best = 1e30;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = Clock::now();
    absl::Status s = (*gemm)->Run(w, n, n, x, n, y, false, nullptr);
    cudaDeviceSynchronize();
    if (!s.ok()) return 0;
    if (i > 0) best = std::min(best, Seconds(t0, Clock::now()));
  }
  cudaFree(w);
  cudaFree(x);
  cudaFree(y);
  return 2.0 * n * n * n / best;
}

// Multiply-adds per token in the decoder layers' matrices (attention and
// MLP), from the config: the prefill FLOP count is twice this (the lm_head
// runs for the chunk's last row only).
double MatrixParams(const model::ModelConfig& c) {
  const double hidden = c.hidden_size;
  const double q = static_cast<double>(c.num_heads) * c.head_dim;
  const double kv = static_cast<double>(c.num_kv_heads) * c.head_dim;
  const double per_layer =
      hidden * (2 * q + 2 * kv) + 3 * hidden * c.intermediate_size;
  return c.num_layers * per_layer;
}

// Random English-looking filler from a fixed word list.
class Filler {
 public:
  explicit Filler(uint32_t seed) : rng_(seed) {}
  std::string Words(int n) {
    static const char* words[] = {
        "energy",  "cell",  "law",    "market",  "theory", "river", "number",
        "protein", "court", "signal", "history", "force",  "value", "system"};
    std::string s;
    for (int i = 0; i < n; ++i)
      absl::StrAppend(&s, i ? " " : "", words[rng_() % 14]);
    return s;
  }

 private:
  std::mt19937 rng_;
};

// GSM8K-shaped 5-shot prompts: a shared prefix of five worked examples, then
// the question.
std::vector<runners::GenerateRequest> GsmShaped(int n, int max_new_tokens,
                                                Filler* f) {
  std::string prefix;
  for (int shot = 0; shot < 5; ++shot) {
    absl::StrAppend(&prefix, "Question: ", f->Words(45),
                    "?\nAnswer: ", f->Words(70), ". The answer is ",
                    17 * shot + 3, ".\n\n");
  }
  std::vector<runners::GenerateRequest> out;
  for (int i = 0; i < n; ++i) {
    runners::GenerateRequest g;
    g.prompt = absl::StrCat(prefix, "Question: ", f->Words(40), "?\nAnswer:");
    g.max_new_tokens = max_new_tokens;
    g.stop = {"Question:", "</s>", "<|im_end|>"};
    out.push_back(std::move(g));
  }
  return out;
}

struct GenerateFigures {
  double wall = 0;
  int64_t generated = 0;
  int failed = 0;
};

GenerateFigures RunGenerate(
    runners::Runner* runner,
    const std::vector<runners::GenerateRequest>& requests) {
  GenerateFigures f;
  const int64_t before = runner->stats().generated_tokens;
  const auto t0 = Clock::now();
  absl::Status s = runner->Generate(
      requests, {}, [&](size_t, absl::StatusOr<runners::GenerateResult> r) {
        if (!r.ok()) ++f.failed;
      });
  f.wall = Seconds(t0, Clock::now());
  if (!s.ok()) f.failed = static_cast<int>(requests.size());
  f.generated = runner->stats().generated_tokens - before;
  return f;
}

// A runner of its own on the GPU with a fixed KV pool of `kv_bytes`.
absl::StatusOr<std::unique_ptr<runners::Runner>> SoloRunner(
    const std::string& dir, size_t kv_bytes) {
  runners::native::NativeRunnerOptions ro;
  ro.model_dir = dir;
  ro.device = model::Device::kCuda;
  ro.kv_cache_bytes = kv_bytes;
  ro.max_batch_tokens = 8192;
  return runners::native::CreateNativeRunner(ro);
}

std::vector<int32_t> Blocks(int first, int count) {
  std::vector<int32_t> b(count);
  for (int i = 0; i < count; ++i) b[i] = first + i;
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  int decode_steps = 64;
  int questions = 14042;
  int gsm8k = 1319;
  std::string judge_dir;
  int judge_prompts = 256;
  bool fast_gemm = false;
  bool tiled_attention = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (flag == "--model") {
      model_dir = value();
    } else if (flag == "--decode") {
      if (!absl::SimpleAtoi(value(), &decode_steps))
        return Fail("--decode: not a number");
    } else if (flag == "--questions") {
      if (!absl::SimpleAtoi(value(), &questions))
        return Fail("--questions: not a number");
    } else if (flag == "--gsm8k") {
      if (!absl::SimpleAtoi(value(), &gsm8k))
        return Fail("--gsm8k: not a number");
    } else if (flag == "--judge") {
      judge_dir = value();
    } else if (flag == "--judge-prompts") {
      if (!absl::SimpleAtoi(value(), &judge_prompts))
        return Fail("--judge-prompts: not a number");
    } else if (flag == "--fast-gemm") {
      fast_gemm = true;
    } else if (flag == "--tiled-attention") {
      tiled_attention = true;
    } else {
      return Fail("unknown flag " + flag);
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF,
               0);  // lines appear even if the run is cut short
  if (model_dir.empty()) {
    return Fail(
        "usage: evald-cuda-bench --model DIR [--decode N] [--questions N] "
        "[--gsm8k N] "
        "[--judge DIR [--judge-prompts N]] [--fast-gemm] [--tiled-attention]");
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess)
    return Fail("no usable GPU");
  std::printf("device: %s\n", prop.name);
  const double bw = CopyBandwidth();
  const double peak = GemmPeak(8192);
  std::printf(
      "yardsticks: d2d copy %.0f GB/s, fp16 gemm (8192^3) %.1f TFLOP/s\n",
      bw / 1e9, peak / 1e12);

  model::LoadOptions options{.device = model::Device::kCuda,
                             .batch_invariant = !fast_gemm};
  options.tiled_attention = tiled_attention;
  const auto t_load = Clock::now();
  auto model = model::Model::Load(model_dir, options);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  const model::ModelConfig& c = (*model)->config();
  std::printf(
      "model: %s, %d layers, hidden %d, %.2f GB of weights on %s, loaded in "
      "%.1f s, gemm %s\n",
      model_dir.c_str(), c.num_layers, c.hidden_size,
      (*model)->weight_bytes() / 1e9, (*model)->backend().c_str(),
      Seconds(t_load, Clock::now()),
      fast_gemm ? "heuristic per shape" : "batch-invariant");
  if (tiled_attention)
    std::printf("attention: tiled (query rows in tiles share each K/V load)\n");
  // Every weight is read once per decoded token but the embedding table, of
  // which one row is.
  const double embed_bytes = 2.0 * c.vocab_size * c.hidden_size;
  const double bytes_per_token = (*model)->weight_bytes() - embed_bytes;
  const double matrix_params = MatrixParams(c);

  auto kv = (*model)->AllocateKvCache(512);
  if (!kv.ok()) return Fail(std::string(kv.status().message()));
  std::mt19937 rng(1);
  std::vector<int32_t> tokens(2048 + decode_steps);
  for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % c.vocab_size);

  // Prefill: one 2048-token chunk, logits of the last row only.
  {
    const std::vector<int32_t> table = Blocks(1, 128);
    model::SeqChunk chunk;
    chunk.tokens = absl::MakeConstSpan(tokens.data(), 2048);
    chunk.block_table = table;
    chunk.logit_rows = {2047};
    model::ForwardOutput out;
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = Clock::now();
      absl::Status s = (*model)->Forward({&chunk, 1}, kv->get(), &out);
      if (!s.ok()) return Fail(std::string(s.message()));
      best = std::min(best, Seconds(t0, Clock::now()));
    }
    const double tps = 2048 / best;
    const double flops = 2.0 * matrix_params * tps;
    std::printf(
        "prefill: %.0f tokens/s, %.1f TFLOP/s = %.2f of the gemm peak\n", tps,
        flops / 1e12, flops / peak);
  }
  // Decode at batch 1 after 512 prompt tokens.
  if (decode_steps > 0) {
    const std::vector<int32_t> table = Blocks(200, 64);
    model::SeqChunk chunk;
    chunk.tokens = absl::MakeConstSpan(tokens.data(), 512);
    chunk.block_table = table;
    chunk.logit_rows = {511};
    model::ForwardOutput out;
    absl::Status s = (*model)->Forward({&chunk, 1}, kv->get(), &out);
    if (!s.ok()) return Fail(std::string(s.message()));
    const auto t0 = Clock::now();
    for (int i = 0; i < decode_steps; ++i) {
      chunk.tokens = absl::MakeConstSpan(tokens.data() + 512 + i, 1);
      chunk.start_pos = 512 + i;
      chunk.logit_rows = {0};
      s = (*model)->Forward({&chunk, 1}, kv->get(), &out);
      if (!s.ok()) return Fail(std::string(s.message()));
    }
    const double tps = decode_steps / Seconds(t0, Clock::now());
    const double roofline = bw / bytes_per_token;
    std::printf(
        "decode (batch 1): %.1f tokens/s (%.2f ms/token); roofline %.1f "
        "tokens/s; %.2f of it\n",
        tps, 1000 / tps, roofline, tps / roofline);
  }
  model->reset();
  kv->reset();

  // The MMLU-shaped workload through the runner (prefix cache on).
  if (questions > 0) {
    auto runner = SoloRunner(model_dir, size_t{8} << 30);
    if (!runner.ok()) return Fail(std::string(runner.status().message()));
    Filler filler(2);
    auto sentence = [&](int n) { return filler.Words(n); };
    std::vector<runners::LoglikelihoodRequest> requests;
    const int subjects = 57;
    for (int sub = 0; sub < subjects; ++sub) {
      std::string prefix = absl::StrCat(
          "The following are multiple choice questions (with answers) about "
          "subject ",
          sub, ".\n\n");
      for (int shot = 0; shot < 5; ++shot) {
        absl::StrAppend(&prefix, sentence(40), "?\nA. ", sentence(4), "\nB. ",
                        sentence(4), "\nC. ", sentence(4), "\nD. ", sentence(4),
                        "\nAnswer: B\n\n");
      }
      const int n = questions / subjects + (sub < questions % subjects ? 1 : 0);
      for (int q = 0; q < n; ++q) {
        const std::string context = absl::StrCat(
            prefix, sentence(30), "?\nA. ", sentence(4), "\nB. ", sentence(4),
            "\nC. ", sentence(4), "\nD. ", sentence(4), "\nAnswer:");
        for (const char* choice : {" A", " B", " C", " D"})
          requests.push_back({context, choice});
      }
    }
    const auto t0 = Clock::now();
    int failed = 0;
    absl::Status s = (*runner)->Loglikelihood(
        requests, {},
        [&](size_t, absl::StatusOr<runners::LoglikelihoodResult> r) {
          if (!r.ok()) ++failed;
        });
    const double wall = Seconds(t0, Clock::now());
    if (!s.ok()) return Fail(std::string(s.message()));
    const runners::RunnerStats st = (*runner)->stats();
    std::printf(
        "mmlu-shaped: %d questions (%zu requests, %d failed) in %.1f s wall; "
        "%lld prompt tokens, "
        "%.1f%% from the prefix cache\n",
        questions, requests.size(), failed, wall,
        static_cast<long long>(st.prompt_tokens),
        100.0 * st.cached_prompt_tokens /
            std::max<int64_t>(1, st.prompt_tokens));
  }

  // The GSM8K-shaped workload: greedy generation, prefix cache on.
  if (gsm8k > 0) {
    auto runner = SoloRunner(model_dir, size_t{16} << 30);
    if (!runner.ok()) return Fail(std::string(runner.status().message()));
    Filler filler(3);
    const GenerateFigures f =
        RunGenerate(runner->get(), GsmShaped(gsm8k, 256, &filler));
    const runners::RunnerStats st = (*runner)->stats();
    std::printf(
        "gsm8k-shaped: %d generations (%d failed) in %.1f s wall; %lld tokens "
        "generated "
        "(%.0f tokens/s); %.1f%% of prompt tokens from the prefix cache\n",
        gsm8k, f.failed, f.wall, static_cast<long long>(f.generated),
        f.generated / f.wall,
        100.0 * st.cached_prompt_tokens /
            std::max<int64_t>(1, st.prompt_tokens));
  }

  // Candidate and judge resident together on one budget; the judge grades
  // (prefill of a long prompt, a short verdict) while the candidate
  // generates, the two engines taking forward steps in turn.
  if (!judge_dir.empty()) {
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    planner::KvBudget budget(static_cast<int64_t>(total_bytes) -
                             planner::kCudaContextReserve);
    runners::native::NativeRunnerOptions ro;
    ro.device = model::Device::kCuda;
    ro.max_batch_tokens = 8192;
    ro.max_context = 4096;
    ro.kv_budget = &budget;
    ro.model_dir = model_dir;
    const auto t_load = Clock::now();
    auto candidate = runners::native::CreateNativeRunner(ro);
    if (!candidate.ok())
      return Fail("candidate: " + std::string(candidate.status().message()));
    ro.model_dir = judge_dir;
    auto judge = runners::native::CreateNativeRunner(ro);
    if (!judge.ok())
      return Fail("judge: " + std::string(judge.status().message()));
    cudaMemGetInfo(&free_bytes, &total_bytes);
    std::printf(
        "co-resident: candidate %.2f GB + judge %.2f GB resident, loaded in "
        "%.1f s; "
        "device memory in use %.2f of %.2f GB\n",
        (*candidate)->resident_bytes() / 1e9, (*judge)->resident_bytes() / 1e9,
        Seconds(t_load, Clock::now()), (total_bytes - free_bytes) / 1e9,
        total_bytes / 1e9);
    Filler filler(4);
    const std::vector<runners::GenerateRequest> answers =
        GsmShaped(judge_prompts, 256, &filler);
    std::vector<runners::GenerateRequest> verdicts;
    for (int i = 0; i < judge_prompts; ++i) {
      runners::GenerateRequest g;
      g.prompt = absl::StrCat(
          "[Instruction]\nPlease act as an impartial judge and rate the answer "
          "on a scale of 1 to 10.\n\n[Question]\n",
          filler.Words(60), "\n\n[The Start of Assistant's Answer]\n",
          filler.Words(300), "\n[The End of Assistant's Answer]\n");
      g.max_new_tokens = 64;
      verdicts.push_back(std::move(g));
    }
    GenerateFigures cand, judged;
    const auto t0 = Clock::now();
    std::thread grader([&] { judged = RunGenerate(judge->get(), verdicts); });
    cand = RunGenerate(candidate->get(), answers);
    grader.join();
    const double wall = Seconds(t0, Clock::now());
    const runners::RunnerStats cs = (*candidate)->stats(),
                               js = (*judge)->stats();
    std::printf(
        "co-resident: %.1f s wall; candidate %d answers, %lld tokens in %.1f s "
        "(%.0f tokens/s, "
        "%d failed); judge %d verdicts, %lld tokens in %.1f s (%d failed); "
        "busy %.1f + %.1f s; "
        "kv borrowed %.2f + %.2f GB over guaranteed %.2f + %.2f GB\n",
        wall, judge_prompts, static_cast<long long>(cand.generated), cand.wall,
        cand.generated / cand.wall, cand.failed, judge_prompts,
        static_cast<long long>(judged.generated), judged.wall, judged.failed,
        cs.busy_seconds, js.busy_seconds, cs.kv_grown_bytes / 1e9,
        js.kv_grown_bytes / 1e9, cs.kv_min_bytes / 1e9, js.kv_min_bytes / 1e9);
  }
  return 0;
}
