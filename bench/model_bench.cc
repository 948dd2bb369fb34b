// File: bench/model_bench.cc
// -----------------------------------------------------------------------------
// evald-model-bench: CPU forward-pass throughput against yardsticks measured
// in the same run.
//
//   machine: the CPU features the kernels use, OpenBLAS's core type and
//            thread count, the BF16 dot-product peak (a tight vdpbf16ps loop,
//            one thread and all threads; only where cpuid has avx512_bf16)
//            and OpenBLAS's SGEMM (2048^3) with the thread count set;
//   prefill: tokens/s and GFLOP/s of one long chunk against those peaks;
//   decode:  tokens/s at batch 1 and weight bytes streamed per second,
//            against a multi-threaded memory read-bandwidth probe;
//   --ops:   where one decode step's time goes: each product of a layer
//            (q/k/v, o, gate/up, down) and the lm_head on synthetic weights of
//            the model's shapes and dtype, attention at the prefill length,
//            the norms and RoPE, and the thread pool's hand-off, with one
//            thread and with all of them.
//
//   evald-model-bench [--model DIR] [--threads N] [--prefill N] [--decode N]
//                     [--ops] [--short]
//
// Without --model it writes (once) a random-weight Llama-3.2-1B-shaped BF16
// checkpoint to /tmp/evald-bench-llama-3.2-1b. --short is the smoke run CI
// uses (a tiny model in a temporary folder, small yardsticks, every section,
// a few seconds; it checks that the benchmark runs, not how fast).
//
// Where batch-1 decode time goes, measured with perf record and --ops, is
// tabulated in bench/README.md.
#include <cblas.h>
// GCC 12 flags the placeholders inside its own AVX-512 intrinsics (a
// compiler bug); nothing here reads uninitialized data.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "base/file.h"
#include "runners/native/cpu/cpu_gemm.h"
#include "runners/native/cpu/cpu_ops.h"
#include "runners/native/cpu/thread_pool.h"
#include "runners/native/model/dtype.h"
#include "runners/native/model/model.h"
#include "runners/native/testing/checkpoint_writer.h"

namespace cpu = ::evald::runners::native::cpu;
namespace model = ::evald::runners::native::model;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// User + system CPU time of the whole process so far.
double CpuSeconds() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

bool HasAvx512() { return __builtin_cpu_supports("avx512f") != 0; }
bool HasAvx512Bf16() {
  return HasAvx512() && __builtin_cpu_supports("avx512bf16") != 0;
}

double SgemmGflops(int n) {
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

// A tight loop of independent vdpbf16ps on registers: 24 accumulators hide
// the latency; each instruction is 32 multiply-adds (64 flops). Nothing but
// the dot products may sit in the loop (an asm barrier on the accumulators
// made GCC store them every iteration, halving the rate).
constexpr int kDpAcc = 24;
__attribute__((target("avx512f,avx512bf16"))) double Bf16DotFlops(int64_t iters,
                                                                  float* sink) {
  __m512 acc[kDpAcc];
  for (int i = 0; i < kDpAcc; ++i)
    acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));
  const __m512bh b = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3c00));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kDpAcc; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kDpAcc; ++i) s = _mm512_add_ps(s, acc[i]);
  *sink = _mm512_reduce_add_ps(s);
  return static_cast<double>(iters) * kDpAcc * 64;
}

// GFLOP/s of the vdpbf16ps loop on `threads` threads of `pool` (1: the
// caller alone).
double Bf16PeakGflops(cpu::ThreadPool* pool, int threads, int64_t iters) {
  std::vector<float> sink(16 * threads);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    if (threads == 1) {
      Bf16DotFlops(iters, &sink[0]);
    } else {
      // Many short chunks, so that a worker still waking up takes its share
      // rather than leaving every chunk to the caller.
      pool->ParallelFor(16 * threads,
                        [&](int64_t t) { Bf16DotFlops(iters / 16, &sink[t]); });
    }
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  return static_cast<double>(iters) * kDpAcc * 64 * threads / best / 1e9;
}

__attribute__((target("avx512f"))) float SumRangeAvx512(const float* p,
                                                        int64_t n) {
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

float SumRangePortable(const float* p, int64_t n) {
  float acc[8] = {};
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += p[i + j];
  }
  float s = 0;
  for (float a : acc) s += a;
  return s;
}

// Read bandwidth over a buffer of `bytes` with the pool's thread count.
double ReadBandwidthGBs(cpu::ThreadPool* pool, int64_t bytes) {
  const int64_t n = bytes / static_cast<int64_t>(sizeof(float));
  std::vector<float> buf(n, 1.0f);
  double best = 1e30;
  std::vector<float> sink(pool->size());
  const bool avx512 = HasAvx512();
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
    pool->ParallelFor(pool->size(), [&](int64_t t) {
      const int64_t begin = n * t / pool->size(),
                    end = n * (t + 1) / pool->size();
      sink[t] = avx512 ? SumRangeAvx512(buf.data() + begin, end - begin)
                       : SumRangePortable(buf.data() + begin, end - begin);
    });
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  if (sink[0] < 0) std::printf("(impossible)\n");
  return static_cast<double>(n) * sizeof(float) / best / 1e9;
}

// ---- --ops: one decode step, part by part ----------------------------------

// Synthetic weights of one product, in the model's dtype.
struct OwnedMatrix {
  std::vector<uint16_t> bf16;
  std::vector<float> f32;
  model::WeightMatrix w;
};

OwnedMatrix RandomMatrix(int64_t rows, int64_t cols, bool bf16,
                         std::mt19937* rng) {
  OwnedMatrix m;
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  const size_t n = static_cast<size_t>(rows) * cols;
  if (bf16) {
    m.bf16.resize(n);
    for (size_t i = 0; i < n; ++i) m.bf16[i] = model::FloatToBf16(u(*rng));
    m.w.dtype = model::DType::kBF16;
    m.w.data = m.bf16.data();
  } else {
    m.f32.resize(n);
    for (size_t i = 0; i < n; ++i) m.f32[i] = u(*rng);
    m.w.dtype = model::DType::kF32;
    m.w.data = m.f32.data();
  }
  m.w.rows = rows;
  m.w.cols = cols;
  return m;
}

struct LayerSet {
  OwnedMatrix q, k, v, o, gate, up, down;
};

// Times each part of a decode step as the forward pass calls it, cycling
// through `copies` synthetic layers so that every product streams from
// memory (the copies together are far larger than the last-level cache).
void DecodeOps(const model::ModelConfig& c, int threads, int prefill,
               bool is_short) {
  const bool bf16 = c.torch_dtype != "float32";
  const int64_t hidden = c.hidden_size, inter = c.intermediate_size;
  const int64_t q_dim = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  const int64_t esize = bf16 ? 2 : 4;
  const int64_t layer_bytes =
      (hidden * (q_dim + 2 * kv_dim) + q_dim * hidden + 3 * hidden * inter) *
      esize;
  // At least 4 copies and 256 MB, at most 8 copies.
  const int copies = static_cast<int>(std::clamp<int64_t>(
      (256ll << 20) / std::max<int64_t>(1, layer_bytes) + 1, 4, 8));
  std::mt19937 rng(7);
  std::vector<LayerSet> layers(copies);
  for (LayerSet& l : layers) {
    l.q = RandomMatrix(q_dim, hidden, bf16, &rng);
    l.k = RandomMatrix(kv_dim, hidden, bf16, &rng);
    l.v = RandomMatrix(kv_dim, hidden, bf16, &rng);
    l.o = RandomMatrix(hidden, q_dim, bf16, &rng);
    l.gate = RandomMatrix(inter, hidden, bf16, &rng);
    l.up = RandomMatrix(inter, hidden, bf16, &rng);
    l.down = RandomMatrix(hidden, inter, bf16, &rng);
  }
  OwnedMatrix head = RandomMatrix(c.vocab_size, hidden, bf16, &rng);
  std::vector<float> x(std::max(hidden, inter), 0.01f), norm_w(hidden, 1.0f);
  std::vector<float> yq(q_dim), yk(kv_dim), yv(kv_dim), yo(hidden), yg(inter),
      yu(inter), yd(hidden), logits(c.vocab_size);
  // Attention over `prefill` cached positions: one sequence, blocks in order.
  const int positions = std::max(1, prefill);
  const int blocks =
      (positions + model::kKvBlockSize - 1) / model::kKvBlockSize;
  std::vector<float> kc(
      static_cast<size_t>(blocks) * model::kKvBlockSize * kv_dim, 0.01f),
      vc(kc.size(), 0.02f), att(q_dim);
  std::vector<int32_t> table(blocks);
  for (int b = 0; b < blocks; ++b) table[b] = b;
  const cpu::AttentionRow arow{positions - 1, table.data(), 0};
  const cpu::AttentionShape shape{c.num_heads, c.num_kv_heads, c.head_dim};
  const int half = c.head_dim / 2;
  std::vector<float> cs(half, 0.5f), sn(half, 0.5f);

  const int reps = is_short ? 2 : 3 * copies;
  constexpr int kHandOffs = 1000;
  std::printf(
      "decode ops (synthetic %s weights of the model's shapes, %d layer "
      "copies; best of %d, us per call):\n",
      bf16 ? "bf16" : "fp32", copies, reps);
  std::printf("  %-28s %10s %8s %10s %8s\n", "part", "1 thread", "GB/s",
              "threads", "GB/s");
  struct Part {
    const char* name;
    double bytes;      // weight bytes one call reads
    double per_token;  // calls per decode step
    std::function<void(int layer, cpu::ThreadPool* pool)> run;
  };
  std::vector<Part> parts = {
      {"q/k/v (fused step)",
       static_cast<double>(hidden * (q_dim + 2 * kv_dim) * esize),
       static_cast<double>(c.num_layers),
       [&](int l, cpu::ThreadPool* pool) {
         const cpu::MatMulTarget t[] = {{&layers[l].q.w, yq.data()},
                                        {&layers[l].k.w, yk.data()},
                                        {&layers[l].v.w, yv.data()}};
         cpu::MatMulMany(x.data(), 1, t, pool);
       }},
      {"o", static_cast<double>(q_dim * hidden * esize),
       static_cast<double>(c.num_layers),
       [&](int l, cpu::ThreadPool* pool) {
         cpu::MatMulMany(x.data(), 1, {{&layers[l].o.w, yo.data()}}, pool);
       }},
      {"gate/up (fused step)", static_cast<double>(2 * hidden * inter * esize),
       static_cast<double>(c.num_layers),
       [&](int l, cpu::ThreadPool* pool) {
         const cpu::MatMulTarget t[] = {{&layers[l].gate.w, yg.data()},
                                        {&layers[l].up.w, yu.data()}};
         cpu::MatMulMany(x.data(), 1, t, pool);
       }},
      {"down", static_cast<double>(inter * hidden * esize),
       static_cast<double>(c.num_layers),
       [&](int l, cpu::ThreadPool* pool) {
         cpu::MatMulMany(x.data(), 1, {{&layers[l].down.w, yd.data()}}, pool);
       }},
      {"lm_head", static_cast<double>(c.vocab_size) * hidden * esize, 1.0,
       [&](int, cpu::ThreadPool* pool) {
         cpu::MatMulMany(x.data(), 1, {{&head.w, logits.data()}}, pool);
       }},
      {"attention", 2.0 * positions * kv_dim * 4,
       static_cast<double>(c.num_layers),
       [&](int, cpu::ThreadPool* pool) {
         cpu::Attention(x.data(), absl::MakeConstSpan(&arow, 1), kc.data(),
                        vc.data(), shape, att.data(), pool);
       }},
      {"rmsnorm x2 + rope + silu", 0, static_cast<double>(c.num_layers),
       [&](int, cpu::ThreadPool*) {
         cpu::RmsNorm(x.data(), norm_w.data(), hidden, 1e-5f, yo.data());
         cpu::RmsNorm(x.data(), norm_w.data(), hidden, 1e-5f, yd.data());
         cpu::ApplyRope(yq.data(), c.num_heads, c.head_dim, cs.data(),
                        sn.data());
         cpu::ApplyRope(yk.data(), c.num_kv_heads, c.head_dim, cs.data(),
                        sn.data());
         cpu::SiluMul(yg.data(), yu.data(), inter);
       }},
      {"pool hand-off (empty step)", 0, 6.0 * c.num_layers + 1,
       [&](int, cpu::ThreadPool* pool) {
         // The mean of many, reported per hand-off (best of such means).
         for (int i = 0; i < kHandOffs; ++i) {
           pool->ParallelFor(2 * pool->size(), [](int64_t) {});
         }
       }},
  };
  cpu::ThreadPool one(1), all(threads);
  double total1 = 0, total_all = 0;
  for (const Part& p : parts) {
    double best[2] = {1e30, 1e30};
    cpu::ThreadPool* pools[2] = {&one, &all};
    for (int which = 0; which < 2; ++which) {
      for (int r = 0; r < reps; ++r) {
        const int l = r % copies;
        const auto t0 = Clock::now();
        p.run(l, pools[which]);
        best[which] = std::min(best[which], Seconds(t0, Clock::now()));
      }
    }
    if (p.bytes == 0 && p.per_token > c.num_layers) {
      best[0] /= kHandOffs;
      best[1] /= kHandOffs;
    }
    total1 += best[0] * p.per_token;
    total_all += best[1] * p.per_token;
    if (p.bytes > 0) {
      std::printf("  %-28s %10.1f %8.1f %10.1f %8.1f\n", p.name, best[0] * 1e6,
                  p.bytes / best[0] / 1e9, best[1] * 1e6,
                  p.bytes / best[1] / 1e9);
    } else {
      std::printf("  %-28s %10.2f %8s %10.2f %8s\n", p.name, best[0] * 1e6, "",
                  best[1] * 1e6, "");
    }
  }
  std::printf(
      "  sum over one decode step: %.1f ms with 1 thread, %.1f ms with %d "
      "(%.2f / %.2f tok/s)\n",
      total1 * 1e3, total_all * 1e3, all.size(), 1.0 / total1, 1.0 / total_all);
}

int Usage() {
  std::fprintf(stderr,
               "usage: evald-model-bench [--model DIR] [--threads N] "
               "[--prefill N] [--decode N] [--ops] [--short]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  int threads = 0, prefill = 512, decode = 32;
  bool ops = false, is_short = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--ops") {
      ops = true;
      continue;
    }
    if (flag == "--short") {
      is_short = true;
      continue;
    }
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
  std::string temp_dir;
  if (is_short) {
    prefill = std::min(prefill, 24);
    decode = std::min(decode, 4);
    ops = true;
    if (model_dir.empty()) {
      char tmpl[] = "/tmp/evald-model-bench-XXXXXX";
      if (mkdtemp(tmpl) == nullptr) {
        std::fprintf(stderr, "evald-model-bench: cannot make a temp dir\n");
        return 1;
      }
      temp_dir = model_dir = tmpl;
      evald::runners::native::testing::CheckpointSpec spec;
      spec.hidden = 128;
      spec.layers = 2;
      spec.heads = 4;
      spec.kv_heads = 2;
      spec.intermediate = 256;
      spec.vocab = 1024;
      spec.dtype = model::DType::kBF16;
      absl::Status st =
          evald::runners::native::testing::WriteCheckpoint(spec, model_dir);
      if (!st.ok()) {
        std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
        return 1;
      }
    }
  }
  // Removes the --short model on every return below.
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  } cleanup{temp_dir};
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

  // The machine's yardsticks.
  openblas_set_num_threads(pool.size());
  std::printf("cpu: avx512f %s, avx512_bf16 %s; OpenBLAS core %s, %d threads\n",
              HasAvx512() ? "yes" : "no", HasAvx512Bf16() ? "yes" : "no",
              openblas_get_corename(), openblas_get_num_threads());
  if (HasAvx512Bf16()) {
    const int64_t iters = is_short ? 20000 : 4000000;
    const double one = Bf16PeakGflops(&pool, 1, iters);
    const double all = Bf16PeakGflops(&pool, pool.size(), iters);
    std::printf(
        "bf16 dot-product peak (vdpbf16ps loop): %.1f GFLOP/s on 1 thread, "
        "%.1f GFLOP/s on %d\n",
        one, all, pool.size());
  } else {
    std::printf("bf16 dot-product peak: n/a (no avx512_bf16 on this CPU)\n");
  }
  const int sgemm_n = is_short ? 256 : 2048;
  const double sgemm = SgemmGflops(sgemm_n);
  std::printf("sgemm (OpenBLAS %d^3, %d threads): %.1f GFLOP/s\n", sgemm_n,
              openblas_get_num_threads(), sgemm);

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
  if (!kv.ok()) {
    std::fprintf(stderr, "%s\n", std::string(kv.status().message()).c_str());
    return 1;
  }
  std::vector<int32_t> blocks(blocks_needed);
  for (int i = 0; i < blocks_needed; ++i) blocks[i] = i;
  std::vector<int32_t> tokens(total);
  for (int i = 0; i < total; ++i) tokens[i] = (i * 7919 + 13) % c.vocab_size;

  // Warm the page cache and the pool with a short pass.
  model::ForwardOutput out;
  {
    const int warm_len = std::min(16, prefill);
    model::SeqChunk warm{absl::MakeConstSpan(tokens.data(), warm_len),
                         0,
                         blocks,
                         {warm_len - 1}};
    (void)model.Forward({warm}, kv->get(), &out);
  }

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
  std::printf("prefill / sgemm: %.2f (goal >= 0.5)\n", prefill_gflops / sgemm);
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
      const int warm_len = std::min(16, prefill);
      model::SeqChunk warm{absl::MakeConstSpan(tokens.data(), warm_len),
                           0,
                           blocks,
                           {warm_len - 1}};
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
            "/ sgemm %.2f; "
            "max |dlogprob| vs fp32 path at the last position %.3g\n",
            prefill / fast_s, prefill_flops / fast_s / 1e9,
            prefill_flops / fast_s / 1e9 / sgemm, max_diff);
      }
    }
  }

  const int64_t probe_bytes = is_short ? (64ll << 20) : (1ll << 30);
  const double bandwidth = ReadBandwidthGBs(&pool, probe_bytes);
  std::vector<double> step_s(decode);
  const double cpu0 = CpuSeconds();
  t0 = Clock::now();
  for (int i = 0; i < decode; ++i) {
    const auto s0 = Clock::now();
    model::SeqChunk step{absl::MakeConstSpan(tokens.data() + prefill + i, 1),
                         prefill + i,
                         blocks,
                         {0}};
    st = model.Forward({step}, kv->get(), &out);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
      return 1;
    }
    step_s[i] = Seconds(s0, Clock::now());
  }
  const double decode_s = Seconds(t0, Clock::now());
  const double decode_cpu = CpuSeconds() - cpu0;
  std::sort(step_s.begin(), step_s.end());
  const double bytes_per_token =
      (layer_params * c.num_layers + head_params) * dtype_bytes;
  const double decode_gbs = bytes_per_token * decode / decode_s / 1e9;
  const double bandwidth_after = ReadBandwidthGBs(&pool, probe_bytes);
  std::printf(
      "decode: %d tokens in %.3f s = %.2f tok/s, %.1f GB/s of weights (%.2f "
      "GB/token)\n",
      decode, decode_s, decode / decode_s, decode_gbs, bytes_per_token / 1e9);
  // On a shared machine the fastest step and the CPU time per step are
  // steadier than the mean.
  std::printf(
      "decode steps: fastest %.1f ms (%.2f tok/s, %.1f GB/s), median %.1f ms; "
      "%.1f ms CPU time per step over all threads\n",
      step_s.front() * 1e3, 1.0 / step_s.front(),
      bytes_per_token / step_s.front() / 1e9, step_s[decode / 2] * 1e3,
      decode_cpu / decode * 1e3);
  std::printf(
      "read bandwidth probe: %.1f GB/s before, %.1f GB/s after -> decode ratio "
      "%.2f "
      "(goal >= 0.6)\n",
      bandwidth, bandwidth_after,
      decode_gbs / std::max(bandwidth, bandwidth_after));
  if (ops && c.moe.num_experts == 0)
    DecodeOps(c, pool.size(), prefill, is_short);
  return 0;
}
