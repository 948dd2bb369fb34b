// File: tests/daemon/move_e2e_test.cc
// -----------------------------------------------------------------------------
// Moving finished runs between stores, end to end with the real evald +
// evalctl + native engine on a tiny random-weight checkpoint: a run exported
// as evald's run file and imported into a fresh store through a second
// daemon and offline reads back identically (results, samples, env) under
// the same id; importing it twice, and truncated or garbage files, store
// nothing. Also checkpoint sweeps: `submit --sweep` over three checkpoints
// the test writes makes three labelled runs in checkpoint order, and bad
// sweeps submit nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file.h"
#include "base/json.h"
#include "tests/daemon/evald_test_base.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::testing::HasSubstr;

TempDir* g_fixture = nullptr;

class MoveE2eTest : public EvaldTestBase {
 protected:
  static void SetUpTestSuite() {
    if (g_fixture != nullptr) return;
    g_fixture = new TempDir();
    ProcessResult made =
        RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                    "--seed", "3", "--out", g_fixture->Join("model")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    WriteGsm8kFixture(g_fixture->Join("data/gsm8k"), 4);
    // Three checkpoints of a sweep, named so that string order is wrong.
    for (const char* step : {"1200", "50", "900"}) {
      ProcessResult ckpt = RunProcess(
          {BinDir() + "/evald-make-checkpoint", "--preset", "tiny", "--seed",
           step, "--out", g_fixture->Join(absl::StrCat("ckpts/step-", step))});
      ASSERT_EQ(ckpt.exit_code, 0) << ckpt.err;
    }
  }

  void SetUp() override { StartDaemon(); }

  std::string WriteSuite() {
    const std::string path = tmp_.Join("suite.yaml");
    const std::string data = g_fixture->Join("data/gsm8k");
    WriteTestFile(
        path, absl::StrCat("name: moved\ncandidate:\n  model: ",
                           g_fixture->Join("model"), "\ntasks:\n",
                           "  - {name: gsm8k, shots: 2, data: ", data, "}\n",
                           "  - {name: gsm8k_cot, limit: 3, ", "data: ", data,
                           "}\n", "labels: {branch: main}\n"));
    return path;
  }

  // evalctl against the daemon at `addr`.
  static ProcessResult CtlAt(const std::string& addr,
                             std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/evalctl", "--addr", addr});
    return RunProcess(args, {}, 300);
  }
  static ProcessResult OfflineAt(const std::string& data_dir,
                                 std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/evalctl", "--data-dir", data_dir});
    return RunProcess(args, {}, 120);
  }

  // What people read of a run: results, samples of both tasks and env, as
  // tables and as JSON.
  static std::vector<std::string> Views(
      const std::function<ProcessResult(std::vector<std::string>)>& ctl,
      const std::string& run) {
    std::vector<std::string> out;
    for (std::vector<std::string> args :
         {std::vector<std::string>{"results", run},
          {"--json", "results", run},
          {"samples", run, "gsm8k"},
          {"--json", "samples", run, "gsm8k"},
          {"samples", run, "gsm8k_cot"},
          {"env", run},
          {"--json", "env", run}}) {
      ProcessResult r = ctl(args);
      EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << ": " << r.err;
      out.push_back(r.out);
    }
    return out;
  }
};

TEST_F(MoveE2eTest, ExportedRunImportsWholeUnderItsIdThroughADaemonAndOffline) {
  ProcessResult submitted = Ctl({"--json", "submit", WriteSuite(), "--wait"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string run = Str(Json(submitted), {"run", "id"});
  ASSERT_FALSE(run.empty());
  const auto here = [&](std::vector<std::string> a) { return Ctl(a); };
  const std::vector<std::string> want = Views(here, run);
  EXPECT_THAT(want[2], HasSubstr("exact_match,strict-match"));

  // Exported to a file and to stdout: the same bytes, both times.
  const std::string file = tmp_.Join("run.evald");
  ProcessResult exported = Ctl({"export", run, "--out", file});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_THAT(exported.err, HasSubstr("(7 samples)"));
  ProcessResult to_stdout = Ctl({"export", run});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  auto bytes = base::ReadFileToString(file);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(to_stdout.out, *bytes);
  EXPECT_TRUE(absl::StartsWith(*bytes, "evald-run\n"));

  // A second daemon on a fresh store: the run arrives with its own id.
  TempDir other;
  const std::string other_dir = other.Join("data");
  const std::string other_addr = "unix:" + other_dir + "/evald.sock";
  {
    DaemonProcess second;
    ASSERT_TRUE(second.Start(other_dir, {"--threads", "1"})) << second.log();
    ProcessResult imported = CtlAt(other_addr, {"import", file});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    EXPECT_EQ(imported.out, run + "\n");
    const auto there = [&](std::vector<std::string> a) {
      return CtlAt(other_addr, a);
    };
    EXPECT_EQ(Views(there, run), want);
    // Twice: AlreadyExists, one line, nothing changed.
    ProcessResult again = CtlAt(other_addr, {"import", file});
    EXPECT_EQ(again.exit_code, 2);
    EXPECT_EQ(again.err,
              absl::StrCat("evalctl: run \"", run, "\" already exists\n"));
    EXPECT_EQ(Views(there, run), want);
    // The second daemon's own runs get ids of their own instance.
    ProcessResult mine = CtlAt(other_addr, {"submit", WriteSuite()});
    ASSERT_EQ(mine.exit_code, 0) << mine.err;
    const std::string mine_id(absl::StripAsciiWhitespace(mine.out));
    EXPECT_NE(mine_id.substr(mine_id.size() - 8), run.substr(run.size() - 8));
    CtlAt(other_addr, {"cancel", mine_id});
    EXPECT_EQ(second.Signal(SIGTERM, true), 0) << second.log();
  }

  // Offline into a third store (made by a daemon that then stopped), read
  // from stdin.
  TempDir third;
  const std::string third_dir = third.Join("data");
  {
    DaemonProcess maker;
    ASSERT_TRUE(maker.Start(third_dir, {"--threads", "1"})) << maker.log();
    EXPECT_EQ(maker.Signal(SIGTERM, true), 0) << maker.log();
  }
  ProcessResult offline =
      RunProcess({"/bin/sh", "-c",
                  absl::StrCat(BinDir(), "/evalctl --data-dir ", third_dir,
                               " import - < ", file)});
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_EQ(offline.out, run + "\n");
  const auto offline_view = [&](std::vector<std::string> a) {
    return OfflineAt(third_dir, a);
  };
  const auto offline_here = [&](std::vector<std::string> a) {
    return Offline(a);
  };
  daemon_->Signal(SIGTERM, true);
  // Offline export writes the same bytes as the daemon's.
  EXPECT_EQ(Offline({"export", run}).out, *bytes);
  EXPECT_EQ(OfflineAt(third_dir, {"export", run}).out, *bytes);
  EXPECT_EQ(Views(offline_view, run), Views(offline_here, run));
  EXPECT_EQ(Views(offline_view, run), want);
}

TEST_F(MoveE2eTest, TruncatedOrGarbageRunFilesStoreNothing) {
  ProcessResult submitted = Ctl({"--json", "submit", WriteSuite(), "--wait"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string run = Str(Json(submitted), {"run", "id"});
  ProcessResult whole = Ctl({"export", run});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const std::string bytes = whole.out;
  ASSERT_GT(bytes.size(), 100u);

  TempDir other;
  const std::string other_dir = other.Join("data");
  const std::string other_addr = "unix:" + other_dir + "/evald.sock";
  DaemonProcess second;
  ASSERT_TRUE(second.Start(other_dir, {"--threads", "1"})) << second.log();
  struct Case {
    std::string name;
    std::string content;
    std::string error;
  };
  std::vector<Case> cases = {
      {"empty", "", "byte 0: not an evald run file"},
      {"garbage", "hello world, not a run\n", "byte 0: not an evald run file"},
      {"magic-only", "evald-run\n", "byte 10: the file ends before its header"},
      {"huge-chunk", std::string("evald-run\n") + "\xff\xff\xff\xff\x0f",
       "byte 10: a chunk of 4294967295 bytes"},
      {"half", bytes.substr(0, bytes.size() / 2), "truncated"},
      {"no-end", bytes.substr(0, bytes.size() - 5), "truncated"},
      {"junk-after-end", bytes + "x", "the file ends inside a chunk"},
  };
  for (const Case& c : cases) {
    const std::string path = tmp_.Join(c.name + ".evald");
    WriteTestFile(path, c.content);
    ProcessResult r = CtlAt(other_addr, {"import", path});
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("evalctl: ", path, ": byte ")))
        << c.name;
    EXPECT_THAT(r.err, HasSubstr(c.error)) << c.name;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // Nothing of any of them is stored, and the store is clean.
  ProcessResult listed = CtlAt(other_addr, {"--json", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, ::testing::Not(HasSubstr(run)));
  ProcessResult fsck = CtlAt(other_addr, {"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  // The whole file still imports afterwards.
  const std::string path = tmp_.Join("whole.evald");
  WriteTestFile(path, bytes);
  ProcessResult ok = CtlAt(other_addr, {"import", path});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST_F(MoveE2eTest, SweepSubmitsOneLabelledRunPerCheckpointInOrder) {
  const std::string suite = WriteSuite();
  const std::string ckpts = g_fixture->Join("ckpts");
  ProcessResult swept =
      Ctl({"submit", suite, "--sweep", "candidate.model=" + ckpts + "/step-*",
           "--sweep-name", "s1", "--set", "tasks[0].limit=2", "--set",
           "tasks[1].limit=1"});
  ASSERT_EQ(swept.exit_code, 0) << swept.err;
  std::vector<std::string> lines =
      absl::StrSplit(swept.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << swept.out;
  std::vector<std::string> ids;
  const std::vector<std::string> order = {"step-50", "step-900", "step-1200"};
  for (size_t i = 0; i < 3; ++i) {
    std::vector<std::string> parts = absl::StrSplit(lines[i], '\t');
    ASSERT_EQ(parts.size(), 2u) << lines[i];
    EXPECT_EQ(parts[1], order[i]);
    ids.push_back(parts[0]);
  }
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);
  EXPECT_THAT(swept.err, HasSubstr("evalctl list --label sweep=s1"));
  EXPECT_THAT(swept.err,
              HasSubstr("evalctl report --since 7d --label sweep=s1"));

  // Each run is the suite with that checkpoint as its candidate, labelled.
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(WaitFor([&] { return State(Results(ids[i])) == "SUCCEEDED"; }))
        << ids[i];
    const base::Json results = Results(ids[i]);
    EXPECT_EQ(Str(results, {"run", "spec", "candidate", "path"}),
              absl::StrCat(ckpts, "/", order[i]));
    EXPECT_EQ(Str(results, {"run", "spec", "labels", "sweep"}), "s1");
    EXPECT_EQ(Str(results, {"run", "spec", "labels", "checkpoint"}), order[i]);
    EXPECT_EQ(Str(results, {"run", "spec", "labels", "branch"}), "main");
  }
  ProcessResult listed = Ctl({"--json", "list", "--label", "sweep=s1"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const base::Json list = Json(listed);
  ASSERT_NE(list.Find("runs"), nullptr) << listed.out;
  EXPECT_EQ(list.Find("runs")->array().size(), 3u);

  // The report trends them in checkpoint order.
  const std::string md = tmp_.Join("sweep.md");
  ProcessResult report =
      Ctl({"report", "--since", "1d", "--label", "sweep=s1", "--out", md});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  auto text = base::ReadFileToString(md);
  ASSERT_TRUE(text.ok());
  const size_t at50 = text->find("| step-50 |");
  const size_t at900 = text->find("| step-900 |");
  const size_t at1200 = text->find("| step-1200 |");
  ASSERT_NE(at50, std::string::npos) << *text;
  ASSERT_NE(at900, std::string::npos) << *text;
  ASSERT_NE(at1200, std::string::npos) << *text;
  EXPECT_LT(at50, at900);
  EXPECT_LT(at900, at1200);

  // A list file, in any order, gives the same order; --json names each.
  const std::string list_file = tmp_.Join("ckpts.txt");
  WriteTestFile(list_file,
                absl::StrCat("# two of them\n", ckpts, "/step-1200\n\n", ckpts,
                             "/step-900/\n"));
  ProcessResult from_file = Ctl(
      {"--json", "submit", suite, "--sweep", "candidate.model=@" + list_file});
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  const base::Json filed = Json(from_file);
  EXPECT_TRUE(absl::StartsWith(Str(filed, {"sweep"}), "moved-"))
      << from_file.out;
  ASSERT_NE(filed.Find("runs"), nullptr);
  ASSERT_EQ(filed.Find("runs")->array().size(), 2u);
  EXPECT_EQ(Str(filed.Find("runs")->array()[0], {"checkpoint"}), "step-900");
  EXPECT_EQ(Str(filed.Find("runs")->array()[1], {"checkpoint"}), "step-1200");
  for (const base::Json& r : filed.Find("runs")->array())
    Ctl({"cancel", Str(r, {"run_id"})});
}

TEST_F(MoveE2eTest, BadSweepsSubmitNothing) {
  const std::string suite = WriteSuite();
  const std::string ckpts = g_fixture->Join("ckpts");
  // A folder beside the checkpoints that is not one, a file, and a
  // checkpoint whose config.json is broken.
  WriteTestFile(tmp_.Join("mixed/step-1/config.json"), "{not json");
  WriteTestFile(tmp_.Join("mixed/step-2/README"), "no config here\n");
  WriteTestFile(tmp_.Join("list.txt"),
                absl::StrCat(ckpts, "/step-50\n", tmp_.Join("nowhere"), "\n"));
  WriteTestFile(tmp_.Join("twice.txt"),
                absl::StrCat(ckpts, "/step-50\n", ckpts, "/step-50/\n"));
  WriteTestFile(tmp_.Join("empty.txt"), "# nothing\n");
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"--sweep", "candidate.model=" + ckpts + "/nope-*"}, "matches no path"},
      {{"--sweep", "tasks[0].limit=" + ckpts + "/step-*"},
       "'tasks[0].limit' is not a model path"},
      {{"--sweep", ckpts + "/step-*"}, "expected FIELD=GLOB or FIELD=@FILE"},
      {{"--sweep", "candidate.model=" + tmp_.Join("mixed") + "/step-*"},
       "not a checkpoint folder (no config.json)"},
      {{"--sweep", "candidate.model=" + tmp_.Join("suite.yaml")},
       "not a checkpoint folder (not a folder)"},
      {{"--sweep", "candidate.model=@" + tmp_.Join("list.txt")},
       "not a checkpoint folder (no such path)"},
      {{"--sweep", "candidate.model=@" + tmp_.Join("twice.txt")},
       "listed twice"},
      {{"--sweep", "candidate.model=@" + tmp_.Join("empty.txt")},
       "lists no path"},
      {{"--sweep", "candidate.model=" + ckpts + "/step-*", "--wait"},
       "--wait with --sweep"},
      {{"--sweep-name", "x"}, "--sweep-name needs --sweep"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"submit", suite};
    args.insert(args.end(), c.args.begin(), c.args.end());
    ProcessResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(c.args, " ") << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.error)) << absl::StrJoin(c.args, " ");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // A broken checkpoint among good ones: refused before any is submitted.
  const std::string broken_dir = tmp_.Join("broken");
  ASSERT_EQ(RunProcess({"/bin/mkdir", "-p", broken_dir}).exit_code, 0);
  ASSERT_EQ(
      RunProcess({"/bin/cp", "-r", ckpts + "/step-50", broken_dir + "/step-1"})
          .exit_code,
      0);
  ASSERT_EQ(
      RunProcess({"/bin/cp", "-r", ckpts + "/step-900", broken_dir + "/step-2"})
          .exit_code,
      0);
  WriteTestFile(broken_dir + "/step-2/config.json", "{not json");
  ProcessResult broken = Ctl({"submit", suite, "--sweep",
                              "candidate.model=" + broken_dir + "/step-*"});
  EXPECT_EQ(broken.exit_code, 2) << broken.err;
  EXPECT_THAT(broken.err, HasSubstr(broken_dir + "/step-2"));
  EXPECT_EQ(std::count(broken.err.begin(), broken.err.end(), '\n'), 1)
      << broken.err;
  ProcessResult listed = Ctl({"--json", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const base::Json* runs = Json(listed).Find("runs");
  EXPECT_TRUE(runs == nullptr || runs->array().empty()) << listed.out;
}

}  // namespace
}  // namespace evald::testing
