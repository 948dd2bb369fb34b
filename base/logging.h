// File: base/logging.h
// -----------------------------------------------------------------------------
// A thin logging layer writing to stderr: LOG(INFO|WARNING|ERROR|FATAL) and
// CHECK/DCHECK for invariants (never for user input, which gets a Status).
// Thread-safe: each message is written with one write(2) call.
#ifndef EVALD_BASE_LOGGING_H_
#define EVALD_BASE_LOGGING_H_

#include <sstream>
#include <string>

namespace evald::base {

enum class LogSeverity { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// Messages below this severity are dropped. Default kInfo; the daemon's main
// may raise it.
void SetMinLogSeverity(LogSeverity severity);
LogSeverity MinLogSeverity();

class LogMessage {
 public:
  LogMessage(const char* file, int line, LogSeverity severity);
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  ~LogMessage();  // Writes the message; aborts for kFatal.
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

// Swallows a stream expression when logging is disabled.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace evald::base

#define EVALD_LOG_INFO ::evald::base::LogSeverity::kInfo
#define EVALD_LOG_WARNING ::evald::base::LogSeverity::kWarning
#define EVALD_LOG_ERROR ::evald::base::LogSeverity::kError
#define EVALD_LOG_FATAL ::evald::base::LogSeverity::kFatal

#define LOG(severity)                                        \
  !(EVALD_LOG_##severity >= ::evald::base::MinLogSeverity()) \
      ? (void)0                                              \
      : ::evald::base::LogVoidify() &                        \
            ::evald::base::LogMessage(__FILE__, __LINE__,    \
                                      EVALD_LOG_##severity)  \
                .stream()

#define CHECK(cond)                                                           \
  (cond) ? (void)0                                                            \
         : ::evald::base::LogVoidify() &                                      \
               ::evald::base::LogMessage(__FILE__, __LINE__, EVALD_LOG_FATAL) \
                       .stream()                                              \
                   << "Check failed: " #cond " "

#define CHECK_EQ(a, b) CHECK((a) == (b))
#define CHECK_NE(a, b) CHECK((a) != (b))
#define CHECK_LT(a, b) CHECK((a) < (b))
#define CHECK_LE(a, b) CHECK((a) <= (b))
#define CHECK_GT(a, b) CHECK((a) > (b))
#define CHECK_GE(a, b) CHECK((a) >= (b))

#ifdef NDEBUG
#define DCHECK(cond) \
  while (false) CHECK(cond)
#else
#define DCHECK(cond) CHECK(cond)
#endif

#endif  // EVALD_BASE_LOGGING_H_
