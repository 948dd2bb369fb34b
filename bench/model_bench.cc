// evald-model-bench: CPU forward-pass throughput against yardsticks measured
// in the same run.
//
//   prefill: tokens/s and GFLOP/s of one long chunk, against the FP32 SGEMM
//            peak of OpenBLAS (cblas_sgemm, 2048^3) on this machine;
//   decode:  tokens/s at batch 1 and weight bytes streamed per second,
//            against a multi-threaded memory read-bandwidth probe.
//
//   evald-model-bench [--model DIR] [--threads N] [--prefill N] [--decode N]
//
// Without --model it writes (once) a random-weight Llama-3.2-1B-shaped BF16
// checkpoint to /tmp/evald-bench-llama-3.2-1b.
#include <cblas.h>
// GCC 12 flags the placeholders inside its own AVX-512 intrinsics (a
// compiler bug); nothing here reads uninitialized data.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "base/file.h"
#include "runners/native/cpu/cpu_gemm.h"
#include "runners/native/cpu/thread_pool.h"
#include "runners/native/model/model.h"
#include "runners/native/testing/checkpoint_writer.h"

namespace cpu = ::evald::runners::native::cpu;
namespace model = ::evald::runners::native::model;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double SgemmPeakGflops() {
  const int n = 2048;
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f),
      c(a.size());
  double best = 1e30;
  for (int rep = 0; rep < 4; ++rep) {
    const auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f,
                a.data(), n, b.data(), n, 0.0f, c.data(), n);
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  return 2.0 * n * n * n / best / 1e9;
}

__attribute__((target("avx512f"))) float SumRange(const float* p, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  for (int64_t i = 0; i + 64 <= n; i += 64) {
    acc0 = _mm512_add_ps(acc0, _mm512_loadu_ps(p + i));
    acc1 = _mm512_add_ps(acc1, _mm512_loadu_ps(p + i + 16));
    acc2 = _mm512_add_ps(acc2, _mm512_loadu_ps(p + i + 32));
    acc3 = _mm512_add_ps(acc3, _mm512_loadu_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(
      _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// Read bandwidth over a 1 GiB buffer with the model's thread count.
double ReadBandwidthGBs(cpu::ThreadPool* pool) {
  const int64_t n = (1ll << 30) / sizeof(float);
  std::vector<float> buf(n, 1.0f);
  double best = 1e30;
  std::vector<float> sink(pool->size());
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
    pool->ParallelFor(pool->size(), [&](int64_t t) {
      const int64_t begin = n * t / pool->size(),
                    end = n * (t + 1) / pool->size();
      sink[t] = SumRange(buf.data() + begin, end - begin);
    });
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  if (sink[0] < 0) std::printf("(impossible)\n");
  return static_cast<double>(n) * sizeof(float) / best / 1e9;
}

int Usage() {
  std::fprintf(stderr,
               "usage: evald-model-bench [--model DIR] [--threads N] "
               "[--prefill N] [--decode N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  int threads = 0, prefill = 512, decode = 32;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return Usage();
    const std::string value = argv[++i];
    bool ok = true;
    if (flag == "--model") {
      model_dir = value;
    } else if (flag == "--threads") {
      ok = absl::SimpleAtoi(value, &threads);
    } else if (flag == "--prefill") {
      ok = absl::SimpleAtoi(value, &prefill) && prefill > 0;
    } else if (flag == "--decode") {
      ok = absl::SimpleAtoi(value, &decode) && decode > 0;
    } else {
      ok = false;
    }
    if (!ok) return Usage();
  }
  if (model_dir.empty()) {
    model_dir = "/tmp/evald-bench-llama-3.2-1b";
    if (!evald::base::PathExists(model_dir + "/config.json")) {
      std::printf("writing a Llama-3.2-1B-shaped BF16 checkpoint to %s ...\n",
                  model_dir.c_str());
      auto spec =
          evald::runners::native::testing::CheckpointPreset("llama-3.2-1b");
      absl::Status st =
          evald::runners::native::testing::WriteCheckpoint(*spec, model_dir);
      if (!st.ok()) {
        std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
        return 1;
      }
    }
  }
  model::LoadOptions options;
  options.num_threads = threads;
  auto model_or = model::Model::Load(model_dir, options);
  if (!model_or.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(model_or.status().message()).c_str());
    return 1;
  }
  model::Model& model = **model_or;
  const model::ModelConfig& c = model.config();
  cpu::ThreadPool pool(threads);
  std::printf(
      "model %s: %s hidden %d layers %d heads %d/%d vocab %d, %.2f GB weights, "
      "%d threads, "
      "kernels %s\n",
      model_dir.c_str(), c.architecture.c_str(), c.hidden_size, c.num_layers,
      c.num_heads, c.num_kv_heads, c.vocab_size, model.weight_bytes() / 1e9,
      pool.size(), cpu::GemmIsa());

  // Matrix parameters per layer that one token reads (for MoE layers: the
  // router, the experts_per_token experts it is routed to and any shared
  // expert, not the idle experts), averaged over the layers, and the lm_head.
  const double hd = c.head_dim;
  double ffn_params = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    if (!model::IsMoeLayer(c, l)) {
      ffn_params += 3.0 * c.hidden_size * c.intermediate_size;
      continue;
    }
    const model::MoeConfig& m = c.moe;
    ffn_params += static_cast<double>(c.hidden_size) *
                  (m.num_experts +
                   3.0 * m.experts_per_token * m.expert_intermediate_size);
    if (m.shared_expert_intermediate_size > 0) {
      ffn_params +=
          c.hidden_size * (3.0 * m.shared_expert_intermediate_size + 1);
    }
  }
  const double attn_params =
      c.hidden_size * hd * (2.0 * c.num_heads + 2.0 * c.num_kv_heads);
  const double layer_params = attn_params + ffn_params / c.num_layers;
  const double head_params = static_cast<double>(c.vocab_size) * c.hidden_size;
  const double dtype_bytes = c.torch_dtype == "float32" ? 4.0 : 2.0;
  if (c.moe.num_experts > 0) {
    // What one decode token reads, part by part, so the bytes/s below can be
    // checked: the idle experts are not counted.
    double router = 0, experts = 0, shared = 0, dense = 0;
    const model::MoeConfig& m = c.moe;
    for (int l = 0; l < c.num_layers; ++l) {
      if (!model::IsMoeLayer(c, l)) {
        dense += 3.0 * c.hidden_size * c.intermediate_size;
        continue;
      }
      router += static_cast<double>(c.hidden_size) * m.num_experts;
      experts += 3.0 * c.hidden_size * m.experts_per_token *
                 m.expert_intermediate_size;
      if (m.shared_expert_intermediate_size > 0)
        shared += c.hidden_size * (3.0 * m.shared_expert_intermediate_size + 1);
    }
    const double all_experts = experts * m.num_experts / m.experts_per_token;
    std::printf(
        "moe: %d of %d experts per token counted as read; per token: "
        "attention %.1f MB, router %.2f MB, experts %.1f MB (all %d: %.1f "
        "MB), shared experts %.1f MB, dense MLPs %.1f MB, lm_head %.1f MB\n",
        m.experts_per_token, m.num_experts,
        attn_params * c.num_layers * dtype_bytes / 1e6,
        router * dtype_bytes / 1e6, experts * dtype_bytes / 1e6, m.num_experts,
        all_experts * dtype_bytes / 1e6, shared * dtype_bytes / 1e6,
        dense * dtype_bytes / 1e6, head_params * dtype_bytes / 1e6);
  }

  const int total = prefill + decode;
  const int blocks_needed =
      (total + model::kKvBlockSize - 1) / model::kKvBlockSize;
  auto kv = model.AllocateKvCache(blocks_needed);
  std::vector<int32_t> blocks(blocks_needed);
  for (int i = 0; i < blocks_needed; ++i) blocks[i] = i;
  std::vector<int32_t> tokens(total);
  for (int i = 0; i < total; ++i) tokens[i] = (i * 7919 + 13) % c.vocab_size;

  // Warm the page cache and the pool with a short pass.
  model::ForwardOutput out;
  {
    model::SeqChunk warm{
        absl::MakeConstSpan(tokens.data(), 16), 0, blocks, {15}};
    (void)model.Forward({warm}, kv->get(), &out);
  }

  const double sgemm = SgemmPeakGflops();
  model::SeqChunk pre{
      absl::MakeConstSpan(tokens.data(), prefill), 0, blocks, {prefill - 1}};
  auto t0 = Clock::now();
  absl::Status st = model.Forward({pre}, kv->get(), &out);
  const double prefill_s = Seconds(t0, Clock::now());
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return 1;
  }
  const double attn_flops =
      4.0 * c.num_layers * c.num_heads * hd * prefill * (prefill + 1) / 2.0;
  const double prefill_flops = 2.0 * layer_params * c.num_layers * prefill +
                               attn_flops + 2.0 * head_params;
  const double prefill_gflops = prefill_flops / prefill_s / 1e9;
  std::printf("prefill: %d tokens in %.3f s = %.1f tok/s, %.1f GFLOP/s\n",
              prefill, prefill_s, prefill / prefill_s, prefill_gflops);
  std::printf(
      "sgemm peak (OpenBLAS 2048^3): %.1f GFLOP/s -> prefill ratio %.2f (goal "
      ">= 0.5)\n",
      sgemm, prefill_gflops / sgemm);
  const std::vector<float> fp32_last = out.logits.at(0);

  // The opt-in BF16-activation path on the same prompt, and how far its
  // last-position log-probabilities move.
  if (cpu::Bf16ActivationsSupported() && c.torch_dtype == "bfloat16") {
    model::LoadOptions bf16_options = options;
    bf16_options.bf16_activations = true;
    auto fast = model::Model::Load(model_dir, bf16_options);
    auto fast_kv =
        fast.ok()
            ? (*fast)->AllocateKvCache(blocks_needed)
            : absl::StatusOr<std::unique_ptr<model::KvCache>>(fast.status());
    if (fast_kv.ok()) {
      model::ForwardOutput fast_out;
      // Its own mapping of the weights: fault the pages in before timing.
      model::SeqChunk warm{
          absl::MakeConstSpan(tokens.data(), 16), 0, blocks, {15}};
      (void)(*fast)->Forward({warm}, fast_kv->get(), &fast_out);
      t0 = Clock::now();
      st = (*fast)->Forward({pre}, fast_kv->get(), &fast_out);
      const double fast_s = Seconds(t0, Clock::now());
      if (st.ok()) {
        auto log_softmax = [](const std::vector<float>& v) {
          double mx = -1e300, sum = 0;
          for (float x : v) mx = std::max(mx, static_cast<double>(x));
          for (float x : v) sum += std::exp(x - mx);
          std::vector<double> r(v.size());
          for (size_t i = 0; i < v.size(); ++i)
            r[i] = v[i] - mx - std::log(sum);
          return r;
        };
        const auto a = log_softmax(fp32_last),
                   b = log_softmax(fast_out.logits.at(0));
        double max_diff = 0;
        for (size_t i = 0; i < a.size(); ++i)
          max_diff = std::max(max_diff, std::fabs(a[i] - b[i]));
        std::printf(
            "prefill, bf16 activations (opt-in): %.1f tok/s, %.1f GFLOP/s, "
            "ratio %.2f; "
            "max |dlogprob| vs fp32 path at the last position %.3g\n",
            prefill / fast_s, prefill_flops / fast_s / 1e9,
            prefill_flops / fast_s / 1e9 / sgemm, max_diff);
      }
    }
  }

  const double bandwidth = ReadBandwidthGBs(&pool);
  t0 = Clock::now();
  for (int i = 0; i < decode; ++i) {
    model::SeqChunk step{absl::MakeConstSpan(tokens.data() + prefill + i, 1),
                         prefill + i,
                         blocks,
                         {0}};
    st = model.Forward({step}, kv->get(), &out);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  const double decode_s = Seconds(t0, Clock::now());
  const double bytes_per_token =
      (layer_params * c.num_layers + head_params) * dtype_bytes;
  const double decode_gbs = bytes_per_token * decode / decode_s / 1e9;
  const double bandwidth_after = ReadBandwidthGBs(&pool);
  std::printf(
      "decode: %d tokens in %.3f s = %.2f tok/s, %.1f GB/s of weights (%.2f "
      "GB/token)\n",
      decode, decode_s, decode / decode_s, decode_gbs, bytes_per_token / 1e9);
  std::printf(
      "read bandwidth probe: %.1f GB/s before, %.1f GB/s after -> decode ratio "
      "%.2f "
      "(goal >= 0.6)\n",
      bandwidth, bandwidth_after,
      decode_gbs / std::max(bandwidth, bandwidth_after));
  return 0;
}
