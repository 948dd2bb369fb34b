// File: base/clock.h
// -----------------------------------------------------------------------------
// A clock seam: production code takes a Clock* so tests can use FakeClock and
// never sleep. Implementations are thread-safe.
#ifndef EVALD_BASE_CLOCK_H_
#define EVALD_BASE_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace evald::base {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, nanoseconds since the Unix epoch.
  virtual int64_t NowUnixNanos() const = 0;
  // Monotonic time in nanoseconds, for durations.
  virtual int64_t MonotonicNanos() const = 0;

  // The process-wide real clock (never null, never freed).
  static Clock* Real();
};

class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_unix_nanos = 1'700'000'000'000'000'000)
      : now_(start_unix_nanos) {}
  int64_t NowUnixNanos() const override { return now_.load(); }
  int64_t MonotonicNanos() const override { return now_.load(); }
  void AdvanceNanos(int64_t d) { now_.fetch_add(d); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace evald::base

#endif  // EVALD_BASE_CLOCK_H_
