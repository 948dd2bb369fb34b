// The store's promise, tried the way a hostile but realistic user breaks it,
// through the real evald and evalctl on a tiny random-weight checkpoint:
// stray bytes never brick the store, damage is skipped and repaired, a resumed
// run never mixes two models, inputs are bounded, the data dir is private,
// limits mean what lm-eval's mean, a drain keeps its work, and a run killed
// twenty times equals an uninterrupted one document for document.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/json.h"
#include "proto/store.pb.h"
#include "tests/daemon/evald_test_base.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/raw_store.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

TempDir* g_fixture = nullptr;

// Two MMLU subjects of `per_subject` questions each.
void WriteMmlu(const std::string& dir, int per_subject) {
  for (const std::string subject :
       {"college_biology", "high_school_mathematics"}) {
    std::string test, dev;
    for (int i = 0; i < per_subject; ++i) {
      test += absl::StrCat(subject, " question ", i, "?,", i, ",", i + 1, ",",
                           i + 2, ",", i + 3, ",",
                           std::string(1, "ABCD"[i % 4]), "\n");
    }
    for (int i = 0; i < 5; ++i)
      dev += absl::StrCat("Example ", i, "?,a,b,c,d,B\n");
    WriteTestFile(absl::StrCat(dir, "/test/", subject, "_test.csv"), test);
    WriteTestFile(absl::StrCat(dir, "/dev/", subject, "_dev.csv"), dev);
  }
}

void MakeCheckpoint(const std::string& out, int seed) {
  ProcessResult made =
      RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                  "--seed", absl::StrCat(seed), "--out", out});
  ASSERT_EQ(made.exit_code, 0) << made.err;
}

void CopyDir(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive);
}

class TrustE2eTest : public EvaldTestBase {
 protected:
  static void SetUpTestSuite() {
    if (g_fixture != nullptr) return;
    g_fixture = new TempDir();
    MakeCheckpoint(g_fixture->Join("model"), 1);
    MakeCheckpoint(g_fixture->Join("model-other"), 2);
    WriteGsm8kFixture(g_fixture->Join("gsm8k-long"), 60);
    WriteMmlu(g_fixture->Join("mmlu"), 5);
  }

  // A generation suite on `model` over the long GSM8K fixture.
  std::string GsmSuite(const std::string& name, const std::string& model,
                       const std::string& extra = "") {
    const std::string path = tmp_.Join(name + ".yaml");
    WriteTestFile(path,
                  absl::StrCat("name: ", name, "\ncandidate:\n  model: ", model,
                               "\ntasks:\n  - {name: gsm8k, shots: 3, data: ",
                               g_fixture->Join("gsm8k-long"), "}\n", extra));
    return path;
  }

  // doc_index -> what the model produced for it (prompt, responses, metrics).
  std::map<int64_t, std::string> Outputs(const std::string& run,
                                         const std::string& task,
                                         bool offline = false) {
    ProcessResult r = offline ? Offline({"--json", "samples", run, task})
                              : Ctl({"--json", "samples", run, task});
    std::map<int64_t, std::string> out;
    auto json = base::ParseJson(r.out);
    const base::Json* samples = json.ok() ? json->Find("samples") : nullptr;
    if (samples == nullptr || !samples->is_array()) return out;
    for (const base::Json& s : samples->array()) {
      const int64_t index = Int(s.Find("doc_index"));
      EXPECT_EQ(out.count(index), 0u) << "doc " << index << " stored twice";
      out[index] =
          absl::StrCat(s.Find("prompt") ? s.Find("prompt")->Dump() : "", "\n",
                       s.Find("responses") ? s.Find("responses")->Dump() : "",
                       " ", s.Find("metrics") ? s.Find("metrics")->Dump() : "");
    }
    return out;
  }
  // Attempt that made each stored sample.
  std::map<int64_t, int64_t> Attempts(const std::string& run,
                                      const std::string& task) {
    std::map<int64_t, int64_t> out;
    base::Json samples = Json(Ctl({"--json", "samples", run, task}));
    const base::Json* list = samples.Find("samples");
    if (list == nullptr || !list->is_array()) return out;
    for (const base::Json& s : list->array())
      out[Int(s.Find("doc_index"))] = Int(s.Find("attempt"));
    return out;
  }
};

// Item: one stray byte in a checkpoint made a run's error unstorable and the
// whole store unreadable. Now the error is stored escaped and every reader,
// and evald's restart, keeps working.
TEST_F(TrustE2eTest, StrayBytesInACheckpointNeverBrickTheStore) {
  StartDaemon();
  const std::string model = tmp_.Join("damaged-model");
  CopyDir(g_fixture->Join("model"), model);
  // Queued behind a long run, then damaged before it starts: the damage
  // reaches the loader, whose error quotes the bytes.
  const std::string first = Submit(GsmSuite("first", g_fixture->Join("model")));
  const std::string run = Submit(GsmSuite("damaged", model));
  auto config = base::ReadFileToString(model + "/config.json");
  ASSERT_TRUE(config.ok());
  std::string damaged = *config;
  const size_t arch = damaged.find("LlamaForCausalLM");
  ASSERT_NE(arch, std::string::npos);
  damaged.replace(arch, 5,
                  "Ll\xff\xfe"
                  "a");
  WriteTestFile(model + "/config.json", damaged);
  EXPECT_EQ(Ctl({"watch", run}).exit_code, 1);
  base::Json failed = Results(run);
  EXPECT_EQ(Str(failed, {"run", "state"}), "FAILED");
  EXPECT_THAT(Str(failed, {"run", "error"}), HasSubstr("\\xff\\xfe"))
      << failed.Dump();

  for (const auto& args :
       std::vector<std::vector<std::string>>{{"list"},
                                             {"status"},
                                             {"results", first},
                                             {"env", run},
                                             {"samples", run, "gsm8k"}}) {
    ProcessResult r = Ctl(args);
    EXPECT_NE(r.exit_code, 2) << args[0] << ": " << r.err;
    EXPECT_THAT(r.err, Not(HasSubstr("corrupt"))) << args[0];
    EXPECT_THAT(r.err, Not(HasSubstr("unreadable"))) << args[0];
  }
  ASSERT_EQ(daemon_->Signal(SIGTERM, true), 0);
  ProcessResult offline = Offline({"list"});
  EXPECT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_THAT(offline.out, HasSubstr(run));
  StartDaemon();  // start-up reads every run
  EXPECT_EQ(Ctl({"list"}).exit_code, 0);
  ProcessResult fsck = Ctl({"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  EXPECT_THAT(fsck.out, HasSubstr("0 problem(s)"));
}

// Damage that got into a store anyway (an older evald, a bad disk) is skipped
// and named, then repaired or removed by an operator, through the daemon.
TEST_F(TrustE2eTest, DamagedRecordsAreSkippedNamedAndRepairedByTheOperator) {
  StartDaemon();
  const std::string good =
      Submit(GsmSuite("good", g_fixture->Join("model"), "limit: 2\n"));
  const std::string mended =
      Submit(GsmSuite("mended", g_fixture->Join("model"), "limit: 2\n"));
  const std::string garbage =
      Submit(GsmSuite("garbage", g_fixture->Join("model"), "limit: 2\n"));
  ASSERT_EQ(Ctl({"watch", garbage}).exit_code, 0);
  ASSERT_EQ(Ctl({"tag", garbage, "release"}).exit_code, 0);
  ASSERT_EQ(daemon_->Signal(SIGTERM, true), 0);

  // What an older evald wrote for an error with raw bytes: protobuf writes
  // them, then refuses to read them back.
  v1::RunRecord record;
  record.set_id(mended);
  record.mutable_spec()->set_name("mended");
  record.mutable_spec()->add_tasks()->set_name("gsm8k");
  record.set_state(v1::FAILED);
  record.set_error(
      "loading candidate model: unknown architecture 'Ll\xff\xfe"
      "aForCausalLM'");
  std::string raw;
  record.SerializeToString(&raw);
  WriteRawRecord(data_dir_ + "/store", "runs", mended, raw);
  WriteRawRecord(data_dir_ + "/store", "runs", garbage,
                 std::string("\x0a\xff\xff\xff\x0f junk", 10));

  StartDaemon();  // start-up survives both
  ProcessResult list = Ctl({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr(good));
  EXPECT_THAT(list.err,
              HasSubstr(absl::StrCat("warning: skipped run \"", garbage)));
  EXPECT_THAT(list.err, HasSubstr("evalctl fsck"));
  ProcessResult results = Ctl({"results", mended});
  EXPECT_EQ(results.exit_code, 1);
  EXPECT_THAT(results.err, HasSubstr(mended));

  ProcessResult check = Ctl({"fsck"});
  EXPECT_EQ(check.exit_code, 1) << check.out << check.err;
  EXPECT_THAT(check.out, HasSubstr(absl::StrCat("run \"", mended,
                                                "\": holds invalid UTF-8")));
  EXPECT_THAT(check.out, HasSubstr(absl::StrCat("run \"", garbage,
                                                "\": unreadable record")));
  ProcessResult repair = Ctl({"fsck", "--repair"});
  EXPECT_EQ(repair.exit_code, 0) << repair.out << repair.err;
  EXPECT_THAT(Str(Results(mended), {"run", "error"}),
              HasSubstr("'Ll\\xff\\xfeaForCausalLM'"));
  EXPECT_EQ(Ctl({"results", garbage}).exit_code, 2);
  EXPECT_THAT(Ctl({"tag", "--list"}).out, Not(HasSubstr("release")));
  ProcessResult clean = Ctl({"fsck"});
  EXPECT_EQ(clean.exit_code, 0) << clean.out;
  EXPECT_THAT(Ctl({"list"}).err, Not(HasSubstr("warning")));

  // delete: a finished run with its samples; a running one is refused.
  ProcessResult deleted = Ctl({"delete", good});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_THAT(deleted.out, HasSubstr("2 samples"));
  EXPECT_EQ(Ctl({"results", good}).exit_code, 2);
  // Long enough (400 documents) to be still running when it is deleted.
  WriteGsm8kFixture(tmp_.Join("gsm8k-400"), 400);
  const std::string running_suite = tmp_.Join("running.yaml");
  WriteTestFile(running_suite,
                absl::StrCat("name: running\ncandidate:\n  model: ",
                             g_fixture->Join("model"),
                             "\ntasks:\n  - {name: gsm8k, shots: 3, data: ",
                             tmp_.Join("gsm8k-400"), "}\n"));
  const std::string running = Submit(running_suite);
  ASSERT_TRUE(WaitFor([&] { return Done(Results(running)) >= 1; }));
  ProcessResult refused = Ctl({"delete", running});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("cancel it first"));
  ASSERT_EQ(Ctl({"cancel", running}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] {
    return Str(Results(running), {"run", "state"}) == "CANCELLED";
  }));
  EXPECT_EQ(Ctl({"delete", running}).exit_code, 0);
  ASSERT_EQ(daemon_->Signal(SIGTERM, true), 0);
  // Offline, the same commands work on the store directly.
  ProcessResult offline_check = Offline({"fsck"});
  EXPECT_EQ(offline_check.exit_code, 0)
      << offline_check.out << offline_check.err;
  EXPECT_EQ(Offline({"delete", mended}).exit_code, 0);
  EXPECT_EQ(Offline({"delete", mended}).exit_code, 2);
}

// Item: a run killed, its weights replaced, resumed: it finished with two
// models' samples under the old hash. Now it is refused, naming the file and
// both hashes; with --allow-drift the change is recorded per attempt.
TEST_F(TrustE2eTest, AResumedRunNeverMixesTwoModels) {
  for (const bool allow : {false, true}) {
    SCOPED_TRACE(allow ? "--allow-drift" : "no --allow-drift");
    const std::string model =
        tmp_.Join(allow ? "swap-allowed" : "swap-refused");
    CopyDir(g_fixture->Join("model"), model);
    StartDaemon();
    const std::string run =
        Submit(GsmSuite("swap", model),
               allow ? std::vector<std::string>{"--allow-drift"}
                     : std::vector<std::string>{});
    ASSERT_TRUE(WaitFor([&] { return Done(Results(run)) >= 3; }))
        << daemon_->log();
    ASSERT_EQ(daemon_->Signal(SIGKILL, true), -1);
    const int64_t done_before = Done(Results(run, /*offline=*/true));
    ASSERT_LT(done_before, 60);
    base::Json env_before = Json(Offline({"--json", "env", run}));
    fs::copy_file(g_fixture->Join("model-other") + "/model.safetensors",
                  model + "/model.safetensors",
                  fs::copy_options::overwrite_existing);

    StartDaemon();
    const int watched = Ctl({"watch", run}).exit_code;
    base::Json after = Results(run);
    if (!allow) {
      EXPECT_EQ(watched, 1);
      EXPECT_EQ(Str(after, {"run", "state"}), "FAILED");
      const std::string error = Str(after, {"run", "error"});
      EXPECT_THAT(error, HasSubstr("refused to resume"));
      EXPECT_THAT(error, HasSubstr("candidate model: model.safetensors: "));
      EXPECT_THAT(error, HasSubstr("--allow-drift"));
      // Nothing was computed with the new weights.
      EXPECT_EQ(Done(after), done_before);
    } else {
      EXPECT_EQ(watched, 0);
      EXPECT_EQ(Str(after, {"run", "state"}), "SUCCEEDED");
      EXPECT_EQ(Done(after), 60);
      ProcessResult env = Ctl({"env", run});
      EXPECT_THAT(env.out, HasSubstr("DRIFTED"));
      EXPECT_THAT(env.out,
                  HasSubstr("inputs changed when attempt 2 resumed the run"));
      EXPECT_THAT(env.out, HasSubstr(absl::StrCat("gsm8k ", done_before)));
      // The fingerprint shown is the new weights', the old one is named in
      // the change.
      base::Json env_after = Json(Ctl({"--json", "env", run}));
      EXPECT_NE(env_after.Find("fingerprint")->Dump(),
                env_before.Find("fingerprint")->Dump());
      std::map<int64_t, int64_t> attempts = Attempts(run, "gsm8k");
      int64_t first = 0, second = 0;
      for (const auto& [doc, attempt] : attempts)
        (attempt == 1 ? first : second) += 1;
      EXPECT_EQ(first, done_before);
      EXPECT_EQ(second, 60 - done_before);
    }
    ASSERT_EQ(daemon_->Signal(SIGTERM, true), 0);
  }
}

// The same weights replaced while the model is resident: the next run loads
// the new files instead of serving the old ones under the new hash.
TEST_F(TrustE2eTest, AResidentModelIsReloadedWhenItsFilesChange) {
  StartDaemon();
  const std::string model = tmp_.Join("resident");
  CopyDir(g_fixture->Join("model"), model);
  const std::string a = Submit(GsmSuite("a", model, "limit: 3\n"), {});
  ASSERT_EQ(Ctl({"watch", a}).exit_code, 0);
  fs::copy_file(g_fixture->Join("model-other") + "/model.safetensors",
                model + "/model.safetensors",
                fs::copy_options::overwrite_existing);
  const std::string b = Submit(GsmSuite("b", model, "limit: 3\n"), {});
  ASSERT_EQ(Ctl({"watch", b}).exit_code, 0);
  const std::string c =
      Submit(GsmSuite("c", g_fixture->Join("model-other"), "limit: 3\n"), {});
  ASSERT_EQ(Ctl({"watch", c}).exit_code, 0);
  // b ran the new weights: its outputs are the other model's, not a's.
  std::map<int64_t, std::string> out_a = Outputs(a, "gsm8k"),
                                 out_b = Outputs(b, "gsm8k"),
                                 out_c = Outputs(c, "gsm8k");
  EXPECT_EQ(out_b, out_c);
  EXPECT_NE(out_b, out_a);
}

// Item: `limit` on mmlu limits each subject (lm-eval's --limit); the
// executor used to cut the whole list again, so only the first subject ran.
TEST_F(TrustE2eTest, MmluLimitAppliesPerSubjectAsLmEvalDoes) {
  StartDaemon();
  const std::string path = tmp_.Join("mmlu.yaml");
  WriteTestFile(
      path,
      absl::StrCat(
          "name: mmlu-limit\ncandidate:\n  model: ", g_fixture->Join("model"),
          "\ntasks:\n  - {name: mmlu, shots: 1, limit: 2, data: ",
          g_fixture->Join("mmlu"), "}\n"));
  const std::string run = Submit(path);
  ASSERT_EQ(Ctl({"watch", run}).exit_code, 0);
  base::Json samples = Json(Ctl({"--json", "samples", run, "mmlu"}));
  std::map<std::string, int> per_subject;
  for (const base::Json& s : samples.Find("samples")->array()) {
    per_subject[s.Find("subtask")->string_value()] += 1;
  }
  EXPECT_EQ(per_subject,
            (std::map<std::string, int>{{"college_biology", 2},
                                        {"high_school_mathematics", 2}}));
}

// Item: the smaller holes each get a bound and a one-line error (exit 2).
TEST_F(TrustE2eTest, OversizedAndMalformedInputsGetOneLineErrors) {
  StartDaemon();
  const std::string run =
      Submit(GsmSuite("small", g_fixture->Join("model"), "limit: 1\n"));
  ASSERT_EQ(Ctl({"watch", run}).exit_code, 0);
  auto one_line_exit_2 = [&](const ProcessResult& r,
                             const std::string& expected) {
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(expected));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  one_line_exit_2(Ctl({"tag", run, std::string(100000, 't')}),
                  "a tag is at most 128");
  one_line_exit_2(Ctl({"generate", "--model", g_fixture->Join("model"),
                       "--temperature", "nan", "hi"}),
                  "--temperature: expected a finite number >= 0");
  one_line_exit_2(Ctl({"generate", "--model", g_fixture->Join("model"),
                       "--top-p", "nan", "hi"}),
                  "--top-p");
  one_line_exit_2(Ctl({"tag", run, "caf\xe9"}),
                  "argument 5 ('caf\\xe9') is not valid UTF-8");
  // A suite over the size limit, refused before it is read or sent.
  const std::string huge = tmp_.Join("huge.yaml");
  WriteTestFile(huge, absl::StrCat(base::ReadFileToString(
                                       GsmSuite("h", g_fixture->Join("model")))
                                       .value(),
                                   "# ", std::string(3 << 20, 'x'), "\n"));
  one_line_exit_2(Ctl({"submit", huge}), "a suite is at most 1048576 bytes");
  const std::string bad_bytes = tmp_.Join("bad-bytes.yaml");
  WriteTestFile(bad_bytes,
                absl::StrCat(base::ReadFileToString(
                                 GsmSuite("u", g_fixture->Join("model")))
                                 .value(),
                             "labels: {note: \"caf\xe9\"}\n"));
  one_line_exit_2(Ctl({"submit", bad_bytes}), "not valid UTF-8");
  // A large suite (within the limit) is stored once, not sent with every
  // listed run.
  const std::string large = tmp_.Join("large.yaml");
  WriteTestFile(
      large,
      absl::StrCat(base::ReadFileToString(
                       GsmSuite("l", g_fixture->Join("model"), "limit: 1\n"))
                       .value(),
                   "# ", std::string(600 << 10, 'x'), "\n"));
  const std::string large_run = Submit(large);
  ASSERT_EQ(Ctl({"watch", large_run}).exit_code, 0);
  ProcessResult list = Ctl({"--json", "list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_LT(list.out.size(), 100u << 10);
  EXPECT_THAT(list.out, HasSubstr(large_run));
  ProcessResult labels = Ctl(
      {"submit",
       GsmSuite("lbl", g_fixture->Join("model"),
                absl::StrCat("labels: {k: ", std::string(5000, 'v'), "}\n"))});
  one_line_exit_2(labels,
                  "label keys are at most 128 bytes and values at most 1024");
}

// Item: the data dir was 0755 and its files 0644; a non-loopback HTTP
// endpoint without a token started anyway.
TEST_F(TrustE2eTest, TheDataDirIsPrivateAndAnOpenEndpointIsRefusedFirst) {
  const std::string open_dir = tmp_.Join("open");
  ProcessResult refused = RunProcess({BinDir() + "/evald", "--data-dir",
                                      open_dir, "--http-listen", "0.0.0.0:0"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("requires --http-token-file"));
  EXPECT_FALSE(fs::exists(open_dir)) << "nothing may start before the refusal";

  // An existing, world-readable data dir is tightened; new files are 0600.
  fs::create_directories(data_dir_);
  chmod(data_dir_.c_str(), 0755);
  StartDaemon();
  const std::string run =
      Submit(GsmSuite("private", g_fixture->Join("model"), "limit: 1\n"));
  ASSERT_EQ(Ctl({"watch", run}).exit_code, 0);
  struct stat st {};
  ASSERT_EQ(stat(data_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_THAT(daemon_->log(), HasSubstr("made the data dir private"));
  int files = 0;
  for (const fs::directory_entry& e :
       fs::recursive_directory_iterator(data_dir_)) {
    ASSERT_EQ(lstat(e.path().c_str(), &st), 0);
    if (S_ISDIR(st.st_mode)) {
      EXPECT_EQ(st.st_mode & 077, 0u) << e.path();
    } else {
      EXPECT_EQ(st.st_mode & 077, 0u)
          << e.path() << " mode " << std::oct << (st.st_mode & 0777);
      ++files;
    }
  }
  EXPECT_GT(files, 3);
}

// Item: SIGTERM threw away every document in flight; now they finish and
// are stored, so across the drain each document is generated exactly once:
// the drained and resumed run generates exactly the tokens an uninterrupted
// run does (and its figures count both attempts).
TEST_F(TrustE2eTest, ADrainStoresTheWorkInFlightInsteadOfDiscardingIt) {
  StartDaemon();
  // 300 documents: long enough to be mid-run when the signal comes.
  WriteGsm8kFixture(tmp_.Join("gsm8k-300"), 300);
  const std::string suite = tmp_.Join("drain.yaml");
  WriteTestFile(
      suite, absl::StrCat(
                 "name: drain\ncandidate:\n  model: ", g_fixture->Join("model"),
                 "\ntasks:\n  - {name: gsm8k, shots: 3, data: ",
                 tmp_.Join("gsm8k-300"), "}\n"));
  const std::string reference = Submit(suite);
  ASSERT_EQ(Ctl({"watch", reference}).exit_code, 0);
  const int64_t ref_generated =
      Int(Path(Results(reference), {"run", "stats", "generated_tokens"}));
  ASSERT_GT(ref_generated, 0) << Results(reference).Dump();

  const std::string run = Submit(suite);
  ASSERT_TRUE(WaitFor([&] { return Done(Results(run)) >= 5; }));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(daemon_->Signal(SIGTERM, true), 0) << daemon_->log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(25));
  base::Json drained = Results(run, /*offline=*/true);
  EXPECT_EQ(Str(drained, {"run", "state"}), "QUEUED");
  const int64_t drained_done = Done(drained);
  EXPECT_LT(drained_done, 300) << "the run finished before the drain";
  StartDaemon();
  ASSERT_EQ(Ctl({"watch", run}).exit_code, 0);
  base::Json done = Results(run);
  EXPECT_EQ(Done(done), 300);
  EXPECT_EQ(Int(Path(done, {"run", "attempt"})), 2);
  EXPECT_EQ(Int(Path(done, {"run", "stats", "generated_tokens"})),
            ref_generated)
      << "tokens generated twice: the drain discarded work in flight";
  EXPECT_EQ(Outputs(run, "gsm8k"), Outputs(reference, "gsm8k"));
}

// The proof the issue asks for: SIGKILL at twenty random moments during a
// generation run; no sample is lost, none is stored twice or changed, the
// finished run equals an uninterrupted one document for document, and the
// engine figures of the killed attempts stay in the run's totals.
TEST_F(TrustE2eTest, TwentyRandomSigkillsLoseNothingAndChangeNothing) {
  constexpr int kDocs = 800;
  WriteGsm8kFixture(tmp_.Join("gsm8k-kills"), kDocs);
  const std::string suite = tmp_.Join("kills.yaml");
  WriteTestFile(
      suite, absl::StrCat(
                 "name: kills\ncandidate:\n  model: ", g_fixture->Join("model"),
                 "\ntasks:\n  - {name: gsm8k, shots: 3, data: ",
                 tmp_.Join("gsm8k-kills"), "}\n"));
  StartDaemon();
  const auto ref_start = std::chrono::steady_clock::now();
  const std::string reference = Submit(suite);
  ASSERT_EQ(Ctl({"watch", reference}).exit_code, 0);
  // Seconds one document takes here and now, to pace the kills so that
  // twenty of them fall inside the run however fast this machine is.
  const double per_doc_s = std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - ref_start)
                               .count() /
                           kDocs;
  const std::map<int64_t, std::string> expected = Outputs(reference, "gsm8k");
  ASSERT_EQ(expected.size(), static_cast<size_t>(kDocs));
  const int64_t ref_generated =
      Int(Path(Results(reference), {"run", "stats", "generated_tokens"}));

  const unsigned seed = static_cast<unsigned>(
      std::chrono::steady_clock::now().time_since_epoch().count() % 100000);
  SCOPED_TRACE(absl::StrCat("kill timing seed ", seed));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  const std::string run = Submit(suite);
  int kills = 0, kills_that_found_progress = 0;
  int64_t last_done = 0;
  std::map<int64_t, std::string> seen;  // each sample as first stored
  for (; kills < 20; ++kills) {
    // A random moment, at most half of what the remaining work shared out
    // over the remaining kills would take.
    const double budget_s =
        (kDocs - last_done) * per_doc_s / (2.0 * (20 - kills));
    const double pause_s = 0.03 + unit(rng) * std::clamp(budget_s, 0.05, 0.7);
    std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
    ASSERT_EQ(daemon_->Signal(SIGKILL, true), -1);
    base::Json now = Results(run, /*offline=*/true);
    ASSERT_NE(Str(now, {"run", "state"}), "SUCCEEDED")
        << "finished before kill " << kills + 1;
    const int64_t done = Done(now);
    ASSERT_GE(done, last_done) << "samples lost at kill " << kills + 1;
    if (done > last_done) ++kills_that_found_progress;
    last_done = done;
    // A stored sample is never computed again: it stays byte for byte.
    for (const auto& [doc, text] : Outputs(run, "gsm8k", /*offline=*/true)) {
      auto [it, inserted] = seen.emplace(doc, text);
      EXPECT_EQ(it->second, text)
          << "doc " << doc << " changed after kill " << kills + 1;
    }
    StartDaemon();
  }
  ASSERT_EQ(Ctl({"watch", run}).exit_code, 0);
  EXPECT_EQ(Outputs(run, "gsm8k"), expected);
  base::Json finished = Results(run);
  EXPECT_EQ(Str(finished, {"run", "state"}), "SUCCEEDED");
  EXPECT_EQ(Int(Path(finished, {"run", "attempt"})), 21);
  // The killed attempts' work is counted: at least what one clean run does.
  EXPECT_GE(Int(Path(finished, {"run", "stats", "generated_tokens"})),
            ref_generated);
  std::cerr << kills << " kills, " << kills_that_found_progress
            << " found new samples stored since the kill before; seed " << seed
            << "\n";
}

}  // namespace
}  // namespace evald::testing
