// The store across processes: a writer killed with SIGKILL loses nothing it
// reported written, and a reader in another process can open the store while
// the writer is writing. The writer is store_test_writer, next to this test.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "store/store.h"
#include "tests/store/test_samples.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::store {
namespace {

using ::evald::store::testing::MakeTestSample;
using ::google::protobuf::util::MessageDifferencer;

constexpr const char* kTasks[] = {"mmlu", "gsm8k"};  // as in store_test_writer

std::string WriterPath() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
          "store_test_writer")
      .string();
}

// A running store_test_writer and the read end of its report pipe. Killed
// and reaped on destruction if still running.
class Writer {
 public:
  Writer(const std::string& store_dir, const std::string& run_id,
         int64_t count) {
    int fds[2];
    if (::pipe(fds) != 0) {
      ADD_FAILURE() << "pipe: " << errno;
      return;
    }
    const std::string path = WriterPath();
    const std::string fd_arg = std::to_string(fds[1]);
    const std::string count_arg = std::to_string(count);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      ::execl(path.c_str(), path.c_str(), store_dir.c_str(), run_id.c_str(),
              fd_arg.c_str(), count_arg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    read_fd_ = fds[0];
  }
  ~Writer() {
    if (pid_ > 0) Kill();
    if (read_fd_ >= 0) ::close(read_fd_);
  }

  // The next report, or -1 at end of pipe.
  int64_t NextReport() {
    int64_t value = 0;
    size_t got = 0;
    while (got < sizeof(value)) {
      ssize_t n = ::read(read_fd_, reinterpret_cast<char*>(&value) + got,
                         sizeof(value) - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return -1;
      got += static_cast<size_t>(n);
    }
    reported_.push_back(value);
    return value;
  }

  // SIGKILL, then collect the reports written before death. Returns the
  // signal that ended the writer (0 if it exited).
  int Kill() {
    ::kill(pid_, SIGKILL);
    while (NextReport() >= 0) {
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }

  const std::vector<int64_t>& reported() const { return reported_; }

 private:
  pid_t pid_ = -1;
  int read_fd_ = -1;
  std::vector<int64_t> reported_;
};

// Checks what `store` holds for `run_id` against the writer's reports: every
// reported sample is present and intact, at most one unreported sample (the
// one in flight) exists, and each task's progress marker equals its sample
// count, i.e. sample and marker were written together.
void ExpectHoldsReported(Store& store, const std::string& run_id,
                         const std::vector<int64_t>& reported) {
  std::map<std::string, std::set<int64_t>> want;
  for (int64_t i : reported) want[kTasks[i % 2]].insert(i / 2);
  ASSERT_OK_AND_ASSIGN(evald::v1::RunRecord run, store.GetRun(run_id));
  std::map<std::string, int64_t> marker;
  for (const auto& p : run.progress()) marker[p.task()] = p.done();
  int64_t total = 0;
  for (const char* task : kTasks) {
    ASSERT_OK_AND_ASSIGN(std::vector<evald::v1::SampleRecord> samples,
                         store.ListSamples(run_id, task));
    std::set<int64_t> have;
    for (const auto& s : samples) {
      have.insert(s.doc_index());
      EXPECT_TRUE(MessageDifferencer::Equals(
          s, MakeTestSample(run_id, task, s.doc_index())))
          << "sample " << run_id << "/" << task << "/" << s.doc_index()
          << " differs";
    }
    for (int64_t d : want[task])
      EXPECT_TRUE(have.count(d)) << task << " doc " << d << " lost";
    EXPECT_EQ(marker[task], static_cast<int64_t>(samples.size()))
        << "progress marker of " << task;
    total += static_cast<int64_t>(samples.size());
  }
  EXPECT_GE(total, static_cast<int64_t>(reported.size()));
  EXPECT_LE(total, static_cast<int64_t>(reported.size()) + 1);
}

TEST(StoreMultiProcessTest, SigkillLosesNoReportedSample) {
  ASSERT_TRUE(std::filesystem::exists(WriterPath())) << WriterPath();
  evald::testing::TempDir dir;
  const std::string db = dir.Join("db");
  // Several writers on the same store, killed at different points; each must
  // also be able to reopen what the previous one left behind.
  const std::vector<int64_t> kill_after = {1, 57, 400, 1500};
  std::vector<std::vector<int64_t>> reports;
  for (size_t round = 0; round < kill_after.size(); ++round) {
    const std::string run_id = "r20260101T000000Z-000" + std::to_string(round);
    Writer writer(db, run_id, 1'000'000);
    while (static_cast<int64_t>(writer.reported().size()) < kill_after[round]) {
      ASSERT_GE(writer.NextReport(), 0) << "writer died early (see its stderr)";
    }
    EXPECT_EQ(writer.Kill(), SIGKILL);
    std::printf("round %zu: writer killed after %zu reported samples\n", round,
                writer.reported().size());
    reports.push_back(writer.reported());
  }
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open({.path = db}));
  for (size_t round = 0; round < reports.size(); ++round) {
    SCOPED_TRACE(round);
    ExpectHoldsReported(*store, "r20260101T000000Z-000" + std::to_string(round),
                        reports[round]);
  }
}

TEST(StoreMultiProcessTest, ReaderOpensWhileAnotherProcessWrites) {
  ASSERT_TRUE(std::filesystem::exists(WriterPath())) << WriterPath();
  evald::testing::TempDir dir;
  const std::string db = dir.Join("db");
  const std::string run_id = "r20260101T000000Z-0000";
  Writer writer(db, run_id, 1'000'000);
  for (int round = 0; round < 15; ++round) {
    // Let the writer get ahead, then open a reader mid-stream.
    for (int k = 0; k < 100; ++k)
      ASSERT_GE(writer.NextReport(), 0) << "writer died early";
    std::vector<int64_t> seen = writer.reported();
    ASSERT_OK_AND_ASSIGN(auto reader,
                         Store::Open({.path = db, .read_only = true}));
    // The reader may see samples written after the last report we read; the
    // invariants below hold for any such prefix of the writer's stream.
    std::map<std::string, std::set<int64_t>> want;
    for (int64_t i : seen) want[kTasks[i % 2]].insert(i / 2);
    ASSERT_OK_AND_ASSIGN(evald::v1::RunRecord run, reader->GetRun(run_id));
    std::map<std::string, int64_t> marker;
    for (const auto& p : run.progress()) marker[p.task()] = p.done();
    for (const char* task : kTasks) {
      ASSERT_OK_AND_ASSIGN(std::set<int64_t> done,
                           reader->DoneDocIndices(run_id, task));
      for (int64_t d : want[task])
        ASSERT_TRUE(done.count(d)) << task << " doc " << d;
      EXPECT_EQ(marker[task], static_cast<int64_t>(done.size())) << task;
    }
  }
  EXPECT_EQ(writer.Kill(), SIGKILL);
}

}  // namespace
}  // namespace evald::store
