// Submit refuses a checkpoint that cannot load, through the real evald and
// evalctl: for each kind of break (unknown architecture, config.json that is
// not JSON or lacks a field, missing or unparsable tokenizer.json, a
// safetensors header that claims more bytes than its file holds) `evalctl
// submit` exits 2 with one line naming the role, the folder and the file,
// nothing is stored, and `evalctl plan` prints the same line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/file.h"
#include "tests/daemon/process.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Evalctl() { return BinDir() + "/evalctl"; }

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = base::ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

class SubmitChecksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessResult made =
        RunProcess({BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
                    "--out", tmp_.Join("good")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    WriteTestFile(tmp_.Join("mmlu/dev/anatomy_dev.csv"),
                  "q,a,b,c,d,A\nq,a,b,c,d,B\n");
    WriteTestFile(tmp_.Join("mmlu/test/anatomy_test.csv"), "q,a,b,c,d,C\n");
    ASSERT_TRUE(daemon_.Start(tmp_.Join("data"), {"--threads", "1"}))
        << daemon_.log();
    addr_ = "unix:" + tmp_.Join("data/evald.sock");
  }

  // A copy of the good checkpoint, broken by `brk`.
  std::string BrokenCopy(const std::string& name,
                         const std::function<void(const std::string&)>& brk) {
    const std::string dir = tmp_.Join(name);
    fs::copy(tmp_.Join("good"), dir, fs::copy_options::recursive);
    brk(dir);
    return dir;
  }

  std::string Suite(const std::string& name, const std::string& candidate,
                    const std::string& judge = "") {
    const std::string path = tmp_.Join(name + ".yaml");
    WriteTestFile(
        path, absl::StrCat("name: ", name, "\ncandidate:\n  model: ", candidate,
                           judge.empty() ? "" : "\njudge:\n  model: " + judge,
                           "\ntasks:\n  - {name: mmlu, shots: 1, data: ",
                           tmp_.Join("mmlu"), "}\n"));
    return path;
  }

  ProcessResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {Evalctl(), "--addr", addr_});
    return RunProcess(args);
  }

  TempDir tmp_;
  DaemonProcess daemon_;
  std::string addr_;
};

TEST_F(SubmitChecksTest, BrokenCheckpointsAreRefusedAtSubmitAsPlanRefusesThem) {
  const std::string config = Read(tmp_.Join("good/config.json"));
  ASSERT_THAT(config, HasSubstr("\"LlamaForCausalLM\""));
  struct Case {
    std::string name;
    std::function<void(const std::string&)> brk;
    std::string file;  // the file at fault, relative to the folder
    std::string what;  // the rest of the line
  };
  const std::vector<Case> cases = {
      {"arch",
       [&](const std::string& d) {
         WriteTestFile(d + "/config.json",
                       absl::StrReplaceAll(
                           config, {{"LlamaForCausalLM", "GPT2LMHeadModel"}}));
       },
       "config.json",
       "field 'architectures': 'GPT2LMHeadModel' is not supported by this "
       "evald"},
      {"config_not_json",
       [](const std::string& d) {
         WriteTestFile(d + "/config.json", "{\"architectures\": [");
       },
       "config.json", "not valid JSON: "},
      {"config_missing_field",
       [&](const std::string& d) {
         WriteTestFile(d + "/config.json",
                       absl::StrReplaceAll(
                           config, {{"\"hidden_size\"", "\"hidden_sise\""}}));
       },
       "config.json", "field 'hidden_size' is missing"},
      {"no_tokenizer",
       [](const std::string& d) {
         ASSERT_EQ(unlink((d + "/tokenizer.json").c_str()), 0);
       },
       "tokenizer.json", "cannot open"},
      {"tokenizer_not_json",
       [](const std::string& d) {
         WriteTestFile(d + "/tokenizer.json", "{\"model\": ");
       },
       "tokenizer.json", ""},
      {"lying_header",
       [](const std::string& d) {
         // The header stays; the data it describes is cut short.
         const std::string weights = d + "/model.safetensors";
         ASSERT_EQ(truncate(weights.c_str(),
                            static_cast<off_t>(fs::file_size(weights) - 64)),
                   0);
       },
       "model.safetensors", "tensor '"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string dir = BrokenCopy(c.name, c.brk);
    const std::string suite = Suite(c.name, dir);
    const std::string line =
        absl::StrCat("evalctl: candidate model ", dir, ": ", c.file, ": ");
    ProcessResult submitted = Ctl({"submit", suite});
    EXPECT_EQ(submitted.exit_code, 2) << submitted.out << submitted.err;
    EXPECT_EQ(submitted.out, "");
    EXPECT_THAT(submitted.err, HasSubstr(line + c.what));
    EXPECT_EQ(submitted.err.find('\n'), submitted.err.size() - 1)
        << submitted.err;
    ProcessResult planned = RunProcess({Evalctl(), "plan", suite});
    EXPECT_EQ(planned.exit_code, 2) << planned.out << planned.err;
    EXPECT_EQ(planned.err, submitted.err);
  }
  // The judge is checked as well, and named as the judge.
  const std::string judge = BrokenCopy("judge", [](const std::string& d) {
    ASSERT_EQ(unlink((d + "/tokenizer.json").c_str()), 0);
  });
  ProcessResult submitted =
      Ctl({"submit", Suite("with_judge", tmp_.Join("good"), judge)});
  EXPECT_EQ(submitted.exit_code, 2) << submitted.err;
  EXPECT_THAT(submitted.err, HasSubstr("evalctl: judge model " + judge +
                                       ": tokenizer.json: "));

  ProcessResult list = Ctl({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, "no runs\n");
  // The unbroken checkpoint passes the same checks.
  ProcessResult good =
      RunProcess({Evalctl(), "plan", Suite("good", tmp_.Join("good"))});
  EXPECT_EQ(good.exit_code, 0) << good.err;
}

// A broken lm-eval task file (`- yaml:`) is refused at submit, before any
// run is stored, with one line naming the suite field and the task file's
// own file, line and key.
TEST_F(SubmitChecksTest, BrokenTaskYamlIsRefusedAtSubmit) {
  WriteTestFile(tmp_.Join("lm/broken.yaml"),
                "task: mine\ndataset_path: d\ntest_split: test\n"
                "doc_to_text: !function utils.doc_to_text\n");
  const std::string suite = tmp_.Join("yaml_suite.yaml");
  WriteTestFile(
      suite, absl::StrCat("name: y\ncandidate:\n  model: ", tmp_.Join("good"),
                          "\ntasks:\n  - yaml: lm/broken.yaml\n"));
  ProcessResult submitted = Ctl({"submit", suite});
  EXPECT_EQ(submitted.exit_code, 2) << submitted.out << submitted.err;
  EXPECT_EQ(submitted.out, "");
  EXPECT_EQ(submitted.err,
            absl::StrCat("evalctl: ", suite, ":5:11: field 'tasks[0].yaml': ",
                         tmp_.Join("lm/broken.yaml"),
                         ":4:14: key 'doc_to_text' needs Python (!function), "
                         "which evald does not run\n"));
  ProcessResult list = Ctl({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, "no runs\n");
}

}  // namespace
}  // namespace evald::testing
