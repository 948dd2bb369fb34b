// File: tests/base/subprocess_test.cc
// -----------------------------------------------------------------------------
// RunSubprocess with real programs: /bin/sh, /bin/cat, a missing program, a
// program that runs past its timeout.
#include "base/subprocess.h"

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace evald::base {
namespace {

using ::testing::HasSubstr;

TEST(SubprocessTest, CapturesOutputErrorAndExitCode) {
  absl::StatusOr<SubprocessResult> r = RunSubprocess(
      {"/bin/sh", "-c", "echo out; echo err >&2; printf '%s' \"$1\"; exit 7",
       "sh", "it's an arg"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 7);
  EXPECT_EQ(r->signal, 0);
  EXPECT_EQ(r->out, "out\nit's an arg");
  EXPECT_EQ(r->err, "err\n");
}

TEST(SubprocessTest, LooksUpProgramOnPathAndAddsEnvironment) {
  SubprocessOptions options;
  options.env = {"EVALD_SUBPROCESS_TEST=hello world", "HOME=/nonexistent-home"};
  absl::StatusOr<SubprocessResult> r = RunSubprocess(
      {"sh", "-c", "echo \"$EVALD_SUBPROCESS_TEST|$HOME\""}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "hello world|/nonexistent-home\n");
}

TEST(SubprocessTest, PathFromExtraEnvironmentIsSearched) {
  testing::TempDir dir;
  testing::WriteTestFile(dir.Join("evald-test-tool"),
                         "#!/bin/sh\necho tool ran\n");
  ASSERT_EQ(chmod(dir.Join("evald-test-tool").c_str(), 0755), 0);
  SubprocessOptions options;
  options.env = {"PATH=" + dir.path() + ":/usr/bin:/bin"};
  absl::StatusOr<SubprocessResult> r =
      RunSubprocess({"evald-test-tool"}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "tool ran\n");
}

TEST(SubprocessTest, FeedsStdinText) {
  SubprocessOptions options;
  std::string big(1 << 20, 'x');  // more than a pipe buffer
  big += "\nend\n";
  options.stdin_text = big;
  absl::StatusOr<SubprocessResult> r = RunSubprocess({"/bin/cat"}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, big);
}

TEST(SubprocessTest, StdinIsDevNullByDefault) {
  absl::StatusOr<SubprocessResult> r = RunSubprocess({"/bin/cat"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "");
}

TEST(SubprocessTest, ProgramThatIgnoresItsStdinDoesNotKillTheCaller) {
  SubprocessOptions options;
  options.stdin_text = std::string(4 << 20, 'y');
  absl::StatusOr<SubprocessResult> r =
      RunSubprocess({"/bin/sh", "-c", "exit 3"}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
}

TEST(SubprocessTest, MissingProgramIsNotFoundNamingPath) {
  SubprocessOptions options;
  options.env = {"PATH=/nonexistent-a:/nonexistent-b"};
  absl::StatusOr<SubprocessResult> r =
      RunSubprocess({"sbatch", "--version"}, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            "sbatch not found on PATH (/nonexistent-a:/nonexistent-b)");

  absl::StatusOr<SubprocessResult> by_path =
      RunSubprocess({"/nonexistent-dir/evald-tool"});
  ASSERT_FALSE(by_path.ok());
  EXPECT_EQ(by_path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(by_path.status().message(),
              HasSubstr("/nonexistent-dir/evald-tool not found"));
}

TEST(SubprocessTest, NonExecutableFileIsPermissionDenied) {
  testing::TempDir dir;
  testing::WriteTestFile(dir.Join("plain"), "not a program\n");
  absl::StatusOr<SubprocessResult> r = RunSubprocess({dir.Join("plain")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr(dir.Join("plain")));
}

TEST(SubprocessTest, TimeoutKillsTheProgramAndWhatItStarted) {
  testing::TempDir dir;
  SubprocessOptions options;
  options.timeout_s = 1;
  const auto start = std::chrono::steady_clock::now();
  // The background sleep holds stdout open: the whole group must die.
  absl::StatusOr<SubprocessResult> r = RunSubprocess(
      {"/bin/sh", "-c",
       "sleep 30 & echo $! > " + dir.Join("child.pid") + "; wait"},
      options);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(), "/bin/sh did not finish within 1 s (killed)");
  EXPECT_LT(took, 5.0);
  // The background sleep was in the program's process group: gone too.
  absl::StatusOr<SubprocessResult> pid =
      RunSubprocess({"/bin/cat", dir.Join("child.pid")});
  ASSERT_TRUE(pid.ok()) << pid.status();
  const int child = std::stoi(pid->out);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    // Killed: no /proc entry, or a zombie until its new parent reaps it.
    std::ifstream status("/proc/" + std::to_string(child) + "/status");
    std::string line;
    gone = true;
    while (std::getline(status, line)) {
      if (line.rfind("State:", 0) == 0 && line.find('Z') == std::string::npos)
        gone = false;
    }
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "sleep " << child << " survived the timeout";
}

TEST(SubprocessTest, KilledBySignalReportsTheSignal) {
  absl::StatusOr<SubprocessResult> r =
      RunSubprocess({"/bin/sh", "-c", "kill -TERM $$"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->signal, SIGTERM);
}

TEST(SubprocessTest, LeftoverProcessHoldingOutputDoesNotHang) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<SubprocessResult> r =
      RunSubprocess({"/bin/sh", "-c", "echo first; (sleep 5; echo late) &"});
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "first\n");
  EXPECT_LT(took, 3.0);
}

TEST(SubprocessTest, WorkingDirectory) {
  testing::TempDir dir;
  SubprocessOptions options;
  options.working_dir = dir.path();
  absl::StatusOr<SubprocessResult> r = RunSubprocess({"/bin/pwd"}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, dir.path() + "\n");
}

TEST(SubprocessTest, OneLineJoinsTrimmedLines) {
  EXPECT_EQ(OneLine("sbatch: error: a\n\n  sbatch: error: b  \n"),
            "sbatch: error: a; sbatch: error: b");
  EXPECT_EQ(OneLine(std::string(10, 'z'), 4), "zzzz...");
  EXPECT_EQ(OneLine(""), "");
}

}  // namespace
}  // namespace evald::base
