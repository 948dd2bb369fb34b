// A child process for the store's multi-process tests: it opens a store,
// creates one run, then writes deterministic samples (test_samples.h),
// reporting each one on a pipe only after PutSample has returned. It never
// exits on its own after the last sample: the test kills it.
//
//   store_test_writer STORE_DIR RUN_ID REPORT_FD COUNT
//
// Sample i belongs to task kTasks[i % 2] with doc index i / 2. Each report is
// i as a native int64.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "store/store.h"
#include "tests/store/test_samples.h"

namespace {

constexpr const char* kTasks[] = {"mmlu", "gsm8k"};

int Fail(const std::string& what) {
  std::fprintf(stderr, "store_test_writer: %s\n", what.c_str());
  return 2;
}

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5)
    return Fail("usage: store_test_writer STORE_DIR RUN_ID REPORT_FD COUNT");
  int fd = 0;
  int64_t count = 0;
  if (!absl::SimpleAtoi(argv[3], &fd) || !absl::SimpleAtoi(argv[4], &count)) {
    return Fail("bad REPORT_FD or COUNT");
  }
  auto store = evald::store::Store::Open({.path = argv[1]});
  if (!store.ok()) return Fail(std::string(store.status().message()));
  evald::v1::RunRecord run;
  run.set_id(argv[2]);
  run.mutable_spec()->set_name("writer");
  if (auto created = (*store)->CreateRun(run); !created.ok()) {
    return Fail(std::string(created.status().message()));
  }
  for (int64_t i = 0; i < count; ++i) {
    absl::Status s = (*store)->PutSample(
        evald::store::testing::MakeTestSample(argv[2], kTasks[i % 2], i / 2));
    if (!s.ok()) return Fail(std::string(s.message()));
    if (!WriteAll(fd, &i, sizeof(i))) return Fail("report pipe closed");
  }
  while (true) ::pause();
}
