// Judged tasks end to end: a real evald process, a tiny native candidate
// written by evald-make-checkpoint, and a judge reached over real HTTP on
// loopback through the OpenAI runner. The judge server's replies are scripted
// by the question it is asked about, so verdicts, retries, unparsable
// replies, judge errors and pairwise orders are exact.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "tests/daemon/process.h"
#include "tests/runners/openai/fake_server.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::testing::HasSubstr;

FakeResponse Chat(const std::string& content) {
  base::Json message = base::Json::MakeObject();
  message.Set("role", base::Json::String("assistant"));
  message.Set("content", base::Json::String(content));
  base::Json choice = base::Json::MakeObject();
  choice.Set("message", std::move(message));
  choice.Set("finish_reason", base::Json::String("stop"));
  base::Json choices = base::Json::MakeArray();
  choices.Push(std::move(choice));
  base::Json reply = base::Json::MakeObject();
  reply.Set("choices", std::move(choices));
  return FakeResponse{200, reply.Dump()};
}

// The user message of a chat request ("" when there is none).
std::string UserText(const FakeRequest& request) {
  auto body = base::ParseJson(request.body);
  if (!body.ok() || body->Find("messages") == nullptr) return "";
  std::string text;
  for (const base::Json& m : body->Find("messages")->array()) {
    if (m.Find("role")->string_value() == "user")
      text = m.Find("content")->string_value();
  }
  return text;
}

// The text between two markers of the judge prompt.
std::string Between(const std::string& text, const std::string& from,
                    const std::string& to) {
  size_t a = text.find(from);
  if (a == std::string::npos) return "";
  a += from.size();
  size_t b = text.find(to, a);
  return text.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

class JudgeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessResult made =
        RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                    "--seed", "1", "--out", tmp_.Join("cand")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    made = RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                       "--seed", "7", "--out", tmp_.Join("other")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    WriteTestFile(
        tmp_.Join("prompts.jsonl"),
        "{\"id\": \"Q-a\", \"prompt\": \"Q-a: what is two plus two?\", "
        "\"reference\": \"4\", "
        "\"category\": \"math\"}\n"
        "{\"question_id\": 2, \"turns\": [\"Q-b: name a colour\"], "
        "\"reference\": [\"red\"], "
        "\"category\": \"writing\"}\n"
        "{\"id\": \"Q-c\", \"question\": \"Q-c: say hello\", \"reference\": "
        "\"hello\", "
        "\"category\": \"writing\"}\n"
        "{\"id\": \"Q-d\", \"prompt\": \"Q-d: count to three\", \"reference\": "
        "\"1 2 3\", "
        "\"category\": \"math\"}\n"
        "{\"id\": \"Q-e\", \"prompt\": \"Q-e: a question the judge fails on\", "
        "\"reference\": \"x\", \"category\": \"math\"}\n");
    server_ = std::make_unique<FakeServer>(
        [this](const FakeRequest& r) { return Reply(r); });
    ASSERT_FALSE(server_->endpoint().empty());
    data_dir_ = tmp_.Join("data");
    addr_ = "unix:" + data_dir_ + "/evald.sock";
    daemon_ = std::make_unique<DaemonProcess>();
    ASSERT_TRUE(daemon_->Start(data_dir_, {"--threads", "2"}))
        << daemon_->log();
  }

  // Scripted judge. Single and reference verdicts by question; pairwise by
  // which answer is the baseline's (`baseline_answers_`).
  FakeResponse Reply(const FakeRequest& r) {
    if (r.path == "/v1/models") {
      return FakeResponse{
          200, "{\"data\":[{\"id\":\"judge\",\"max_model_len\":8192}]}"};
    }
    const std::string user = UserText(r);
    const bool retry = absl::StrContains(user, "did not end with a verdict");
    const std::string question = Between(user, "### Question\n", "\n\n###");
    if (absl::StartsWith(question, "Q-e"))
      return FakeResponse{400, "{\"error\":{\"message\":\"judge refused\"}}"};
    if (absl::StrContains(user, "assistants, A and B")) {
      const std::string a = Between(user, "### Answer of assistant A\n",
                                    "\n\n### Answer of assistant B");
      std::lock_guard<std::mutex> lock(mu_);
      const bool a_is_baseline = baseline_answers_.count(a) > 0;
      if (absl::StartsWith(question, "Q-a"))
        return Chat("First is better. [[A]]");  // position bias
      if (absl::StartsWith(question, "Q-b"))
        return Chat(a_is_baseline ? "[[B]]" : "[[A]]");  // candidate wins
      if (absl::StartsWith(question, "Q-c"))
        return Chat(a_is_baseline ? "[[A]]" : "[[B]]");  // baseline wins
      return Chat("Equally good. [[C]]");
    }
    if (absl::StrContains(user, "Reference answer")) {
      if (absl::StartsWith(question, "Q-a") ||
          absl::StartsWith(question, "Q-c")) {
        return Chat("Matches. [[CORRECT]]");
      }
      if (absl::StartsWith(question, "Q-d")) return Chat("no verdict at all");
      return Chat("Different. [[INCORRECT]]");
    }
    if (absl::StartsWith(question, "Q-a")) return Chat("Solid. Rating: [[8]]");
    if (absl::StartsWith(question, "Q-b")) return Chat("Weak. Rating: [[4]]");
    if (absl::StartsWith(question, "Q-c"))
      return Chat(retry ? "Rating: [[6]]" : "Hmm, let me think.");
    return Chat(
        "I cannot rate this [[11]]");  // Q-d: out of range twice: unparsable
  }

  std::string Suite(const std::string& name, const std::string& candidate,
                    const std::string& options) {
    const std::string path = tmp_.Join(name + ".yaml");
    WriteTestFile(
        path,
        absl::StrCat("name: ", name,
                     "\ncandidate:\n  model: ", tmp_.Join(candidate),
                     "\njudge:\n  endpoint: ", server_->endpoint(),
                     "\n  model: judge\n  max_concurrency: 4\n", "tasks:\n",
                     "  - name: judged\n    data: ", tmp_.Join("prompts.jsonl"),
                     "\n    options: {max_new_tokens: 12, ", options, "}\n"));
    return path;
  }

  ProcessResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/evalctl", "--addr", addr_});
    return RunProcess(args, {}, 300);
  }

  // Submits and waits; returns the run id.
  std::string Run(const std::string& suite) {
    ProcessResult r = Ctl({"--json", "submit", suite, "--wait"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto json = base::ParseJson(r.out);
    if (!json.ok() || json->Find("run") == nullptr) return "";
    return json->Find("run")->Find("id")->string_value();
  }

  // metric name (+ "/" + group) -> value.
  std::map<std::string, double> Metrics(const std::string& run) {
    std::map<std::string, double> out;
    auto json = base::ParseJson(Ctl({"--json", "results", run}).out);
    if (!json.ok()) return out;
    for (const base::Json& s : json->Find("scores")->array()) {
      for (const base::Json& m : s.Find("metrics")->array()) {
        std::string key = m.Find("name")->string_value();
        if (m.Find("group") != nullptr &&
            !m.Find("group")->string_value().empty()) {
          key += "/" + m.Find("group")->string_value();
        }
        out[key] =
            m.Find("value") != nullptr ? m.Find("value")->number_value() : 0;
      }
    }
    return out;
  }

  // doc id -> sample JSON.
  std::map<std::string, base::Json> Samples(const std::string& run) {
    std::map<std::string, base::Json> out;
    auto json = base::ParseJson(Ctl({"--json", "samples", run, "judged"}).out);
    if (!json.ok()) return out;
    for (const base::Json& s : json->Find("samples")->array()) {
      out[s.Find("doc_id")->string_value()] = s;
    }
    return out;
  }

  TempDir tmp_;
  std::unique_ptr<FakeServer> server_;
  std::string data_dir_;
  std::string addr_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::mutex mu_;
  std::set<std::string> baseline_answers_;
};

TEST_F(JudgeE2eTest, SingleRatingsRetriesAndUnparsableVerdictsAreCounted) {
  const std::string run = Run(Suite("single", "cand", "mode: single"));
  ASSERT_FALSE(run.empty());
  std::map<std::string, double> m = Metrics(run);
  // Q-a 8, Q-b 4, Q-c 6 after a retry; Q-d unparsable; Q-e a judge error.
  EXPECT_DOUBLE_EQ(m["rating"], 6.0);
  EXPECT_DOUBLE_EQ(m["rating/math"], 8.0);
  EXPECT_DOUBLE_EQ(m["rating/writing"], 5.0);
  EXPECT_EQ(m["judge_unparsable"], 1);
  EXPECT_EQ(m["judge_errors"], 1);

  std::map<std::string, base::Json> samples = Samples(run);
  ASSERT_EQ(samples.size(), 5u);
  const base::Json& c = samples["Q-c"];
  ASSERT_EQ(c.Find("judge")->array().size(), 1u);
  const base::Json& call = c.Find("judge")->array()[0];
  EXPECT_EQ(call.Find("verdict")->string_value(), "6");
  ASSERT_EQ(call.Find("raw")->array().size(), 2u);
  EXPECT_EQ(call.Find("raw")->array()[0].string_value(), "Hmm, let me think.");
  EXPECT_THAT(call.Find("prompt")->string_value(), HasSubstr("Q-c: say hello"));
  // The candidate's own answer is what the judge saw.
  EXPECT_THAT(call.Find("prompt")->string_value(),
              HasSubstr(c.Find("responses")->array()[0].string_value()));
  const base::Json& d = samples["Q-d"].Find("judge")->array()[0];
  EXPECT_EQ(d.Find("verdict")->string_value(), "unparsable");
  EXPECT_EQ(d.Find("raw")->array().size(), 2u);
  const base::Json& e = samples["Q-e"].Find("judge")->array()[0];
  EXPECT_EQ(e.Find("verdict")->string_value(), "error");
  EXPECT_THAT(e.Find("error")->string_value(), HasSubstr("judge refused"));
  // The id forms of the dataset: question_id and turns.
  EXPECT_EQ(samples.count("2"), 1u);

  ProcessResult text = Ctl({"samples", run, "judged"});
  EXPECT_THAT(text.out, HasSubstr("judge: 6 after a retry"));
  ProcessResult results = Ctl({"results", run});
  EXPECT_THAT(results.out, HasSubstr("judge_unparsable"));
  EXPECT_THAT(results.out, HasSubstr("while the candidate generated"));
}

TEST_F(JudgeE2eTest, ReferenceModeScoresCorrectness) {
  const std::string run = Run(Suite("reference", "cand", "mode: reference"));
  ASSERT_FALSE(run.empty());
  std::map<std::string, double> m = Metrics(run);
  // Q-a, Q-c correct; Q-b incorrect; Q-d unparsable; Q-e error.
  EXPECT_NEAR(m["accuracy"], 2.0 / 3.0, 1e-12);
  EXPECT_EQ(m["judge_unparsable"], 1);
  EXPECT_EQ(m["judge_errors"], 1);
  std::map<std::string, base::Json> samples = Samples(run);
  EXPECT_EQ(samples["Q-a"].Find("extracted")->string_value(), "correct");
  ASSERT_EQ(samples.count("2"), 1u);  // Q-b, by its question_id
  EXPECT_THAT(
      samples["2"].Find("judge")->array()[0].Find("prompt")->string_value(),
      HasSubstr("red"));
}

TEST_F(JudgeE2eTest, PairwiseAgainstAStoredBaselineUsesBothOrders) {
  // The baseline: another checkpoint's answers, stored by an ordinary run.
  const std::string base = Run(Suite("base", "other", "mode: single"));
  ASSERT_FALSE(base.empty());
  ASSERT_EQ(Ctl({"tag", base, "baseline-v1"}).exit_code, 0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, s] : Samples(base)) {
      baseline_answers_.insert(s.Find("responses")->array()[0].string_value());
    }
  }
  const std::string run = Run(
      Suite("pair", "cand", "mode: pairwise, baseline: \"tag:baseline-v1\""));
  ASSERT_FALSE(run.empty());
  std::map<std::string, double> m = Metrics(run);
  // Q-b win, Q-c loss, Q-a tie (orders disagree), Q-d tie; Q-e judge error.
  EXPECT_DOUBLE_EQ(m["win_rate"], 0.5);
  EXPECT_EQ(m["wins"], 1);
  EXPECT_EQ(m["losses"], 1);
  EXPECT_EQ(m["ties"], 2);
  EXPECT_DOUBLE_EQ(m["order_disagreement"], 0.25);
  EXPECT_LT(m["win_rate_ci_low"], 0.5);
  EXPECT_GT(m["win_rate_ci_high"], 0.5);
  EXPECT_EQ(m["judge_errors"], 1);

  std::map<std::string, base::Json> samples = Samples(run);
  const base::Json& a = samples["Q-a"];
  ASSERT_EQ(a.Find("judge")->array().size(), 2u);
  EXPECT_EQ(a.Find("judge")->array()[0].Find("order")->string_value(),
            "candidate_first");
  EXPECT_EQ(a.Find("judge")->array()[1].Find("order")->string_value(),
            "baseline_first");
  EXPECT_THAT(a.Find("extracted")->string_value(), HasSubstr("tie"));
  ASSERT_EQ(a.Find("responses")->array().size(), 2u);  // candidate, baseline

  // The run records the resolved baseline run id, not the tag.
  auto results = base::ParseJson(Ctl({"--json", "results", run}).out);
  ASSERT_TRUE(results.ok());
  const base::Json* task =
      &results->Find("run")->Find("spec")->Find("tasks")->array()[0];
  EXPECT_EQ(task->Find("options")->Find("baseline")->string_value(), base);
}

// Two native models resident in one evald: the candidate and a judge (here a
// random-weight one, whose replies never hold a verdict: every sample is
// retried once, then stored and counted as unparsable, none dropped).
TEST_F(JudgeE2eTest, NativeJudgeIsResidentBesideTheCandidate) {
  const std::string path = tmp_.Join("native.yaml");
  WriteTestFile(
      path,
      absl::StrCat(
          "name: native\ncandidate:\n  model: ", tmp_.Join("cand"),
          "\njudge:\n  model: ", tmp_.Join("other"),
          "\ntasks:\n  - name: judged\n    data: ", tmp_.Join("prompts.jsonl"),
          "\n    options: {max_new_tokens: 8, judge_max_new_tokens: 8}\n"));
  const std::string run = Run(path);
  ASSERT_FALSE(run.empty());
  std::map<std::string, double> m = Metrics(run);
  EXPECT_EQ(m.count("rating"), 0u);
  EXPECT_EQ(m["judge_unparsable"], 5);
  EXPECT_EQ(m["judge_errors"], 0);
  std::map<std::string, base::Json> samples = Samples(run);
  ASSERT_EQ(samples.size(), 5u);
  for (const auto& [id, s] : samples) {
    const base::Json& call = s.Find("judge")->array()[0];
    EXPECT_EQ(call.Find("verdict")->string_value(), "unparsable") << id;
    EXPECT_EQ(call.Find("raw")->array().size(), 2u) << id;
    // The judge's own chat template framed the prompt.
    EXPECT_THAT(call.Find("prompt")->string_value(),
                HasSubstr("<|start_header_id|>system"))
        << id;
  }
  ProcessResult models = Ctl({"models"});
  EXPECT_THAT(models.out, HasSubstr(tmp_.Join("cand")));
  EXPECT_THAT(models.out, HasSubstr(tmp_.Join("other")));
}

TEST_F(JudgeE2eTest, BadJudgeSetupsAreRefusedAtSubmit) {
  // A baseline that does not exist.
  ProcessResult r =
      Ctl({"submit",
           Suite("nobase", "cand", "mode: pairwise, baseline: r-missing")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("tasks[0].options.baseline"));
  EXPECT_THAT(r.err, HasSubstr("r-missing"));
  // Pairwise without a baseline.
  r = Ctl({"submit", Suite("nobase2", "cand", "mode: pairwise")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("baseline"));
  // A judged task in a suite without a judge.
  const std::string path = tmp_.Join("nojudge.yaml");
  WriteTestFile(path, absl::StrCat("name: nojudge\ncandidate:\n  model: ",
                                   tmp_.Join("cand"),
                                   "\ntasks:\n  - name: judged\n    data: ",
                                   tmp_.Join("prompts.jsonl"), "\n"));
  r = Ctl({"submit", path});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("no 'judge:' section"));
  // A dataset line without a prompt names file and line.
  WriteTestFile(tmp_.Join("bad.jsonl"),
                "{\"id\": \"x\", \"prompt\": \"ok\"}\n{\"id\": \"y\"}\n");
  const std::string bad = tmp_.Join("bad.yaml");
  WriteTestFile(
      bad, absl::StrCat("name: bad\ncandidate:\n  model: ", tmp_.Join("cand"),
                        "\njudge:\n  model: ", tmp_.Join("cand"),
                        "\ntasks:\n  - name: judged\n    data: ",
                        tmp_.Join("bad.jsonl"), "\n"));
  r = Ctl({"submit", bad});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("bad.jsonl:2: missing field 'prompt'"));
}

// gsm8k with judge_check: every response the strict filter cannot read goes
// to the judge, whose verdict becomes exact_match,judge.
TEST_F(JudgeE2eTest, Gsm8kJudgeCheckConsultsTheJudgeWhenStrictMatchFails) {
  std::string test;
  for (int i = 0; i < 6; ++i) {
    absl::StrAppend(&test, "{\"question\": \"", i % 2 == 0 ? "Q-a" : "Q-b",
                    " item ", i, ": how many?\", \"answer\": \"Work.\\n#### ",
                    i + 1, "\"}\n");
  }
  WriteTestFile(tmp_.Join("gsm8k/test.jsonl"), test);
  const std::string path = tmp_.Join("gsm.yaml");
  WriteTestFile(
      path,
      absl::StrCat(
          "name: gsm\ncandidate:\n  model: ", tmp_.Join("cand"),
          "\njudge:\n  endpoint: ", server_->endpoint(), "\n  model: judge\n",
          "tasks:\n  - {name: gsm8k_cot, shots: 0, data: ", tmp_.Join("gsm8k"),
          ", options: {judge_check: true}}\n"));
  const std::string run = Run(path);
  ASSERT_FALSE(run.empty());
  std::map<std::string, double> m = Metrics(run);
  auto json = base::ParseJson(Ctl({"--json", "samples", run, "gsm8k_cot"}).out);
  ASSERT_TRUE(json.ok());
  int consulted = 0, judged_correct = 0, agreed = 0;
  for (const base::Json& s : json->Find("samples")->array()) {
    const base::Json* metrics = s.Find("metrics");
    if (metrics->Find("judge_consulted") == nullptr) continue;
    ++consulted;
    const bool q_a = absl::StrContains(s.Find("prompt")->string_value(), "Q-a");
    EXPECT_EQ(metrics->Find("exact_match,judge")->number_value(),
              q_a ? 1.0 : 0.0);
    judged_correct += q_a ? 1 : 0;
    agreed += metrics->Find("judge_agreed")->number_value() > 0 ? 1 : 0;
    ASSERT_EQ(s.Find("judge")->array().size(), 1u);
    // The judge is given the final number of the reference solution.
    EXPECT_THAT(s.Find("judge")->array()[0].Find("prompt")->string_value(),
                HasSubstr("### Reference answer"));
  }
  // A random-weight model never writes "The answer is N.": every response is
  // judged.
  EXPECT_EQ(consulted, 6);
  EXPECT_EQ(m["judge_consulted"], 6);
  EXPECT_DOUBLE_EQ(m["exact_match,judge"], judged_correct / 6.0);
  EXPECT_DOUBLE_EQ(m["judge_agreement"], agreed / 6.0);
  EXPECT_EQ(m["exact_match,strict-match"], 0);
}

}  // namespace
}  // namespace evald::testing
