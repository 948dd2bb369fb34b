// The store's trust rules: whatever bytes a record's strings hold, what is
// stored parses again; a damaged record is skipped and named, never fatal;
// DeleteRun removes a run whole; Check finds and mends damage. Damage is made
// the way it happens: bytes written straight into RocksDB, as an older evald
// (which serialised invalid UTF-8 unescaped) or a bad disk would leave them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "proto/store.pb.h"
#include "store/keys.h"
#include "store/store.h"
#include "store/utf8_fields.h"
#include "tests/store/test_samples.h"
#include "tests/testing/raw_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::store {
namespace {

using ::evald::store::testing::MakeTestSample;
using ::evald::testing::StatusIs;
using ::evald::testing::WriteRawRecord;
using ::evald::v1::RunRecord;
using ::evald::v1::SampleRecord;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kBadBytes[] =
    "tokenizer.json: unexpected byte \xff\xfe at offset 7";

// Serialises without the store's escaping, as protobuf does when asked to
// (it logs, then writes the bytes anyway).
std::string RawBytes(const google::protobuf::Message& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

class StoreIntegrityTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open() {
    auto store = Store::Open(StoreOptions{.path = path_, .clock = &clock_});
    EXPECT_OK(store);
    return store.ok() ? std::move(store).value() : nullptr;
  }
  RunRecord MakeRun(const std::string& name) {
    RunRecord run;
    run.mutable_spec()->set_name(name);
    run.mutable_spec()->add_tasks()->set_name("gsm8k");
    return run;
  }

  evald::testing::TempDir dir_;
  const std::string path_ = dir_.Join("db");
  base::FakeClock clock_{1'790'000'000'000'000'000};
};

TEST(Utf8FieldsTest, EscapesStringsEverywhereButBytes) {
  SampleRecord s = MakeTestSample("r1", "gsm8k", 3);
  s.set_prompt("ok \xc3\xa9");
  s.add_responses("cut inside a character \xe4\xb8");
  (*s.mutable_metrics())["acc\xff"] = 1;
  s.add_judge()->add_raw("verdict \xff");
  ASSERT_TRUE(HasInvalidUtf8(s));
  EXPECT_EQ(EscapeInvalidUtf8Fields(&s), 3);
  EXPECT_FALSE(HasInvalidUtf8(s));
  EXPECT_EQ(s.prompt(), "ok \xc3\xa9");
  EXPECT_EQ(s.responses(1), "cut inside a character \\xe4\\xb8");
  EXPECT_EQ(s.judge(0).raw(0), "verdict \\xff");
  EXPECT_EQ(s.metrics().count("acc\\xff"), 1u);
  SampleRecord again;
  EXPECT_TRUE(again.ParseFromString(RawBytes(s)));
}

TEST(Utf8FieldsTest, RepairOnWireMendsWhatParsingRefuses) {
  RunRecord run;
  run.set_id("r20260921T000000Z-0000");
  run.set_error(kBadBytes);
  (*run.mutable_spec()->mutable_labels())["k\xff"] = "v\xfe";
  run.mutable_fingerprint()->add_models()->add_files()->set_name(
      "model\xff.safetensors");
  const std::string raw = RawBytes(run);
  RunRecord parsed;
  ASSERT_FALSE(parsed.ParseFromString(raw))
      << "protobuf should refuse invalid UTF-8";
  absl::StatusOr<std::string> mended =
      RepairUtf8OnWire(raw, *RunRecord::descriptor());
  ASSERT_OK(mended);
  ASSERT_TRUE(parsed.ParseFromString(*mended));
  EXPECT_EQ(parsed.error(),
            "tokenizer.json: unexpected byte \\xff\\xfe at offset 7");
  EXPECT_EQ(parsed.spec().labels().at("k\\xff"), "v\\xfe");
  EXPECT_EQ(parsed.fingerprint().models(0).files(0).name(),
            "model\\xff.safetensors");
  EXPECT_THAT(RepairUtf8OnWire("\x0a\x05"
                               "ab",
                               *RunRecord::descriptor()),
              StatusIs(absl::StatusCode::kDataLoss));
}

// Records written when ModelSpec carried its source as a string field
// (8: "native" | "openai") read the same under the `source` oneof.
TEST(ModelSpecCompatTest, RecordsWithTheOldKindFieldReadTheSame) {
  // path = "/ckpt/a" (1), kind = "native" (8).
  const std::string native("\x0a\x07/ckpt/a\x42\x06native", 17);
  v1::ModelSpec spec;
  ASSERT_TRUE(spec.ParseFromString(native));
  EXPECT_EQ(spec.source_case(), v1::ModelSpec::kPath);
  EXPECT_EQ(spec.path(), "/ckpt/a");
  // kind = "openai" (8) first, then endpoint (2) and model (3).
  const std::string endpoint("\x42\x06openai\x12\x0dhttp://h:1/v1\x1a\x01m",
                             26);
  ASSERT_TRUE(spec.ParseFromString(endpoint));
  EXPECT_EQ(spec.source_case(), v1::ModelSpec::kEndpoint);
  EXPECT_EQ(spec.endpoint(), "http://h:1/v1");
  EXPECT_EQ(spec.model(), "m");
}

TEST_F(StoreIntegrityTest, EveryWriteStoresValidUtf8) {
  auto store = Open();
  auto run = store->CreateRun(MakeRun("bad-bytes"));
  ASSERT_OK(run);
  run->set_state(v1::FAILED);
  run->set_error(absl::StrCat("loading candidate model: ", kBadBytes));
  run->mutable_fingerprint()->set_cpu_model("cpu \xff");
  ASSERT_OK(store->PutRun(*run));
  SampleRecord sample = MakeTestSample(run->id(), "gsm8k", 0);
  sample.add_responses("\xf0\x9f\x98");  // a generation cut inside an emoji
  ASSERT_OK(store->PutSample(sample));
  v1::TaskScores scores;
  scores.set_run_id(run->id());
  scores.set_task("gsm8k");
  scores.add_metrics()->set_name("exact_match\xff");
  ASSERT_OK(store->PutScores(scores));
  ASSERT_OK(store->PutTag("t", run->id()));

  store.reset();
  store = Open();  // what a restarted daemon sees
  Unreadable unreadable;
  auto runs = store->ListRuns(RunFilter{.with_fingerprint = true}, &unreadable);
  ASSERT_OK(runs);
  ASSERT_THAT(*runs, SizeIs(1));
  EXPECT_THAT(unreadable, IsEmpty());
  EXPECT_THAT((*runs)[0].error(), HasSubstr("unexpected byte \\xff\\xfe"));
  EXPECT_EQ((*runs)[0].fingerprint().cpu_model(), "cpu \\xff");
  auto samples = store->ListSamples(run->id(), "gsm8k", &unreadable);
  ASSERT_OK(samples);
  ASSERT_THAT(*samples, SizeIs(1));
  EXPECT_EQ((*samples)[0].responses(1), "\\xf0\\x9f\\x98");
  auto stored_scores = store->GetScores(run->id(), &unreadable);
  ASSERT_OK(stored_scores);
  EXPECT_EQ((*stored_scores)[0].metrics(0).name(), "exact_match\\xff");
  EXPECT_THAT(unreadable, IsEmpty());
  auto report = store->Check(/*repair=*/false);
  ASSERT_OK(report);
  EXPECT_THAT(report->problems, IsEmpty());
}

// A store holding records an older evald wrote with raw invalid UTF-8, and
// one record that is plain garbage: everything else stays readable.
TEST_F(StoreIntegrityTest, UnreadableRecordsAreSkippedAndNamedNeverFatal) {
  std::string good_id, bad_id, garbage_id;
  {
    auto store = Open();
    good_id = store->CreateRun(MakeRun("good"))->id();
    bad_id = store->CreateRun(MakeRun("bad"))->id();
    garbage_id = store->CreateRun(MakeRun("garbage"))->id();
    for (int d = 0; d < 3; ++d)
      ASSERT_OK(store->PutSample(MakeTestSample(good_id, "gsm8k", d)));
    ASSERT_OK(store->PutSample(MakeTestSample(bad_id, "gsm8k", 0)));
  }
  RunRecord bad = MakeRun("bad");
  bad.set_id(bad_id);
  bad.set_state(v1::FAILED);
  bad.set_error(kBadBytes);
  WriteRawRecord(path_, "runs", bad_id, RawBytes(bad));
  WriteRawRecord(path_, "runs", garbage_id, "\x0a\xff\xff\xff\x0f garbage");
  SampleRecord bad_sample = MakeTestSample(good_id, "gsm8k", 1);
  bad_sample.set_prompt("\xff");
  WriteRawRecord(path_, "samples", keys::SampleKey(good_id, "gsm8k", 1),
                 RawBytes(bad_sample));

  // Opening (what evald start-up does) works.
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Unreadable unreadable;
  auto runs = store->ListRuns(RunFilter{}, &unreadable);
  ASSERT_OK(runs);
  ASSERT_THAT(*runs, SizeIs(1));
  EXPECT_EQ((*runs)[0].id(), good_id);
  ASSERT_THAT(unreadable, SizeIs(2));
  EXPECT_THAT(unreadable[0], HasSubstr(garbage_id));
  EXPECT_THAT(unreadable[0], HasSubstr("evalctl fsck"));
  EXPECT_THAT(store->GetRun(bad_id),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(bad_id)));
  unreadable.clear();
  auto samples = store->ListSamples(good_id, "gsm8k", &unreadable);
  ASSERT_OK(samples);
  EXPECT_THAT(*samples, SizeIs(2));
  EXPECT_THAT(unreadable, ElementsAre(HasSubstr("doc 1")));
  // A resumed run computes the unreadable sample again.
  auto done = store->DoneDocIndices(good_id, "gsm8k");
  ASSERT_OK(done);
  EXPECT_THAT(*done, ElementsAre(0, 2));

  // Check names each damage; repair mends the UTF-8 and removes the rest.
  auto report = store->Check(/*repair=*/false);
  ASSERT_OK(report);
  std::string found;
  for (const CheckProblem& p : report->problems)
    absl::StrAppend(&found, p.record, ": ", p.problem, "\n");
  EXPECT_THAT(found, HasSubstr(absl::StrCat("run \"", bad_id,
                                            "\": holds invalid UTF-8")));
  EXPECT_THAT(found, HasSubstr(absl::StrCat("run \"", garbage_id,
                                            "\": unreadable record")));
  EXPECT_THAT(found, HasSubstr("doc 1: holds invalid UTF-8")) << found;
  EXPECT_FALSE(report->repaired);
  EXPECT_THAT(store->GetRun(bad_id), StatusIs(absl::StatusCode::kDataLoss));

  report = store->Check(/*repair=*/true);
  ASSERT_OK(report);
  EXPECT_TRUE(report->repaired);
  auto mended = store->GetRun(bad_id);
  ASSERT_OK(mended);
  EXPECT_EQ(mended->error(),
            "tokenizer.json: unexpected byte \\xff\\xfe at offset 7");
  EXPECT_THAT(mended->progress(),
              ElementsAre(::testing::Property(&v1::TaskProgress::done, 1)));
  EXPECT_THAT(store->GetRun(garbage_id), StatusIs(absl::StatusCode::kNotFound));
  unreadable.clear();
  samples = store->ListSamples(good_id, "gsm8k", &unreadable);
  ASSERT_OK(samples);
  EXPECT_THAT(*samples, SizeIs(3));
  EXPECT_THAT(unreadable, IsEmpty());
  report = store->Check(/*repair=*/false);
  ASSERT_OK(report);
  EXPECT_THAT(report->problems, IsEmpty());
}

TEST_F(StoreIntegrityTest,
       CheckFindsOrphansAndWrongCountsAndLeavesSkippedRunsAlone) {
  std::string a, b;
  {
    auto store = Open();
    a = store->CreateRun(MakeRun("a"))->id();
    b = store->CreateRun(MakeRun("b"))->id();
    for (int d = 0; d < 4; ++d)
      ASSERT_OK(store->PutSample(MakeTestSample(a, "gsm8k", d)));
  }
  v1::TaskProgress wrong;
  wrong.set_task("gsm8k");
  wrong.set_done(9);
  WriteRawRecord(path_, "meta", keys::ProgressKey(a, "gsm8k"), RawBytes(wrong));
  WriteRawRecord(path_, "samples", keys::SampleKey("r-gone", "gsm8k", 0),
                 RawBytes(MakeTestSample("r-gone", "gsm8k", 0)));
  WriteRawRecord(path_, "tags", "dangling", "r-gone");
  SampleRecord bad = MakeTestSample(b, "gsm8k", 0);
  bad.set_target("\xff");
  WriteRawRecord(path_, "samples", keys::SampleKey(b, "gsm8k", 0),
                 RawBytes(bad));

  auto store = Open();
  auto report = store->Check(/*repair=*/true, /*skip=*/{b});
  ASSERT_OK(report);
  std::string found;
  for (const CheckProblem& p : report->problems) {
    absl::StrAppend(&found, p.record, ": ", p.problem, " -> ", p.repair, "\n");
  }
  EXPECT_THAT(
      found, HasSubstr("counts 9 samples, 4 are stored -> set the count to 4"));
  EXPECT_THAT(found,
              HasSubstr("run \"r-gone\", which does not exist -> remove it"));
  EXPECT_THAT(found, HasSubstr("tag \"dangling\""));
  EXPECT_THAT(found, HasSubstr("left alone: its run is running")) << found;
  auto run = store->GetRun(a);
  ASSERT_OK(run);
  EXPECT_EQ(run->progress(0).done(), 4);
  EXPECT_THAT(store->ResolveTag("dangling"),
              StatusIs(absl::StatusCode::kNotFound));
  // The skipped run's damage is still there for a later check.
  Unreadable unreadable;
  ASSERT_OK(store->ListSamples(b, "gsm8k", &unreadable));
  EXPECT_THAT(unreadable, SizeIs(1));
}

TEST_F(StoreIntegrityTest, DeleteRunRemovesEverythingOfTheRunAndNothingElse) {
  auto store = Open();
  const std::string keep = store->CreateRun(MakeRun("keep"))->id();
  const std::string gone =
      store->CreateRun(MakeRun("gone"))->id();  // still queued
  for (const std::string& id : {keep, gone}) {
    for (int d = 0; d < 3; ++d)
      ASSERT_OK(store->PutSample(MakeTestSample(id, "gsm8k", d)));
    v1::TaskScores scores;
    scores.set_run_id(id);
    scores.set_task("gsm8k");
    ASSERT_OK(store->PutScores(scores));
  }
  ASSERT_OK(store->PutTag("release", gone));
  ASSERT_OK(store->PutTag("other", keep));

  auto deleted = store->DeleteRun(gone);
  ASSERT_OK(deleted);
  EXPECT_EQ(deleted->samples, 3);
  EXPECT_EQ(deleted->scores, 1);
  EXPECT_TRUE(deleted->was_queued);
  EXPECT_THAT(deleted->tags, ElementsAre("release"));
  EXPECT_THAT(store->GetRun(gone), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->ResolveTag("release"),
              StatusIs(absl::StatusCode::kNotFound));
  auto queue = store->ListQueue();
  ASSERT_OK(queue);
  ASSERT_THAT(*queue, SizeIs(1));
  EXPECT_EQ((*queue)[0].run_id(), keep);
  auto samples = store->ListSamples(keep, "gsm8k");
  ASSERT_OK(samples);
  EXPECT_THAT(*samples, SizeIs(3));
  EXPECT_THAT(store->DeleteRun(gone), StatusIs(absl::StatusCode::kNotFound));
  auto report = store->Check(/*repair=*/false);
  ASSERT_OK(report);
  EXPECT_THAT(report->problems, IsEmpty());
}

TEST_F(StoreIntegrityTest, ClaimNextRunSkipsAnUnreadableQueuedRun) {
  std::string bad, good;
  {
    auto store = Open();
    bad = store->CreateRun(MakeRun("bad"))->id();
    good = store->CreateRun(MakeRun("good"))->id();
  }
  WriteRawRecord(path_, "runs", bad, "\x0a\xff\xff\xff\x0f");
  auto store = Open();
  auto claimed = store->ClaimNextRun();
  ASSERT_OK(claimed);
  ASSERT_TRUE(claimed->has_value());
  EXPECT_EQ((*claimed)->id(), good);
}

}  // namespace
}  // namespace evald::store
