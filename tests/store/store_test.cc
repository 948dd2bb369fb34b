#include "store/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "base/clock.h"
#include "base/file.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/store.pb.h"
#include "store/keys.h"
#include "tests/store/test_samples.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::store {
namespace {

using ::evald::store::testing::MakeTestSample;
using ::evald::testing::IsOkAndHolds;
using ::evald::testing::StatusIs;
using ::evald::v1::QueueEntry;
using ::evald::v1::RunRecord;
using ::evald::v1::SampleRecord;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kStartNanos = 1'790'000'000'000'000'000;  // 2026-09-21

class StoreTest : public ::testing::Test {
 protected:
  StoreOptions Options() const {
    return StoreOptions{.path = dir_.Join("db"), .clock = &clock_};
  }
  std::unique_ptr<Store> OpenStore() {
    auto store = Store::Open(Options());
    EXPECT_OK(store);
    return store.ok() ? std::move(store).value() : nullptr;
  }
  RunRecord MakeRun(const std::string& name, int32_t priority = 0) {
    RunRecord run;
    run.mutable_spec()->set_name(name);
    run.mutable_spec()->set_priority(priority);
    run.mutable_spec()->mutable_candidate()->set_path("/ckpt/" + name);
    auto* task = run.mutable_spec()->add_tasks();
    task->set_name("gsm8k");
    task->set_shots(5);
    (*task->mutable_options())["variant"] = "cot";
    return run;
  }

  evald::testing::TempDir dir_;
  base::FakeClock clock_{kStartNanos};
};

TEST_F(StoreTest, CreatedRunSurvivesReopen) {
  RunRecord created;
  {
    auto store = OpenStore();
    RunRecord run = MakeRun("nightly");
    (*run.mutable_spec()->mutable_labels())["checkpoint"] = "1200";
    run.mutable_fingerprint()->set_driver_version("none");
    auto* model = run.mutable_fingerprint()->add_models();
    model->set_role("candidate");
    auto* file = model->add_files();
    file->set_name("model.safetensors");
    file->set_size(1234);
    file->set_sha256(std::string(64, 'a'));
    ASSERT_OK_AND_ASSIGN(created, store->CreateRun(run));
    EXPECT_EQ(created.state(), evald::v1::QUEUED);
    EXPECT_EQ(created.created_unix_ms(), kStartNanos / 1'000'000);
    EXPECT_EQ(created.id(),
              keys::FormatRunId(absl::FromUnixNanos(kStartNanos), 0));
  }
  auto store = OpenStore();
  ASSERT_OK_AND_ASSIGN(RunRecord got, store->GetRun(created.id()));
  EXPECT_TRUE(MessageDifferencer::Equals(got, created)) << got.DebugString();
  ASSERT_OK_AND_ASSIGN(auto fp, store->GetFingerprint(created.id()));
  EXPECT_EQ(fp.models(0).files(0).size(), 1234u);
  // CreateRun queued it.
  EXPECT_THAT(store->PeekQueue(),
              IsOkAndHolds(::testing::Optional(
                  ::testing::Property(&QueueEntry::run_id, created.id()))));
}

TEST_F(StoreTest, ImportRunStoresEverythingOrNothing) {
  auto store = OpenStore();
  RunRecord run = MakeRun("imported");
  run.set_state(evald::v1::SUCCEEDED);
  evald::v1::TaskScores scores;
  scores.set_task("gsm8k");
  auto* metric = scores.add_metrics();
  metric->set_name("exact_match,strict-match");
  metric->set_value(0.5);
  std::vector<SampleRecord> samples = {MakeTestSample("", "gsm8k", 0),
                                       MakeTestSample("", "gsm8k", 1)};
  // A document given twice refuses the whole import: nothing is stored.
  std::vector<SampleRecord> twice = {samples[0], samples[0]};
  EXPECT_THAT(
      store->ImportRun(run, {scores}, twice),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("given twice")));
  ASSERT_OK_AND_ASSIGN(auto none, store->ListRuns({}));
  EXPECT_TRUE(none.empty());
  // A queued run is not imported.
  RunRecord queued = run;
  queued.set_state(evald::v1::QUEUED);
  EXPECT_THAT(store->ImportRun(queued, {}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));

  ASSERT_OK_AND_ASSIGN(RunRecord stored,
                       store->ImportRun(run, {scores}, samples));
  EXPECT_FALSE(stored.id().empty());
  EXPECT_EQ(stored.state(), evald::v1::SUCCEEDED);
  ASSERT_OK_AND_ASSIGN(auto listed, store->ListSamples(stored.id(), "gsm8k"));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].run_id(), stored.id());
  EXPECT_THAT(store->CountSamples(stored.id(), "gsm8k"), IsOkAndHolds(2));
  ASSERT_OK_AND_ASSIGN(auto got, store->GetScores(stored.id()));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].run_id(), stored.id());
  EXPECT_EQ(got[0].metrics(0).value(), 0.5);
  // Imported runs are finished: nothing is queued.
  ASSERT_OK_AND_ASSIGN(auto queue, store->ListQueue());
  EXPECT_TRUE(queue.empty());
}

TEST_F(StoreTest, PutRunKeepsFingerprintAndUpdatesState) {
  auto store = OpenStore();
  RunRecord run = MakeRun("a");
  run.mutable_fingerprint()->set_hostname("box");
  ASSERT_OK_AND_ASSIGN(run, store->CreateRun(run));
  RunRecord update = run;
  update.clear_fingerprint();
  update.set_state(evald::v1::SUCCEEDED);
  update.mutable_phases()->set_decode_s(1.5);
  ASSERT_OK(store->PutRun(update));
  ASSERT_OK_AND_ASSIGN(RunRecord got, store->GetRun(run.id()));
  EXPECT_EQ(got.state(), evald::v1::SUCCEEDED);
  EXPECT_EQ(got.phases().decode_s(), 1.5);
  EXPECT_EQ(got.fingerprint().hostname(), "box");
}

TEST_F(StoreTest, ErrorsNameTheRun) {
  auto store = OpenStore();
  EXPECT_THAT(store->GetRun("r20990101T000000Z-0000"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("r20990101T000000Z-0000")));
  EXPECT_THAT(store->GetScores("nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_THAT(store->PutSample(MakeTestSample("ghost", "gsm8k", 0)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("ghost")));
  ASSERT_OK_AND_ASSIGN(RunRecord run, store->CreateRun(MakeRun("a")));
  EXPECT_THAT(store->CreateRun(run),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(run.id())));
  EXPECT_THAT(
      store->PutSample(MakeTestSample(run.id(), "", 0)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task name")));
  EXPECT_THAT(store->PutSample(MakeTestSample(run.id(), "gsm8k", -1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("negative doc index")));
}

TEST_F(StoreTest, RunIdsSortByTimeWithinASecondAndAcrossReopen) {
  std::vector<std::string> ids;
  {
    auto store = OpenStore();
    for (int i = 0; i < 30; ++i) {
      // 30 runs within 3 seconds, each 100 ms apart.
      ASSERT_OK_AND_ASSIGN(RunRecord r, store->CreateRun(MakeRun("run")));
      ids.push_back(r.id());
      clock_.AdvanceNanos(100'000'000);
    }
    // A clock that steps back must not produce an older id.
    clock_.AdvanceNanos(-60'000'000'000);
    ASSERT_OK_AND_ASSIGN(RunRecord r, store->CreateRun(MakeRun("run")));
    ids.push_back(r.id());
  }
  {
    // Same second after a restart: the sequence continues.
    auto store = OpenStore();
    ids.push_back(store->NewRunId(absl::FromUnixNanos(clock_.NowUnixNanos())));
  }
  std::vector<std::string> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, ids);
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end())
      << "duplicate run id";
  EXPECT_EQ(ids[0], keys::FormatRunId(absl::FromUnixNanos(kStartNanos), 0));
  EXPECT_EQ(ids[9], keys::FormatRunId(absl::FromUnixNanos(kStartNanos), 9));
  EXPECT_EQ(ids[10],
            keys::FormatRunId(
                absl::FromUnixNanos(kStartNanos) + absl::Seconds(1), 0));
}

TEST_F(StoreTest, ListRunsFiltersNewestFirst) {
  auto store = OpenStore();
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    RunRecord run = MakeRun("r");
    (*run.mutable_spec()->mutable_labels())["checkpoint"] =
        std::to_string(i % 2 == 0 ? 100 : 200);
    (*run.mutable_spec()->mutable_labels())["branch"] = "main";
    run.mutable_fingerprint()->set_hostname("h" + std::to_string(i));
    ASSERT_OK_AND_ASSIGN(RunRecord r, store->CreateRun(run));
    ids.push_back(r.id());
    clock_.AdvanceNanos(3600LL * 1'000'000'000);  // one hour apart
  }
  RunRecord third = store->GetRun(ids[3]).value();
  third.set_state(evald::v1::FAILED);
  ASSERT_OK(store->PutRun(third));

  auto id_list = [](const std::vector<RunRecord>& runs) {
    std::vector<std::string> out;
    for (const RunRecord& r : runs) out.push_back(r.id());
    return out;
  };
  ASSERT_OK_AND_ASSIGN(auto all, store->ListRuns({}));
  EXPECT_THAT(id_list(all),
              ElementsAre(ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]));
  EXPECT_FALSE(all[0].has_fingerprint());

  ASSERT_OK_AND_ASSIGN(auto labelled,
                       store->ListRuns({.labels = {{"checkpoint", "200"}}}));
  EXPECT_THAT(id_list(labelled), ElementsAre(ids[5], ids[3], ids[1]));

  const int64_t start_ms = kStartNanos / 1'000'000;
  ASSERT_OK_AND_ASSIGN(
      auto recent,
      store->ListRuns({.since_unix_ms = start_ms + 2 * 3600 * 1000}));
  EXPECT_THAT(id_list(recent), ElementsAre(ids[5], ids[4], ids[3], ids[2]));
  // One millisecond later excludes ids[2] even though its id names the same
  // second.
  ASSERT_OK_AND_ASSIGN(
      auto later,
      store->ListRuns({.since_unix_ms = start_ms + 2 * 3600 * 1000 + 1}));
  EXPECT_THAT(id_list(later), ElementsAre(ids[5], ids[4], ids[3]));

  ASSERT_OK_AND_ASSIGN(auto failed,
                       store->ListRuns({.state = evald::v1::FAILED}));
  EXPECT_THAT(id_list(failed), ElementsAre(ids[3]));

  ASSERT_OK_AND_ASSIGN(auto limited,
                       store->ListRuns({.limit = 2, .with_fingerprint = true}));
  EXPECT_THAT(id_list(limited), ElementsAre(ids[5], ids[4]));
  EXPECT_EQ(limited[1].fingerprint().hostname(), "h4");
}

TEST_F(StoreTest, QueueOrderIsPriorityThenFifoAndSurvivesReopen) {
  // (name, priority) in submission order.
  const std::vector<std::pair<std::string, int32_t>> submitted = {
      {"a", 0}, {"b", 5}, {"c", 0}, {"d", 5}, {"e", -1}, {"f", 10}, {"g", 0}};
  std::map<std::string, std::string> id_of;
  {
    auto store = OpenStore();
    for (const auto& [name, priority] : submitted) {
      ASSERT_OK_AND_ASSIGN(RunRecord r,
                           store->CreateRun(MakeRun(name, priority)));
      id_of[name] = r.id();
    }
  }
  // Expected order derived by a stable sort on priority, descending.
  std::vector<std::pair<std::string, int32_t>> expected = submitted;
  std::stable_sort(
      expected.begin(), expected.end(),
      [](const auto& x, const auto& y) { return x.second > y.second; });

  auto store = OpenStore();
  ASSERT_OK_AND_ASSIGN(std::vector<QueueEntry> listed, store->ListQueue());
  ASSERT_EQ(listed.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(listed[i].run_id(), id_of[expected[i].first]) << i;
    EXPECT_EQ(listed[i].priority(), expected[i].second) << i;
  }

  // Removing one, and re-enqueueing an existing run after a reopen, lands it
  // behind the runs of equal priority that were queued before it.
  ASSERT_OK(store->RemoveFromQueue(id_of["c"]));
  EXPECT_THAT(store->RemoveFromQueue(id_of["c"]),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(id_of["c"])));
  EXPECT_THAT(store->Enqueue(id_of["a"], 0),
              StatusIs(absl::StatusCode::kAlreadyExists));
  store.reset();
  store = OpenStore();
  ASSERT_OK(store->Enqueue(id_of["c"], 0));

  std::vector<std::string> order;
  while (true) {
    ASSERT_OK_AND_ASSIGN(std::optional<QueueEntry> head, store->PeekQueue());
    ASSERT_OK_AND_ASSIGN(std::optional<QueueEntry> next, store->Dequeue());
    ASSERT_EQ(head.has_value(), next.has_value());
    if (!next) break;
    EXPECT_EQ(head->run_id(), next->run_id());
    order.push_back(next->run_id());
  }
  EXPECT_THAT(order, ElementsAre(id_of["f"], id_of["b"], id_of["d"], id_of["a"],
                                 id_of["g"], id_of["c"], id_of["e"]));
  EXPECT_THAT(store->ListQueue(), IsOkAndHolds(::testing::IsEmpty()));
}

TEST_F(StoreTest, ClaimNextRunSkipsCancelledRunsAndMarksRunning) {
  std::string a, b, c;
  {
    auto store = OpenStore();
    ASSERT_OK_AND_ASSIGN(RunRecord ra, store->CreateRun(MakeRun("a", 0)));
    ASSERT_OK_AND_ASSIGN(RunRecord rb, store->CreateRun(MakeRun("b", 5)));
    ASSERT_OK_AND_ASSIGN(RunRecord rc, store->CreateRun(MakeRun("c", 0)));
    a = ra.id();
    b = rb.id();
    c = rc.id();
    // b is cancelled but the process dies before removing its queue entry.
    rb.set_state(evald::v1::CANCELLED);
    ASSERT_OK(store->PutRun(rb));
    clock_.AdvanceNanos(5'000'000'000);
    ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> claimed,
                         store->ClaimNextRun());
    ASSERT_TRUE(claimed.has_value());
    EXPECT_EQ(claimed->id(), a);
    EXPECT_EQ(claimed->state(), evald::v1::RUNNING);
    EXPECT_EQ(claimed->started_unix_ms(), kStartNanos / 1'000'000 + 5000);
  }
  auto store = OpenStore();
  EXPECT_THAT(store->GetRun(a), IsOkAndHolds(::testing::Property(
                                    &RunRecord::state, evald::v1::RUNNING)));
  EXPECT_THAT(store->GetRun(b), IsOkAndHolds(::testing::Property(
                                    &RunRecord::state, evald::v1::CANCELLED)));
  ASSERT_OK_AND_ASSIGN(auto queue, store->ListQueue());
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].run_id(), c);
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> next, store->ClaimNextRun());
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->id(), c);
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> none, store->ClaimNextRun());
  EXPECT_FALSE(none.has_value());
}

TEST_F(StoreTest, PutSampleIfAbsentStoresEachDocumentOnce) {
  auto store = OpenStore();
  ASSERT_OK_AND_ASSIGN(RunRecord run, store->CreateRun(MakeRun("once")));
  SampleRecord first = MakeTestSample(run.id(), "gsm8k", 3);
  EXPECT_THAT(store->PutSampleIfAbsent(first), IsOkAndHolds(true));
  // A second delivery of the same document is left out, whatever it holds.
  SampleRecord second = first;
  second.set_extracted("a later delivery");
  EXPECT_THAT(store->PutSampleIfAbsent(second), IsOkAndHolds(false));
  ASSERT_OK_AND_ASSIGN(std::vector<SampleRecord> samples,
                       store->ListSamples(run.id(), "gsm8k"));
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].extracted(), first.extracted());

  // Racing deliveries of the same documents: each is written exactly once
  // and counted once.
  constexpr int kThreads = 4;
  constexpr int kDocs = 50;
  std::vector<int> wrote(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int d = 10; d < 10 + kDocs; ++d) {
        auto w = store->PutSampleIfAbsent(MakeTestSample(run.id(), "gsm8k", d));
        if (w.ok() && *w) ++wrote[t];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  int total = 0;
  for (int w : wrote) total += w;
  EXPECT_EQ(total, kDocs);
  EXPECT_THAT(store->CountSamples(run.id(), "gsm8k"), IsOkAndHolds(kDocs + 1));
  ASSERT_OK_AND_ASSIGN(RunRecord got, store->GetRun(run.id()));
  ASSERT_EQ(got.progress_size(), 1);
  EXPECT_EQ(got.progress(0).done(), kDocs + 1);
  // The run must exist.
  EXPECT_THAT(store->PutSampleIfAbsent(MakeTestSample("ghost", "gsm8k", 0)),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(StoreTest, SamplesListInDocOrderAndProgressCountsEachDocOnce) {
  auto store = OpenStore();
  RunRecord run = MakeRun("s");
  auto* p = run.add_progress();
  p->set_task("gsm8k");
  p->set_total(1000);
  ASSERT_OK_AND_ASSIGN(run, store->CreateRun(run));
  const std::vector<int64_t> docs = {300, 2, 10, 0, 256, 999};
  for (int64_t d : docs)
    ASSERT_OK(store->PutSample(MakeTestSample(run.id(), "gsm8k", d)));
  ASSERT_OK(store->PutSample(MakeTestSample(run.id(), "gsm8k_cot", 5)));
  // A rewrite of a stored doc replaces it and is not counted twice.
  SampleRecord again = MakeTestSample(run.id(), "gsm8k", 10);
  again.set_extracted("rewritten");
  ASSERT_OK(store->PutSample(again));

  ASSERT_OK_AND_ASSIGN(std::vector<SampleRecord> samples,
                       store->ListSamples(run.id(), "gsm8k"));
  std::vector<int64_t> sorted = docs;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_EQ(samples.size(), sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    SampleRecord want =
        sorted[i] == 10 ? again : MakeTestSample(run.id(), "gsm8k", sorted[i]);
    EXPECT_TRUE(MessageDifferencer::Equals(samples[i], want))
        << samples[i].DebugString();
  }
  EXPECT_THAT(store->CountSamples(run.id(), "gsm8k"), IsOkAndHolds(6));
  EXPECT_THAT(store->CountSamples(run.id(), "gsm8k_cot"), IsOkAndHolds(1));
  EXPECT_THAT(store->CountSamples(run.id(), "mmlu"), IsOkAndHolds(0));
  EXPECT_THAT(store->DoneDocIndices(run.id(), "gsm8k"),
              IsOkAndHolds(std::set<int64_t>(docs.begin(), docs.end())));

  ASSERT_OK_AND_ASSIGN(RunRecord got, store->GetRun(run.id()));
  ASSERT_EQ(got.progress_size(), 2);
  EXPECT_EQ(got.progress(0).task(), "gsm8k");
  EXPECT_EQ(got.progress(0).done(), 6);
  EXPECT_EQ(got.progress(0).total(), 1000);
  EXPECT_EQ(got.progress(1).task(), "gsm8k_cot");
  EXPECT_EQ(got.progress(1).done(), 1);
  // A stale record written back by the daemon does not reset the count.
  ASSERT_OK(store->PutRun(run));
  ASSERT_OK_AND_ASSIGN(got, store->GetRun(run.id()));
  EXPECT_EQ(got.progress(0).done(), 6);
}

TEST_F(StoreTest, ScoresAndTags) {
  auto store = OpenStore();
  ASSERT_OK_AND_ASSIGN(RunRecord a, store->CreateRun(MakeRun("a")));
  ASSERT_OK_AND_ASSIGN(RunRecord b, store->CreateRun(MakeRun("b")));
  for (const char* task : {"mmlu", "gsm8k"}) {
    evald::v1::TaskScores s;
    s.set_run_id(a.id());
    s.set_task(task);
    auto* m = s.add_metrics();
    m->set_name("acc");
    m->set_value(task[0] == 'm' ? 0.25 : 0.5);
    m->set_std_error(0.01);
    m->set_count(100);
    ASSERT_OK(store->PutScores(s));
  }
  ASSERT_OK_AND_ASSIGN(auto scores, store->GetScores(a.id()));
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_EQ(scores[0].task(), "gsm8k");
  EXPECT_EQ(scores[0].metrics(0).value(), 0.5);
  EXPECT_EQ(scores[1].task(), "mmlu");
  EXPECT_THAT(store->GetScores(b.id()), IsOkAndHolds(::testing::IsEmpty()));

  ASSERT_OK(store->PutTag("release-3", a.id()));
  ASSERT_OK(store->PutTag("latest", a.id()));
  ASSERT_OK(store->PutTag("latest", b.id()));
  EXPECT_THAT(store->ResolveTag("latest"), IsOkAndHolds(b.id()));
  EXPECT_THAT(store->ResolveTag("nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_THAT(store->PutTag("x", "r-missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("r-missing")));
  ASSERT_OK_AND_ASSIGN(auto tags, store->ListTags());
  EXPECT_THAT(
      tags,
      ElementsAre(std::pair<std::string, std::string>("latest", b.id()),
                  std::pair<std::string, std::string>("release-3", a.id())));
}

TEST_F(StoreTest, HashCacheHitsOnlyWhenEveryIdentityFieldMatches) {
  auto store = OpenStore();
  const std::string file = dir_.Join("model.safetensors");
  evald::testing::WriteTestFile(file, "weights v1");
  ASSERT_OK_AND_ASSIGN(base::FileIdentity id, base::StatFile(file));
  evald::v1::HashCacheEntry entry;
  entry.set_path(file);
  entry.set_size(id.size);
  entry.set_mtime_ns(id.mtime_ns);
  entry.set_inode(id.inode);
  entry.set_device(id.device);
  entry.set_sha256(std::string(64, 'f'));
  ASSERT_OK(store->PutHash(entry));
  EXPECT_THAT(store->GetHash(file, id),
              IsOkAndHolds(::testing::Optional(std::string(64, 'f'))));
  EXPECT_THAT(store->GetHash(dir_.Join("other"), id),
              IsOkAndHolds(std::nullopt));

  // Each identity field alone invalidates.
  base::FileIdentity changed = id;
  changed.size += 1;
  EXPECT_THAT(store->GetHash(file, changed), IsOkAndHolds(std::nullopt));
  changed = id;
  changed.mtime_ns += 1;
  EXPECT_THAT(store->GetHash(file, changed), IsOkAndHolds(std::nullopt));
  changed = id;
  changed.inode += 1;
  EXPECT_THAT(store->GetHash(file, changed), IsOkAndHolds(std::nullopt));
  changed = id;
  changed.device += 1;
  EXPECT_THAT(store->GetHash(file, changed), IsOkAndHolds(std::nullopt));

  // A real replacement of the file (same size, new inode) misses too.
  ASSERT_OK(base::WriteFileAtomically(file, "weights v2"));
  ASSERT_OK_AND_ASSIGN(base::FileIdentity replaced, base::StatFile(file));
  ASSERT_EQ(replaced.size, id.size);
  EXPECT_THAT(store->GetHash(file, replaced), IsOkAndHolds(std::nullopt));

  // The cache survives a reopen.
  store.reset();
  store = OpenStore();
  EXPECT_THAT(store->GetHash(file, id),
              IsOkAndHolds(::testing::Optional(std::string(64, 'f'))));
}

TEST_F(StoreTest, ReadOnlyOpenSeesCommittedDataWhileWriterHoldsTheStore) {
  auto writer = OpenStore();
  ASSERT_OK_AND_ASSIGN(RunRecord run, writer->CreateRun(MakeRun("ro")));
  for (int d = 0; d < 20; ++d)
    ASSERT_OK(writer->PutSample(MakeTestSample(run.id(), "mmlu", d)));

  // A second writer is refused with a clear reason.
  EXPECT_THAT(Store::Open(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already open")));

  StoreOptions ro = Options();
  ro.read_only = true;
  ASSERT_OK_AND_ASSIGN(auto reader, Store::Open(ro));
  EXPECT_THAT(reader->CountSamples(run.id(), "mmlu"), IsOkAndHolds(20));
  ASSERT_OK_AND_ASSIGN(RunRecord got, reader->GetRun(run.id()));
  EXPECT_EQ(got.progress(0).done(), 20);
  EXPECT_THAT(
      reader->PutSample(MakeTestSample(run.id(), "mmlu", 99)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("read-only")));
  EXPECT_THAT(reader->Dequeue(),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // The reader is a snapshot as of its open; a new reader sees later writes.
  ASSERT_OK(writer->PutSample(MakeTestSample(run.id(), "mmlu", 20)));
  EXPECT_THAT(reader->CountSamples(run.id(), "mmlu"), IsOkAndHolds(20));
  ASSERT_OK_AND_ASSIGN(auto reader2, Store::Open(ro));
  EXPECT_THAT(reader2->CountSamples(run.id(), "mmlu"), IsOkAndHolds(21));

  // And with the writer gone.
  writer.reset();
  ASSERT_OK_AND_ASSIGN(auto reader3, Store::Open(ro));
  EXPECT_THAT(reader3->CountSamples(run.id(), "mmlu"), IsOkAndHolds(21));
}

TEST_F(StoreTest, OpeningAMissingStore) {
  StoreOptions ro = Options();
  ro.read_only = true;
  EXPECT_THAT(Store::Open(ro),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(ro.path)));
  StoreOptions no_create = Options();
  no_create.create_if_missing = false;
  EXPECT_THAT(Store::Open(no_create),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(ro.path)));
  EXPECT_THAT(Store::Open(StoreOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace evald::store
