// File: tests/daemon/run_file_test.cc
// -----------------------------------------------------------------------------
// evald's run files (daemon/run_file.h): what the writer writes reads back
// chunk for chunk; a file cut at any byte, or with any byte changed in its
// framing, is refused with one line naming the file and a byte offset.
#include "daemon/run_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/testing/status_matchers.h"

namespace evald::daemon {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using ::testing::StartsWith;

v1::RunRecord FinishedRun() {
  v1::RunRecord run;
  run.set_id("r20261122T084512Z-0007-k3q9x2ma");
  run.set_state(v1::SUCCEEDED);
  run.mutable_spec()->set_name("nightly");
  (*run.mutable_spec()->mutable_labels())["checkpoint"] = "1200";
  run.mutable_fingerprint()->set_hostname("box");
  run.mutable_phases()->set_decode_s(2.5);
  return run;
}

std::string Write(int samples, std::vector<v1::SampleRecord>* written) {
  std::ostringstream out;
  RunFileWriter writer(&out, "mem");
  google::protobuf::RepeatedPtrField<v1::TaskScores> scores;
  scores.Add()->set_task("gsm8k");
  EXPECT_OK(writer.Begin(FinishedRun(), scores));
  for (int i = 0; i < samples; ++i) {
    v1::SampleRecord s;
    s.set_task("gsm8k");
    s.set_doc_index(i);
    s.set_prompt(std::string(3000, 'a' + i % 26));  // several 1 MiB chunks
    (*s.mutable_metrics())["exact_match"] = i % 2;
    EXPECT_OK(writer.AddSample(s));
    written->push_back(s);
  }
  EXPECT_OK(writer.Finish());
  return out.str();
}

// Every sample of `bytes`, or the first error.
absl::StatusOr<std::vector<v1::SampleRecord>> Read(const std::string& bytes) {
  std::istringstream in(bytes);
  RunFileReader reader(&in, "f.evald");
  auto first = reader.ReadStart();
  if (!first.ok()) return first.status();
  EXPECT_TRUE(MessageDifferencer::Equals(first->run(), FinishedRun()));
  std::vector<v1::SampleRecord> samples;
  while (true) {
    auto next = reader.Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) break;
    for (const auto& s : (**next).samples()) samples.push_back(s);
  }
  return samples;
}

TEST(RunFileTest, ReadsBackWhatItWrote) {
  std::vector<v1::SampleRecord> written;
  const std::string bytes = Write(1000, &written);
  EXPECT_TRUE(absl::StartsWith(bytes, "evald-run\n"));
  ASSERT_OK_AND_ASSIGN(std::vector<v1::SampleRecord> read, Read(bytes));
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i)
    EXPECT_TRUE(MessageDifferencer::Equals(read[i], written[i])) << i;
  // The same run writes the same bytes.
  std::vector<v1::SampleRecord> again;
  EXPECT_EQ(Write(1000, &again), bytes);
}

TEST(RunFileTest, EveryTruncationIsRefusedWithTheFileAndAByteOffset) {
  std::vector<v1::SampleRecord> written;
  const std::string bytes = Write(3, &written);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    absl::StatusOr<std::vector<v1::SampleRecord>> read =
        Read(bytes.substr(0, cut));
    ASSERT_FALSE(read.ok()) << "cut at " << cut;
    EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(read.status().message()),
                StartsWith("f.evald: byte "));
    EXPECT_EQ(read.status().message().find('\n'), absl::string_view::npos);
  }
  EXPECT_THAT(std::string(Read(bytes + "x").status().message()),
              HasSubstr("the file ends inside a chunk"));
}

TEST(RunFileTest, RefusesOtherFormatsVersionsAndUnfinishedRuns) {
  EXPECT_THAT(std::string(Read("{\"results\": {}}").status().message()),
              HasSubstr("f.evald: byte 0: not an evald run file"));
  std::ostringstream out;
  RunFileWriter writer(&out, "mem");
  v1::RunRecord running = FinishedRun();
  running.set_state(v1::RUNNING);
  ASSERT_OK(writer.Begin(running, {}));
  ASSERT_OK(writer.Finish());
  EXPECT_THAT(std::string(Read(out.str()).status().message()),
              HasSubstr("is not finished (state RUNNING)"));
  v1::RunFileHeader header;
  header.set_format("evald-run");
  header.set_version(2);
  header.set_evald_version("9.0\nx");
  const absl::Status newer = CheckRunFileHeader(header, "f");
  EXPECT_THAT(std::string(newer.message()), HasSubstr("run file version 2"));
  EXPECT_EQ(newer.message().find('\n'), absl::string_view::npos);
  v1::RunFileEnd end;
  end.set_samples(4);
  EXPECT_THAT(std::string(CheckRunFileEnd(end, 3, 0, "f").message()),
              HasSubstr("counts 4 samples and 0 scores, but 3 and 0 came"));
}

}  // namespace
}  // namespace evald::daemon
