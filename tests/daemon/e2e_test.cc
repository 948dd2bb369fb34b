// End to end through the real evald + evalctl + native engine on a tiny
// random-weight checkpoint (written by evald-make-checkpoint) and small
// datasets this test writes: completion, cancel, SIGKILL + resume, SIGTERM
// drain, watch disconnects, priorities, pins, and 32 concurrent clients.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/json.h"
#include "base/sha256.h"
#include "tests/daemon/evald_test_base.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::testing::HasSubstr;

// Shared by every test: one checkpoint and the datasets.
TempDir* g_fixture = nullptr;

void WriteDatasets(const std::string& root, int gsm_docs) {
  WriteGsm8kFixture(root + "/gsm8k", gsm_docs);
  WriteMmluFixture(root + "/mmlu", 12);
}

class E2eTest : public EvaldTestBase {
 protected:
  static void SetUpTestSuite() {
    if (g_fixture != nullptr) return;
    g_fixture = new TempDir();
    ProcessResult made =
        RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                    "--seed", "1", "--out", g_fixture->Join("model")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    WriteDatasets(g_fixture->Join("small"), 6);
    WriteDatasets(g_fixture->Join("long"), 160);
  }

  void SetUp() override { StartDaemon(); }

  // A suite over the fixture: `size` "small" or "long".
  std::string WriteSuite(const std::string& name, const std::string& size,
                         const std::string& extra = "") {
    const std::string path = tmp_.Join(name + ".yaml");
    WriteTestFile(
        path,
        absl::StrCat("name: ", name, "\ncandidate:\n  model: ",
                     g_fixture->Join("model"), "\ntasks:\n",
                     "  - {name: mmlu, shots: 2, data: ", g_fixture->Join(size),
                     "/mmlu}\n", "  - {name: gsm8k, shots: 3, data: ",
                     g_fixture->Join(size), "/gsm8k}\n", extra));
    return path;
  }

  // doc_index -> (finished_unix_ms, responses) of a task's stored samples.
  std::map<int64_t, std::string> SampleFacts(const std::string& run,
                                             const std::string& task,
                                             bool offline) {
    ProcessResult r = offline ? Offline({"--json", "samples", run, task})
                              : Ctl({"--json", "samples", run, task});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<int64_t, std::string> facts;
    auto json = base::ParseJson(r.out);
    if (!json.ok()) return facts;
    const base::Json* samples = json->Find("samples");
    if (samples == nullptr || !samples->is_array()) return facts;
    for (const base::Json& s : samples->array()) {
      const int64_t index = Int(s.Find("doc_index"));
      EXPECT_EQ(facts.count(index), 0u) << "doc " << index << " stored twice";
      facts[index] =
          absl::StrCat(Int(s.Find("finished_unix_ms")), " ",
                       s.Find("responses") ? s.Find("responses")->Dump() : "");
    }
    return facts;
  }

  // Every task's metrics, without the run id.
  static std::string Scores(const base::Json& results) {
    const base::Json* scores = results.Find("scores");
    if (scores == nullptr || !scores->is_array()) return "";
    std::string out;
    for (const base::Json& s : scores->array()) {
      absl::StrAppend(&out, s.Find("task") ? s.Find("task")->Dump() : "", ":",
                      s.Find("metrics") ? s.Find("metrics")->Dump() : "", "\n");
    }
    return out;
  }

  // doc_index -> responses and metrics: what the model produced per document.
  std::map<int64_t, std::string> SampleContent(const std::string& run,
                                               const std::string& task) {
    ProcessResult r = Ctl({"--json", "samples", run, task});
    std::map<int64_t, std::string> content;
    auto json = base::ParseJson(r.out);
    const base::Json* samples = json.ok() ? json->Find("samples") : nullptr;
    if (samples == nullptr || !samples->is_array()) return content;
    for (const base::Json& s : samples->array()) {
      content[Int(s.Find("doc_index"))] =
          absl::StrCat(s.Find("prompt") ? s.Find("prompt")->Dump() : "", "\n",
                       s.Find("responses") ? s.Find("responses")->Dump() : "",
                       " ", s.Find("metrics") ? s.Find("metrics")->Dump() : "");
    }
    return content;
  }

  void SigkillResumeBody(bool compare_outputs);
};

TEST_F(E2eTest, RunCompletesWithScoresSamplesAndEnvironment) {
  ProcessResult r = Ctl({"--json", "submit", WriteSuite("small", "small"),
                         "--wait", "--set", "labels.checkpoint=1200"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto submitted = base::ParseJson(r.out);
  ASSERT_TRUE(submitted.ok()) << r.out;
  const std::string run = submitted->Find("run")->Find("id")->string_value();
  ProcessResult table = Ctl({"results", run});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.out, HasSubstr("succeeded"));
  EXPECT_THAT(table.out, HasSubstr("exact_match,strict-match"));
  ProcessResult list = Ctl({"list", "--label", "checkpoint=1200"});
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.out, HasSubstr(run));
  base::Json results = Results(run);
  EXPECT_EQ(State(results), "SUCCEEDED");
  EXPECT_EQ(Done(results), 12 + 6);
  EXPECT_EQ(SampleFacts(run, "gsm8k", false).size(), 6u);
  EXPECT_EQ(Ctl({"list", "--label", "checkpoint=999"}).out, "no runs\n");

  // The fingerprint hashes the model's files as they are on disk.
  ProcessResult env = Ctl({"--json", "env", run});
  ASSERT_EQ(env.exit_code, 0) << env.err;
  auto weights = base::Sha256File(g_fixture->Join("model/model.safetensors"));
  ASSERT_TRUE(weights.ok());
  EXPECT_THAT(env.out, HasSubstr(*weights));
  EXPECT_THAT(env.out, HasSubstr("\"driver_version\":\""));

  // The store reads offline with the daemon stopped.
  ASSERT_EQ(daemon_->Signal(SIGTERM, true), 0);
  ProcessResult offline = Offline({"results", run});
  EXPECT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_THAT(offline.out, HasSubstr("gsm8k"));
  EXPECT_EQ(Scores(Results(run, /*offline=*/true)), Scores(results));
  EXPECT_EQ(Offline({"samples", run, "gsm8k", "--limit", "2"}).exit_code, 0);
}

// A/A: two runs of the same model, suite and seed pass the gate against each
// other (identical documents, p = 1); tags and label references resolve; the
// JUnit and Markdown outputs are written.
TEST_F(E2eTest, GateAaRunsPassAndTagsResolve) {
  const std::string suite = WriteSuite("aa", "small");
  auto submit = [&](const std::string& checkpoint) {
    ProcessResult r = Ctl({"--json", "submit", suite, "--wait", "--set",
                           "labels.checkpoint=" + checkpoint});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto json = base::ParseJson(r.out);
    return json.ok() ? json->Find("run")->Find("id")->string_value()
                     : std::string();
  };
  const std::string a = submit("100");
  const std::string b = submit("200");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  ProcessResult tag = Ctl({"tag", a, "release-3"});
  ASSERT_EQ(tag.exit_code, 0) << tag.err;
  EXPECT_THAT(Ctl({"tag", "--list"}).out, HasSubstr("release-3\t" + a));

  // The fixture has 12 + 6 documents: lower the minimum of shared documents.
  const std::string rules = tmp_.Join("gate.yaml");
  WriteTestFile(rules,
                "min_shared: 5\nmetrics:\n  mmlu/acc: 0.01\n  "
                "gsm8k/exact_match,strict-match: 0.02\n");
  ProcessResult gate = Ctl({"gate", b, "--baseline", "tag:release-3", "--rules",
                            rules, "--junit", tmp_.Join("gate.xml"),
                            "--markdown", tmp_.Join("gate.md")});
  EXPECT_EQ(gate.exit_code, 0) << gate.out << gate.err;
  EXPECT_THAT(gate.out, HasSubstr(": PASS"));
  EXPECT_THAT(gate.out, HasSubstr("mmlu/acc"));
  auto junit = base::ReadFileToString(tmp_.Join("gate.xml"));
  ASSERT_TRUE(junit.ok());
  EXPECT_THAT(*junit, HasSubstr("failures=\"0\""));
  auto md = base::ReadFileToString(tmp_.Join("gate.md"));
  ASSERT_TRUE(md.ok());
  EXPECT_THAT(*md, HasSubstr("## evald gate: PASS"));

  ProcessResult by_label = Ctl({"--json", "gate", b, "--baseline",
                                "label:checkpoint=100", "--rules", rules});
  EXPECT_EQ(by_label.exit_code, 0) << by_label.err;
  auto json = base::ParseJson(by_label.out);
  ASSERT_TRUE(json.ok()) << by_label.out;
  EXPECT_EQ(json->Find("baseline")->string_value(), a);
  for (const base::Json& rule : json->Find("rules")->array()) {
    EXPECT_EQ(rule.Find("p")->number_value(), 1.0) << rule.Dump();
    EXPECT_EQ(rule.Find("difference")->number_value(), 0.0);
  }

  ProcessResult compare = Ctl({"compare", a, b, "--flips"});
  EXPECT_EQ(compare.exit_code, 0) << compare.err;
  EXPECT_THAT(compare.out,
              HasSubstr("flips: 0 right -> wrong, 0 wrong -> right"));

  // A run with another prompt format (3 shots instead of 2) drifts: the gate
  // fails closed and names the field, unless drift is allowed.
  const std::string c = submit("300");
  ProcessResult shots = Ctl({"--json", "submit", WriteSuite("aa3", "small"),
                             "--wait", "--set", "tasks[0].shots=3"});
  ASSERT_EQ(shots.exit_code, 0) << shots.err;
  auto shots_json = base::ParseJson(shots.out);
  ASSERT_TRUE(shots_json.ok());
  const std::string d = shots_json->Find("run")->Find("id")->string_value();
  ProcessResult drift = Ctl({"gate", d, "--baseline", c, "--rules", rules});
  EXPECT_EQ(drift.exit_code, 1) << drift.out << drift.err;
  EXPECT_THAT(drift.out, HasSubstr("mmlu shots: 2 -> 3"));
  EXPECT_NE(Ctl({"gate", d, "--baseline", c, "--rules", rules, "--allow-drift"})
                .exit_code,
            1);

  EXPECT_EQ(Ctl({"gate", b, "--baseline", "tag:nope"}).exit_code, 2);
  EXPECT_THAT(Ctl({"gate", b, "--baseline", "nope"}).err,
              HasSubstr("no run or tag named 'nope'"));
  WriteTestFile(tmp_.Join("bad.yaml"), "metrics:\n  mmlu/acc: lots\n");
  ProcessResult bad =
      Ctl({"gate", b, "--baseline", a, "--rules", tmp_.Join("bad.yaml")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("bad.yaml:2:"));

  // The research report over the two runs, in both formats.
  ProcessResult html =
      Ctl({"report", "--since", "1d", "--out", tmp_.Join("week.html")});
  ASSERT_EQ(html.exit_code, 0) << html.err;
  EXPECT_THAT(html.out, HasSubstr("4 runs"));
  auto page = base::ReadFileToString(tmp_.Join("week.html"));
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(*page, HasSubstr("<svg class=\"chart\""));
  EXPECT_THAT(*page, HasSubstr(a));
  ProcessResult md_report =
      Ctl({"report", "--since", "1d", "--label", "checkpoint=200", "--out",
           tmp_.Join("week.md")});
  ASSERT_EQ(md_report.exit_code, 0) << md_report.err;
  EXPECT_THAT(md_report.out, HasSubstr("1 runs"));
  ProcessResult empty = Ctl({"report", "--since", "2000-01-01", "--until",
                             "2000-01-02", "--out", tmp_.Join("empty.md")});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_THAT(
      empty.err,
      HasSubstr("no runs between 2000-01-01 00:00 and 2000-01-02 00:00"));
  EXPECT_EQ(Ctl({"report", "--since", "1d", "--out", tmp_.Join("week.pdf")})
                .exit_code,
            2);

  // Offline, with the daemon stopped, the same verdict from the store.
  ASSERT_EQ(daemon_->Signal(SIGTERM, true), 0);
  EXPECT_EQ(Offline({"gate", b, "--baseline", "release-3", "--rules", rules})
                .exit_code,
            0);
  // Without the rules the defaults ask for 20 shared documents: inconclusive.
  EXPECT_EQ(Offline({"gate", b, "--baseline", "release-3"}).exit_code, 4);
}

TEST_F(E2eTest, SigkillMidRunResumesWithoutRecomputingAndScoresMatch) {
  SigkillResumeBody(/*compare_outputs=*/false);
}

// Reproducibility: every document's prompt, output and metrics in a resumed
// run equal the uninterrupted run's, byte for byte.
TEST_F(E2eTest, ResumedRunOutputsEqualUninterruptedRunPerDocument) {
  SigkillResumeBody(/*compare_outputs=*/true);
}

// SIGKILL mid-run, restart, finish; with `compare_outputs` every document's
// prompt and output must also equal the uninterrupted run's.
void E2eTest::SigkillResumeBody(bool compare_outputs) {
  // The reference: the same suite, uninterrupted.
  const std::string suite = WriteSuite("long", "long");
  ProcessResult ref_run = Ctl({"--json", "submit", suite, "--wait"});
  ASSERT_EQ(ref_run.exit_code, 0) << ref_run.err;
  auto ref = base::ParseJson(ref_run.out);
  ASSERT_TRUE(ref.ok()) << ref_run.out;
  const std::string ref_scores = Scores(*ref);
  ASSERT_THAT(ref_scores, HasSubstr("exact_match"));
  const std::string ref_id = ref->Find("run")->Find("id")->string_value();
  const std::map<int64_t, std::string> ref_mmlu = SampleContent(ref_id, "mmlu");
  const std::map<int64_t, std::string> ref_gsm = SampleContent(ref_id, "gsm8k");
  ASSERT_EQ(ref_gsm.size(), 160u);

  const std::string run = Submit(suite);
  ASSERT_TRUE(WaitFor([&] { return Done(Results(run)) >= 20; }))
      << daemon_->log();
  ASSERT_EQ(daemon_->Signal(SIGKILL, true), -1);
  base::Json killed = Results(run, /*offline=*/true);
  ASSERT_EQ(State(killed), "RUNNING");
  const int64_t done_at_kill = Done(killed);
  ASSERT_LT(done_at_kill, 12 + 160) << "the run finished before the kill";
  std::map<int64_t, std::string> mmlu_before = SampleFacts(run, "mmlu", true);
  std::map<int64_t, std::string> gsm_before = SampleFacts(run, "gsm8k", true);
  EXPECT_EQ(static_cast<int64_t>(mmlu_before.size() + gsm_before.size()),
            done_at_kill);

  StartDaemon();
  ProcessResult watch = Ctl({"watch", run});
  EXPECT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  base::Json resumed = Results(run);
  EXPECT_EQ(State(resumed), "SUCCEEDED");
  ASSERT_NE(resumed.Find("run"), nullptr);
  EXPECT_EQ(Int(resumed.Find("run")->Find("attempt")), 2);
  EXPECT_EQ(Scores(resumed), ref_scores);
  std::map<int64_t, std::string> mmlu_after = SampleFacts(run, "mmlu", false);
  std::map<int64_t, std::string> gsm_after = SampleFacts(run, "gsm8k", false);
  EXPECT_EQ(mmlu_after.size(), 12u);
  EXPECT_EQ(gsm_after.size(), 160u);
  // Samples finished before the kill were kept, not computed again.
  for (const auto& [index, facts] : mmlu_before)
    EXPECT_EQ(mmlu_after[index], facts) << index;
  for (const auto& [index, facts] : gsm_before)
    EXPECT_EQ(gsm_after[index], facts) << index;
  if (!compare_outputs) return;
  // Every document's output equals the uninterrupted run's.
  for (const auto& [task, ref_content] :
       {std::pair{std::string("mmlu"), ref_mmlu},
        std::pair{std::string("gsm8k"), ref_gsm}}) {
    const std::map<int64_t, std::string> content = SampleContent(run, task);
    const std::map<int64_t, std::string>& before =
        task == "mmlu" ? mmlu_before : gsm_before;
    EXPECT_EQ(content.size(), ref_content.size()) << task;
    std::string differing;
    for (const auto& [index, text] : ref_content) {
      auto it = content.find(index);
      if (it == content.end() || it->second != text) {
        const bool same_prompt = it != content.end() &&
                                 it->second.substr(0, it->second.find('\n')) ==
                                     text.substr(0, text.find('\n'));
        if (differing.empty() && it != content.end()) {
          ADD_FAILURE() << "first difference, doc " << index
                        << "\nreference: " << text
                        << "\nresumed:   " << it->second;
        }
        absl::StrAppend(&differing, " ", index,
                        before.count(index) ? "(before kill)" : "",
                        same_prompt ? "" : "(prompt)");
      }
    }
    EXPECT_EQ(differing, "")
        << task << " documents whose output differs from the reference";
  }
}

TEST_F(E2eTest, CancelMidRunStopsPromptlyAndKeepsSamples) {
  const std::string run = Submit(WriteSuite("long", "long"));
  ASSERT_TRUE(WaitFor([&] { return Done(Results(run)) >= 15; }));
  const auto t0 = std::chrono::steady_clock::now();
  ProcessResult cancel = Ctl({"cancel", run});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  ASSERT_TRUE(WaitFor([&] { return State(Results(run)) == "CANCELLED"; }, 60));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  const int64_t done = Done(Results(run));
  EXPECT_GE(done, 15);
  EXPECT_LT(done, 12 + 160);
  EXPECT_EQ(Ctl({"watch", run}).exit_code, 1);
  EXPECT_EQ(Ctl({"results", run}).exit_code, 1);
  // Cancelling again is an input error; the daemon still serves runs.
  EXPECT_EQ(Ctl({"cancel", run}).exit_code, 2);
  EXPECT_EQ(Ctl({"submit", WriteSuite("small", "small"), "--wait"}).exit_code,
            0);
}

TEST_F(E2eTest, SigtermDrainsAndTheRunResumes) {
  const std::string run = Submit(WriteSuite("long", "long"));
  ASSERT_TRUE(WaitFor([&] { return Done(Results(run)) >= 15; }));
  ASSERT_EQ(daemon_->Signal(SIGTERM, true), 0) << daemon_->log();
  base::Json drained = Results(run, /*offline=*/true);
  EXPECT_EQ(State(drained), "QUEUED");
  StartDaemon();
  EXPECT_EQ(Ctl({"watch", run}).exit_code, 0);
  base::Json done = Results(run);
  EXPECT_EQ(State(done), "SUCCEEDED");
  EXPECT_EQ(Done(done), 12 + 160);
}

TEST_F(E2eTest, WatchClientsThatVanishLeaveTheDaemonHealthy) {
  // Two long runs: the second waits behind the first, so its watchers are
  // mid-stream when they are killed, a second after they start.
  const std::string first = Submit(WriteSuite("long", "long"));
  const std::string run = Submit(WriteSuite("long2", "long"));
  std::vector<std::thread> watchers;
  std::vector<int> codes(4, 0);
  for (int i = 0; i < 4; ++i) {
    watchers.emplace_back([&, i] {
      codes[i] = Ctl({"watch", run}, /*timeout_s=*/1).exit_code;
    });
  }
  for (std::thread& w : watchers) w.join();
  for (int code : codes) EXPECT_EQ(code, -1);
  EXPECT_EQ(Ctl({"watch", first}).exit_code, 0);
  EXPECT_EQ(Ctl({"status"}).exit_code, 0);
  EXPECT_EQ(Ctl({"watch", run}).exit_code, 0);
  EXPECT_EQ(State(Results(run)), "SUCCEEDED");
}

TEST_F(E2eTest, PriorityThenFifo) {
  const std::string blocker = Submit(WriteSuite("long", "long"));
  const std::string low = Submit(WriteSuite("low", "small"));
  const std::string high =
      Submit(WriteSuite("high", "small"), {"--priority", "5"});
  const std::string low2 = Submit(WriteSuite("low2", "small"));
  for (const std::string& run : {blocker, low, high, low2}) {
    EXPECT_EQ(Ctl({"watch", run}).exit_code, 0) << run;
  }
  auto started = [&](const std::string& run) {
    base::Json r = Results(run);
    return r.Find("run") != nullptr
               ? Int(r.Find("run")->Find("started_unix_ms"))
               : 0;
  };
  EXPECT_LE(started(high), started(low));
  EXPECT_LE(started(low), started(low2));
}

TEST_F(E2eTest, PinMismatchRefusesUnlessDriftIsAllowed) {
  const std::string suite =
      WriteSuite("pinned", "small", "pin:\n  driver: \"999.99\"\n");
  ProcessResult refused = Ctl({"submit", suite});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("pin.driver: expected 999.99, found "));
  ProcessResult allowed = Ctl({"submit", suite, "--allow-drift", "--wait"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_THAT(allowed.err, HasSubstr("DRIFTED"));
  EXPECT_THAT(Ctl({"list"}).out, HasSubstr("DRIFTED"));

  // Pins computed independently from the files on disk are accepted: the
  // gsm8k pin is sha256 over "path sha256" lines of its files, the model pin
  // the same over the model's files.
  auto run_json = base::ParseJson(Ctl({"--json", "list"}).out);
  ASSERT_TRUE(run_json.ok());
  const std::string run =
      run_json->Find("runs")->array()[0].Find("id")->string_value();
  auto env = base::ParseJson(Ctl({"--json", "env", run}).out);
  ASSERT_TRUE(env.ok());
  std::string gsm_digest, model_digest;
  for (const base::Json& t : env->Find("fingerprint")->Find("tasks")->array()) {
    if (t.Find("name")->string_value() != "gsm8k") continue;
    base::Sha256 h;
    for (const base::Json& f : t.Find("dataset_files")->array()) {
      const std::string path = f.Find("name")->string_value();
      auto sha = base::Sha256File(path);
      ASSERT_TRUE(sha.ok());
      h.Update(absl::StrCat(path, " ", *sha, "\n"));
    }
    gsm_digest = h.HexDigest();
  }
  for (const base::Json& m :
       env->Find("fingerprint")->Find("models")->array()) {
    base::Sha256 h;
    for (const base::Json& f : m.Find("files")->array()) {
      const std::string name = f.Find("name")->string_value();
      auto sha = base::Sha256File(g_fixture->Join("model/" + name));
      ASSERT_TRUE(sha.ok());
      h.Update(absl::StrCat(name, " ", *sha, "\n"));
    }
    model_digest = h.HexDigest();
  }
  ASSERT_EQ(gsm_digest.size(), 64u);
  const std::string good =
      WriteSuite("pinned_ok", "small",
                 absl::StrCat("pin:\n  datasets: {gsm8k: 'sha256:", gsm_digest,
                              "'}\n  models: {candidate: '",
                              "sha256:", model_digest, "'}\n"));
  ProcessResult ok = Ctl({"submit", good, "--wait"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.err, Not(HasSubstr("DRIFTED")));
  ProcessResult bad = Ctl(
      {"submit", good, "--set", "pin.models.candidate=sha256:" + gsm_digest});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err,
              HasSubstr("pin.models.candidate: expected sha256:" + gsm_digest +
                        ", found sha256:" + model_digest));
}

TEST_F(E2eTest, ThirtyTwoConcurrentSubmitsAllComplete) {
  const std::string suite = tmp_.Join("tiny.yaml");
  WriteTestFile(
      suite,
      absl::StrCat("name: tiny\ncandidate: {model: ", g_fixture->Join("model"),
                   "}\ntasks:\n  - {name: mmlu, shots: 0, limit: 2, data: ",
                   g_fixture->Join("small"), "/mmlu}\n"));
  std::vector<std::thread> clients;
  std::vector<ProcessResult> results(32);
  for (int i = 0; i < 32; ++i) {
    clients.emplace_back([&, i] { results[i] = Ctl({"submit", suite}); });
  }
  for (std::thread& t : clients) t.join();
  std::set<std::string> ids;
  for (const ProcessResult& r : results) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    ids.insert(std::string(absl::StripAsciiWhitespace(r.out)));
  }
  EXPECT_EQ(ids.size(), 32u);
  for (const std::string& run : ids) {
    EXPECT_EQ(Ctl({"watch", run}).exit_code, 0) << run;
    EXPECT_EQ(State(Results(run)), "SUCCEEDED") << run;
  }
}

}  // namespace
}  // namespace evald::testing

namespace evald::testing {
namespace {

TEST_F(E2eTest, ModelCallsUseOneResidentModel) {
  const std::string model = g_fixture->Join("model");
  ProcessResult g1 = Ctl(
      {"--json", "generate", "--model", model, "--max-tokens", "6", "Hello"});
  ASSERT_EQ(g1.exit_code, 0) << g1.err;
  auto gen = base::ParseJson(g1.out);
  ASSERT_TRUE(gen.ok()) << g1.out;
  ASSERT_NE(gen->Find("token_ids"), nullptr);
  EXPECT_GE(gen->Find("token_ids")->array().size(), 1u);
  EXPECT_LE(gen->Find("token_ids")->array().size(), 6u);
  EXPECT_NE(gen->Find("finish_reason"), nullptr);
  // Greedy is deterministic.
  ProcessResult g2 = Ctl(
      {"--json", "generate", "--model", model, "--max-tokens", "6", "Hello"});
  auto gen2 = base::ParseJson(g2.out);
  ASSERT_TRUE(gen2.ok());
  EXPECT_EQ(gen2->Find("token_ids")->Dump(), gen->Find("token_ids")->Dump());

  ProcessResult ll =
      Ctl({"--json", "loglikelihood", "--model", model, "--context",
           "The sky is", "--continuation", " blue"});
  ASSERT_EQ(ll.exit_code, 0) << ll.err;
  auto llj = base::ParseJson(ll.out);
  ASSERT_TRUE(llj.ok()) << ll.out;
  ASSERT_NE(llj->Find("logprob"), nullptr);
  EXPECT_LT(llj->Find("logprob")->number_value(), 0);

  ProcessResult models = Ctl({"--json", "models"});
  ASSERT_EQ(models.exit_code, 0) << models.err;
  auto mj = base::ParseJson(models.out);
  ASSERT_TRUE(mj.ok());
  ASSERT_NE(mj->Find("models"), nullptr);
  ASSERT_EQ(mj->Find("models")->array().size(),
            1u);  // both calls shared one load
  EXPECT_EQ(mj->Find("models")->array()[0].Find("path")->string_value(), model);

  EXPECT_EQ(Ctl({"generate", "--model", tmp_.Join("nope"), "hi"}).exit_code, 2);

  // tokenize works without any daemon.
  ProcessResult plain =
      RunProcess({BinDir() + "/evalctl", "--addr", "unix:/nonexistent.sock",
                  "--json", "tokenize", "--model", model, "Hello world"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ProcessResult special =
      RunProcess({BinDir() + "/evalctl", "--json", "tokenize", "--model", model,
                  "--add-special", "Hello world"});
  ASSERT_EQ(special.exit_code, 0) << special.err;
  auto pj = base::ParseJson(plain.out);
  auto sj = base::ParseJson(special.out);
  ASSERT_TRUE(pj.ok() && sj.ok());
  EXPECT_GE(pj->Find("ids")->array().size(), 1u);
  EXPECT_EQ(sj->Find("ids")->array().size(),
            pj->Find("ids")->array().size() + 1);  // BOS
}

}  // namespace
}  // namespace evald::testing
