#include "runners/native/cpu/thread_pool.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>

namespace evald::runners::native::cpu {
namespace {

// Polls before a worker sleeps, or before a waiting caller starts yielding.
// Short: on an oversubscribed machine spinning steals the very cycles the
// other threads need.
constexpr int kSpinPolls = 4000;

uint32_t GenOf(uint64_t word) { return static_cast<uint32_t>(word >> 32); }

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  size_ =
      num_threads > 0
          ? num_threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 1; i < size_; ++i)
    workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.store(static_cast<uint64_t>(generation_ + 1) << 32);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Work(uint32_t gen) {
  while (true) {
    uint64_t s = state_.load(std::memory_order_acquire);
    if (GenOf(s) != gen) return;
    const uint64_t gc = gen_count_.load(std::memory_order_acquire);
    if (GenOf(gc) != gen) return;
    const uint64_t count = gc & 0xffffffffu;
    const uint64_t index = s & 0xffffffffu;
    if (index >= count) return;
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel))
      continue;
    // The claim is unfinished, so the caller cannot have moved on: task_
    // still belongs to `gen`.
    (*task_.load(std::memory_order_acquire))(static_cast<int64_t>(index));
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::WorkerLoop() {
  uint32_t seen = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    uint32_t gen = GenOf(state_.load(std::memory_order_acquire));
    for (int spin = 0; gen == seen && spin < kSpinPolls; ++spin) {
      _mm_pause();
      gen = GenOf(state_.load(std::memory_order_acquire));
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      wake_.wait(lock,
                 [&] { return GenOf(state_.load()) != seen || stop_.load(); });
      sleepers_.fetch_sub(1);
      gen = GenOf(state_.load());
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = gen;
    Work(gen);
  }
}

void ThreadPool::ParallelFor(int64_t n,
                             const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  if (size_ == 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  const uint32_t gen = ++generation_;
  task_.store(&fn, std::memory_order_release);
  done_.store(0, std::memory_order_release);
  gen_count_.store((static_cast<uint64_t>(gen) << 32) |
                   static_cast<uint64_t>(n));
  state_.store(static_cast<uint64_t>(gen) << 32);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    wake_.notify_all();
  }
  Work(gen);
  for (int spin = 0; done_.load(std::memory_order_acquire) < n; ++spin) {
    if (spin < kSpinPolls) {
      _mm_pause();
    } else {
      sched_yield();
    }
  }
}

void ThreadPool::ParallelRange(
    int64_t n, int64_t align, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t units = (n + align - 1) / align;
  const int64_t chunks = std::min<int64_t>(units, size_ == 1 ? 1 : 4 * size_);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  ParallelFor(chunks, [&](int64_t c) {
    const int64_t begin = std::min(n, (units * c / chunks) * align);
    const int64_t end = std::min(n, (units * (c + 1) / chunks) * align);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace evald::runners::native::cpu
