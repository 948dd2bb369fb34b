// The real evald and evalctl binaries, on temp data dirs: input errors,
// reachability, the data-dir lock and TCP authentication.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/daemon/process.h"
#include "tests/testing/fixtures.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

std::string Evalctl() { return BinDir() + "/evalctl"; }

ProcessResult Ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {Evalctl()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv);
}

// A model folder that gets past fingerprinting (config.json present); every
// submit below fails before the checkpoint itself is checked.
void WriteFakeModelFolder(const std::string& dir) {
  WriteTestFile(dir + "/config.json",
                R"({"architectures": ["LlamaForCausalLM"]})");
  WriteTestFile(dir + "/tokenizer_config.json", "{}");
}

int CountLines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = tmp_.Join("data");
    ASSERT_TRUE(daemon_.Start(data_dir_)) << daemon_.log();
    addr_ = "unix:" + data_dir_ + "/evald.sock";
  }
  ProcessResult CtlD(std::vector<std::string> args) {
    args.insert(args.begin(), {"--addr", addr_});
    return Ctl(args);
  }

  TempDir tmp_;
  std::string data_dir_;
  std::string addr_;
  DaemonProcess daemon_;
};

TEST(EvalctlTest, BadSuitesAreOneLineNamingTheSpotWithExit2) {
  TempDir tmp;
  struct Case {
    std::string yaml;
    std::string want;  // regex of the whole stderr line
  };
  const std::vector<Case> cases = {
      {"name: x\ncandidate: {model: m\ntasks: [mmlu]\n",
       ".*s\\.yaml:[0-9]+:[0-9]+: invalid YAML: .*"},
      {"name: x\ncandidate:\n  model: m\n  dtpye: auto\ntasks: [mmlu]\n",
       ".*s\\.yaml:4:3: field 'candidate\\.dtpye': unknown key .*"},
      {"name: x\ncandidate:\n  model: m\ntasks:\n  - name: mmlu\n    shots: "
       "five\n",
       ".*s\\.yaml:6:12: field 'tasks\\[0\\]\\.shots': expected an integer, "
       "got 'five'"},
      {"name: x\ntasks: [mmlu]\n",
       ".*s\\.yaml:1:1: field 'candidate': required field is missing"},
  };
  for (const Case& c : cases) {
    WriteTestFile(tmp.Join("s.yaml"), c.yaml);
    ProcessResult r = Ctl({"--addr", "unix:" + tmp.Join("none.sock"), "submit",
                           tmp.Join("s.yaml")});
    EXPECT_EQ(r.exit_code, 2) << c.yaml << r.err;
    EXPECT_EQ(CountLines(r.err), 1) << r.err;
    EXPECT_THAT(r.err, MatchesRegex("evalctl: " + c.want + "\n")) << c.yaml;
  }
  // A bad --set names the override.
  WriteTestFile(tmp.Join("s.yaml"),
                "name: x\ncandidate: {model: m}\ntasks: [mmlu]\n");
  ProcessResult r = Ctl({"--addr", "unix:" + tmp.Join("none.sock"), "submit",
                         tmp.Join("s.yaml"), "--set", "tasks[0].limit=many"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err,
              HasSubstr("--set tasks[0].limit=many: field 'tasks[0].limit'"));
  // A missing suite file.
  r = Ctl({"submit", tmp.Join("absent.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(tmp.Join("absent.yaml")));
}

TEST(EvalctlTest, UnreachableDaemonExits3) {
  TempDir tmp;
  const std::string addr = "unix:" + tmp.Join("nobody.sock");
  for (const std::vector<std::string>& cmd : {std::vector<std::string>{"list"},
                                              {"status"},
                                              {"results", "r1"},
                                              {"cancel", "r1"}}) {
    std::vector<std::string> args = {"--addr", addr};
    args.insert(args.end(), cmd.begin(), cmd.end());
    ProcessResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 3) << cmd[0] << ": " << r.err;
    EXPECT_THAT(r.err,
                StartsWith("evalctl: cannot reach evald at " + addr + ": "));
    EXPECT_EQ(CountLines(r.err), 1) << r.err;
  }
  WriteTestFile(tmp.Join("s.yaml"),
                "name: x\ncandidate: {model: m}\ntasks: [mmlu]\n");
  ProcessResult r = Ctl({"--addr", addr, "submit", tmp.Join("s.yaml")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST(EvalctlTest, UnknownCommandAndOptionExit2) {
  EXPECT_EQ(Ctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Ctl({"list", "--colour"}).exit_code, 2);
  EXPECT_EQ(Ctl({"--bogus", "list"}).exit_code, 2);
  ProcessResult help = Ctl({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* cmd :
       {"submit", "watch", "status", "list", "results", "samples", "cancel",
        "env", "generate", "loglikelihood", "models"}) {
    EXPECT_THAT(help.out, HasSubstr(std::string("  ") + cmd)) << cmd;
  }
}

TEST_F(DaemonTest, SocketIsPrivateAndSecondDaemonIsRefused) {
  struct stat st {};
  ASSERT_EQ(stat((data_dir_ + "/evald.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ProcessResult second =
      RunProcess({BinDir() + "/evald", "--data-dir", data_dir_}, {}, 30);
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_EQ(second.err,
            absl::StrCat("evald: data dir ", data_dir_, " is in use by pid ",
                         daemon_.pid(), "\n"));
  // The first daemon is unharmed.
  EXPECT_EQ(CtlD({"list"}).exit_code, 0);
}

TEST_F(DaemonTest, SubmitRejectsBadRunsWithExit2AndStoresNothing) {
  WriteFakeModelFolder(tmp_.Join("model"));
  WriteTestFile(tmp_.Join("data/mmlu.csv"), "q,a,b,c,d,A\n");
  struct Case {
    std::string yaml;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"name: x\ncandidate: {model: absent}\ntasks: [{name: mmlu, data: "
       "data}]\n",
       "field 'candidate.model': candidate model folder " +
           tmp_.Join("absent")},
      {"name: x\ncandidate: {model: model}\ntasks: [{name: nosuchtask, data: "
       "data}]\n",
       "field 'tasks[0]' (task 'nosuchtask')"},
      {"name: x\ncandidate: {model: model}\ntasks: [{name: mmlu, data: "
       "nodata}]\n",
       "field 'tasks[0].data': dataset path " + tmp_.Join("nodata")},
      // An endpoint candidate is accepted; the missing default dataset is not.
      {"name: x\ncandidate: {endpoint: 'http://127.0.0.1:1/v1', model: "
       "m}\ntasks: [mmlu]\n",
       "of task 'mmlu' does not exist"},
  };
  for (const Case& c : cases) {
    WriteTestFile(tmp_.Join("s.yaml"), c.yaml);
    ProcessResult r = CtlD({"submit", tmp_.Join("s.yaml")});
    EXPECT_EQ(r.exit_code, 2) << c.yaml << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.want)) << c.yaml;
    EXPECT_EQ(CountLines(r.err), 1) << r.err;
  }
  ProcessResult list = CtlD({"--json", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, Not(HasSubstr("\"id\"")));
  EXPECT_EQ(CtlD({"results", "no-such-run"}).exit_code, 2);
}

TEST(DaemonTcpTest, TcpNeedsATokenAndEveryCallCarriesIt) {
  TempDir tmp;
  const std::string port = absl::StrCat(FreeLoopbackPort());
  ProcessResult refused =
      RunProcess({BinDir() + "/evald", "--data-dir", tmp.Join("d0"), "--listen",
                  "127.0.0.1:" + port},
                 {}, 30);
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("--token-file"));

  WriteTestFile(tmp.Join("token"), "s3cret-token\n");
  WriteTestFile(tmp.Join("wrong"), "not-it\n");
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.Start(tmp.Join("d1"), {"--listen", "127.0.0.1:" + port,
                                            "--token-file", tmp.Join("token")}))
      << daemon.log();
  const std::string addr = "127.0.0.1:" + port;
  ProcessResult none = Ctl({"--addr", addr, "list"});
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_THAT(none.err, HasSubstr("missing bearer token"));
  ProcessResult wrong =
      Ctl({"--addr", addr, "--token-file", tmp.Join("wrong"), "list"});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.err;
  EXPECT_THAT(wrong.err, HasSubstr("wrong bearer token"));
  ProcessResult right =
      Ctl({"--addr", addr, "--token-file", tmp.Join("token"), "list"});
  EXPECT_EQ(right.exit_code, 0) << right.err;
  EXPECT_EQ(right.out, "no runs\n");
}

TEST_F(DaemonTest, SigtermStopsCleanly) {
  EXPECT_EQ(daemon_.Signal(SIGTERM, true), 0) << daemon_.log();
  EXPECT_THAT(daemon_.log(), HasSubstr("evald: stopped"));
  // A new daemon takes the data dir over at once.
  DaemonProcess again;
  ASSERT_TRUE(again.Start(data_dir_)) << again.log();
}

TEST_F(DaemonTest, EnvOfTheDaemonShowsTheHost) {
  ProcessResult r = CtlD({"--json", "env"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"driver_version\""));
  EXPECT_THAT(r.out, HasSubstr("\"cpu_model\""));
}

}  // namespace
}  // namespace evald::testing
