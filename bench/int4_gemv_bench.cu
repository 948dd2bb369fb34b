// int4_gemv_bench: AwqMatMul decode throughput at Llama-3.1-70B shapes, as
// achieved GB/s of weight bytes read against a cudaMemcpy device-to-device
// copy measured in the same run (a copy reads and writes, so 2x its bytes).
//
//   int4_gemv_bench [m=1] [iters=50]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "runners/native/cuda/int4_gemm.h"

namespace native_cuda = ::evald::runners::native::cuda;

namespace {

#define CHECK_CUDA(expr)                                              \
  do {                                                                \
    const cudaError_t e = (expr);                                     \
    if (e != cudaSuccess) {                                           \
      std::fprintf(stderr, "%s: %s\n", #expr, cudaGetErrorString(e)); \
      std::exit(1);                                                   \
    }                                                                 \
  } while (0)

double CopyGBs(size_t bytes, int iters) {
  void *a = nullptr, *b = nullptr;
  CHECK_CUDA(cudaMalloc(&a, bytes));
  CHECK_CUDA(cudaMalloc(&b, bytes));
  CHECK_CUDA(cudaMemset(a, 1, bytes));
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  CHECK_CUDA(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
  cudaEventRecord(t0);
  for (int i = 0; i < iters; ++i)
    cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(t1);
  cudaEventSynchronize(t1);
  float ms = 0;
  cudaEventElapsedTime(&ms, t0, t1);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes * iters / (ms * 1e-3) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t m = argc > 1 ? std::atoll(argv[1]) : 1;
  const int iters = argc > 2 ? std::atoi(argv[2]) : 50;
  struct Shape {
    const char* name;
    int64_t rows, cols;
  };
  const Shape shapes[] = {{"qkv 10240x8192", 10240, 8192},
                          {"o 8192x8192", 8192, 8192},
                          {"gate/up 28672x8192", 28672, 8192},
                          {"down 8192x28672", 8192, 28672}};
  const int group = 128;
  const double copy = CopyGBs(size_t{1} << 30, 20);
  std::printf("cudaMemcpy D2D: %.1f GB/s (read + write)\n", copy);
  for (const Shape& s : shapes) {
    const int64_t words = s.rows / 8, groups = s.cols / group;
    int32_t *qw, *qz;
    uint16_t* sc;
    uint16_t* x;  // FP16 bits
    float* y;
    CHECK_CUDA(cudaMalloc(&qw, s.cols * words * 4));
    CHECK_CUDA(cudaMalloc(&qz, groups * words * 4));
    CHECK_CUDA(cudaMalloc(&sc, groups * s.rows * 2));
    CHECK_CUDA(cudaMalloc(&x, m * s.cols * 2));
    CHECK_CUDA(cudaMalloc(&y, m * s.rows * 4));
    CHECK_CUDA(cudaMemset(qw, 0x35, s.cols * words * 4));
    CHECK_CUDA(cudaMemset(qz, 0x77, groups * words * 4));
    CHECK_CUDA(cudaMemset(sc, 0x10, groups * s.rows * 2));
    CHECK_CUDA(cudaMemset(x, 0x3c, m * s.cols * 2));
    const native_cuda::DeviceAwqMatrix w{qw, qz, sc, s.rows, s.cols, group};
    const size_t ws_bytes = native_cuda::AwqWorkspaceBytes(w);
    float* ws = nullptr;
    if (ws_bytes > 0) CHECK_CUDA(cudaMalloc(&ws, ws_bytes));
    CHECK_CUDA(native_cuda::AwqMatMul(w, x, m, y, /*accumulate=*/false, ws,
                                      ws_bytes, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    cudaEvent_t t0, t1;
    cudaEventCreate(&t0);
    cudaEventCreate(&t1);
    cudaEventRecord(t0);
    for (int i = 0; i < iters; ++i) {
      native_cuda::AwqMatMul(w, x, m, y, /*accumulate=*/false, ws, ws_bytes,
                             nullptr);
    }
    cudaEventRecord(t1);
    CHECK_CUDA(cudaEventSynchronize(t1));
    float ms = 0;
    cudaEventElapsedTime(&ms, t0, t1);
    const double bytes =
        s.cols * words * 4.0 + groups * words * 4.0 + groups * s.rows * 2.0;
    const double gbs = bytes * iters / (ms * 1e-3) / 1e9;
    std::printf(
        "%-22s m=%lld  %d K splits  %.3f ms  %.1f GB/s  %.0f%% of copy\n",
        s.name, static_cast<long long>(m), native_cuda::AwqSplits(w),
        ms / iters, gbs, 100.0 * gbs / copy);
    cudaFree(qw);
    cudaFree(qz);
    cudaFree(sc);
    cudaFree(x);
    cudaFree(y);
    cudaFree(ws);
  }
  return 0;
}
