// File: runners/native/cpu/thread_pool.h
// -----------------------------------------------------------------------------
// A fixed-size pool for the CPU kernels. ParallelFor(n, fn) calls fn(i) once
// for every chunk i in [0, n) on the caller and the workers, and returns when
// all chunks are done. Chunks are claimed dynamically (whoever is free takes
// the next one), which keeps a descheduled worker from stalling a step on a
// shared machine. This cannot change results: the kernels cut their work
// into chunks by output element (columns of a GEMM, (row, head) pairs of
// attention), and an element is computed the same way by any thread.
//
// Thread-safety: ParallelFor calls must not overlap (the model serializes
// Forward). The destructor wakes and joins every worker.
#ifndef EVALD_RUNNERS_NATIVE_CPU_THREAD_POOL_H_
#define EVALD_RUNNERS_NATIVE_CPU_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace evald::runners::native::cpu {

class ThreadPool {
 public:
  // `num_threads` <= 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  // Calls fn(i) for every i in [0, n). REQUIRES: n < 2^31.
  void ParallelFor(int64_t n, const std::function<void(int64_t)>& fn);

  // Splits [0, n) into contiguous ranges whose bounds are multiples of
  // `align` (except the end) - a few per thread - and calls fn(begin, end)
  // for each.
  void ParallelRange(int64_t n, int64_t align,
                     const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void WorkerLoop();
  // Claims and runs chunks of generation `gen` until none is left.
  void Work(uint32_t gen);

  int size_;
  std::vector<std::thread> workers_;
  // (generation << 32) | next chunk index.
  std::atomic<uint64_t> state_{0};
  // (generation << 32) | chunk count, published before state_.
  std::atomic<uint64_t> gen_count_{0};
  std::atomic<const std::function<void(int64_t)>*> task_{nullptr};
  std::atomic<int64_t> done_{0};
  uint32_t generation_ = 0;  // caller side only
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace evald::runners::native::cpu

#endif  // EVALD_RUNNERS_NATIVE_CPU_THREAD_POOL_H_
