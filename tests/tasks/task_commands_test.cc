// File: tests/tasks/task_commands_test.cc
// The offline evalctl commands (prompt, score, datasets), called through the
// command registry in process; `datasets fetch` downloads from a real HTTP
// server on 127.0.0.1 that the test runs.
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/json.h"
#include "base/sha256.h"
#include "daemon/cli/command.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon::cli {
namespace {

using ::evald::testing::TempDir;
using ::evald::testing::WriteTestFile;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

struct CommandResult {
  int code;
  std::string out;
  std::string err;
};

CommandResult RunCommand(const std::string& name, std::vector<std::string> args,
                         const std::string& data_dir = "") {
  const CommandInfo* command = FindCommand(name);
  EXPECT_NE(command, nullptr) << name;
  if (command == nullptr) return {-1, "", ""};
  GlobalOptions global;
  global.data_dir = data_dir;
  std::ostringstream out, err;
  CommandContext context{global, std::move(args), out, err};
  int code = command->fn(context);
  return {code, out.str(), err.str()};
}

// A minimal HTTP/1.0 file server: GET <path> answers 200 with the body
// registered for the path, else 404. One connection at a time.
class LoopbackHttpServer {
 public:
  explicit LoopbackHttpServer(std::map<std::string, std::string> files)
      : files_(std::move(files)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~LoopbackHttpServer() {
    stop_.store(true);
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string base_url() const {
    return absl::StrCat("http://127.0.0.1:", port_);
  }
  int requests() const { return requests_.load(); }

 private:
  void Serve() {
    while (!stop_.load()) {
      int client = accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(client, buffer, sizeof(buffer));
        if (n <= 0) break;
        request.append(buffer, n);
      }
      ++requests_;
      std::vector<std::string> parts =
          absl::StrSplit(request.substr(0, request.find("\r\n")), ' ');
      std::string response;
      auto it = parts.size() >= 2 ? files_.find(parts[1]) : files_.end();
      if (it == files_.end()) {
        response =
            "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: "
            "close\r\n\r\n";
      } else {
        response = absl::StrCat(
            "HTTP/1.0 200 OK\r\nContent-Length: ", it->second.size(),
            "\r\nConnection: close\r\n\r\n", it->second);
      }
      size_t sent = 0;
      while (sent < response.size()) {
        ssize_t n =
            write(client, response.data() + sent, response.size() - sent);
        if (n <= 0) break;
        sent += n;
      }
      close(client);
    }
  }

  std::map<std::string, std::string> files_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// A tar archive (ustar) of `members`, written with libarchive.
std::string MakeTar(
    const std::vector<std::pair<std::string, std::string>>& members) {
  std::vector<char> buffer(1 << 20);
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_ustar(a);
  archive_write_open_memory(a, buffer.data(), buffer.size(), &used);
  for (const auto& [name, body] : members) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(body.size()));
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_write_header(a, entry);
    archive_write_data(a, body.data(), body.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buffer.data(), used);
}

const char kTest[] =
    "{\"question\": \"How many?\", \"answer\": \"3 + 4 = 7\\n#### 7\"}\n"
    "{\"question\": \"How much?\", \"answer\": \"It is 1200.\\n#### 1,200\"}\n";
const char kTrain[] =
    "{\"question\": \"T0?\", \"answer\": \"a\\n#### 0\"}\n{\"question\": "
    "\"T1?\", \"answer\": \"b\\n#### 1\"}\n"
    "{\"question\": \"T2?\", \"answer\": \"c\\n#### 2\"}\n{\"question\": "
    "\"T3?\", \"answer\": \"d\\n#### 3\"}\n"
    "{\"question\": \"T4?\", \"answer\": \"e\\n#### 4\"}\n{\"question\": "
    "\"T5?\", \"answer\": \"f\\n#### 5\"}\n";

TEST(PromptCommandTest, PrintsJsonAndText) {
  TempDir dir;
  WriteTestFile(dir.Join("gsm8k/test.jsonl"), kTest);
  WriteTestFile(dir.Join("gsm8k/train.jsonl"), kTrain);
  CommandResult r =
      RunCommand("prompt", {"gsm8k_cot", "--data", dir.Join("gsm8k"), "--shots",
                            "0", "--doc", "1", "--json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ASSERT_OK_AND_ASSIGN(base::Json json, base::ParseJson(r.out));
  EXPECT_EQ(json.Find("task")->string_value(), "gsm8k_cot");
  EXPECT_EQ(json.Find("doc")->string_value(), "1");
  EXPECT_EQ(json.Find("context")->string_value(), "Q: How much?\nA:");
  EXPECT_EQ(json.Find("target")->string_value(), "1,200");
  EXPECT_EQ(json.Find("max_new_tokens")->int_value(), 256);
  EXPECT_EQ(json.Find("stop")->array().size(), 3u);

  // Default data path: <data-dir>/datasets/gsm8k; "all" prints every doc.
  r = RunCommand("prompt", {"gsm8k", "--doc", "all"}, dir.Join("nowhere"));
  EXPECT_EQ(r.code, kExitInvalidInput);  // no datasets/ folder there
  fs::create_directories(dir.Join("dd/datasets"));
  fs::rename(dir.Join("gsm8k"), dir.Join("dd/datasets/gsm8k"));
  r = RunCommand("prompt", {"gsm8k", "--doc", "all", "--shots", "2"},
                 dir.Join("dd"));
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("=== gsm8k doc 0 ==="));
  EXPECT_THAT(r.out, HasSubstr("=== gsm8k doc 1 ==="));
  EXPECT_THAT(
      r.out, HasSubstr("Question: How much?\nAnswer:\n=== end of context ==="));

  r = RunCommand("prompt", {"gsm8k", "--doc", "99"}, dir.Join("dd"));
  EXPECT_EQ(r.code, kExitInvalidInput);
  EXPECT_THAT(r.err, HasSubstr("no document \"99\""));
  r = RunCommand("prompt", {"nosuchtask", "--doc", "0"}, dir.Join("dd"));
  EXPECT_EQ(r.code, kExitInvalidInput);
  EXPECT_THAT(r.err, HasSubstr("unknown task"));
}

// A task argument that is a .yaml file or a folder is an lm-eval task file:
// its errors name its own file, line and key, before any task is built.
TEST(PromptCommandTest, TaskFileArgumentsAndTheirErrors) {
  TempDir dir;
  WriteTestFile(dir.Join("lm/bad.yaml"), "task: t\ndoc_to_txt: q\n");
  WriteTestFile(dir.Join("lm/ok/a.yaml"),
                "task: a\ndataset_path: d\ntest_split: test\n");
  for (const char* command : {"prompt", "score"}) {
    std::vector<std::string> rest =
        std::string(command) == "prompt"
            ? std::vector<std::string>{"--doc", "all", "--json"}
            : std::vector<std::string>{"--responses", dir.Join("r.jsonl")};
    auto run = [&](std::vector<std::string> args) {
      args.insert(args.end(), rest.begin(), rest.end());
      return RunCommand(command, args, dir.Join("dd"));
    };
    CommandResult r = run({dir.Join("lm/bad.yaml")});
    EXPECT_EQ(r.code, kExitInvalidInput) << command;
    EXPECT_EQ(r.err,
              absl::StrCat("evalctl ", command, ": ", dir.Join("lm/bad.yaml"),
                           ":2:1: key 'doc_to_txt' is not an lm-eval "
                           "task key (did you mean 'doc_to_text'?)\n"));
    r = run({dir.Join("lm/ok"), "--name", "b"});
    EXPECT_EQ(r.code, kExitInvalidInput);
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat(
                           "--name: no lm-eval task, group or tag 'b' (known: "
                           "a)")));
    r = run({dir.Join("lm/ok"), "--data", dir.Join("x")});
    EXPECT_EQ(r.code, kExitInvalidInput);
    EXPECT_THAT(r.err, HasSubstr("--data is not meaningful with a task file"));
    r = run({"gsm8k", "--name", "x"});
    EXPECT_EQ(r.code, kExitInvalidInput);
    EXPECT_THAT(r.err, HasSubstr("--name picks a task of a task file"));
  }
}

TEST(ScoreCommandTest, ScoresResponsesAndReportsAggregates) {
  TempDir dir;
  WriteTestFile(dir.Join("gsm8k/test.jsonl"), kTest);
  WriteTestFile(dir.Join("responses.jsonl"),
                "{\"doc\": 0, \"response\": \"So 7. The answer is 7.\"}\n"
                "{\"doc\": \"1\", \"response\": \"It is 1200 in total. The "
                "answer is 1200 dollars\"}\n");
  CommandResult r = RunCommand(
      "score", {"gsm8k_cot", "--data", dir.Join("gsm8k"), "--responses",
                dir.Join("responses.jsonl"), "--json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ASSERT_OK_AND_ASSIGN(base::Json json, base::ParseJson(r.out));
  const auto& samples = json.Find("samples")->array();
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0]
                .Find("metrics")
                ->Find("exact_match,strict-match")
                ->number_value(),
            1.0);
  EXPECT_EQ(samples[1]
                .Find("metrics")
                ->Find("exact_match,strict-match")
                ->number_value(),
            1.0);
  // flexible-extract takes the last number-like run: "1200" in doc 1, "7." in
  // doc 0 (the trailing period is ignored).
  EXPECT_EQ(samples[0]
                .Find("metrics")
                ->Find("exact_match,flexible-extract")
                ->number_value(),
            1.0);
  const auto& metrics = json.Find("metrics")->array();
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_EQ(metrics[0].Find("value")->number_value(), 1.0);

  WriteTestFile(dir.Join("bad.jsonl"),
                "{\"doc\": 0, \"response\": \"x\"}\n{\"doc\": 0}\n");
  r = RunCommand("score", {"gsm8k_cot", "--data", dir.Join("gsm8k"),
                           "--responses", dir.Join("bad.jsonl")});
  EXPECT_EQ(r.code, kExitInvalidInput);
  EXPECT_THAT(r.err, HasSubstr("bad.jsonl:2: response"));
  WriteTestFile(dir.Join("bad.jsonl"), "{\"doc\": 5, \"response\": \"x\"}\n");
  r = RunCommand("score", {"gsm8k_cot", "--data", dir.Join("gsm8k"),
                           "--responses", dir.Join("bad.jsonl")});
  EXPECT_THAT(r.err, HasSubstr("bad.jsonl:1: doc"));
  WriteTestFile(dir.Join("bad.jsonl"),
                "{\"prompt\": \"Q: How many?\\nA:\", \"response\": \"The "
                "answer is 7.\"}\n");
  r = RunCommand("score",
                 {"gsm8k_cot", "--shots", "0", "--data", dir.Join("gsm8k"),
                  "--responses", dir.Join("bad.jsonl")});
  EXPECT_EQ(r.code, kExitOk) << r.err;  // matched by its exact prompt
  EXPECT_THAT(r.out, HasSubstr("1 of 2 documents scored"));
}

// A dataset or responses file holding bytes that are not UTF-8 is bad
// input: one line naming the file, the line and the field, exit 2.
TEST(PromptAndScoreCommandTest, InvalidUtf8IsBadInputNamingFileLineAndField) {
  TempDir dir;
  WriteTestFile(
      dir.Join("gsm8k/test.jsonl"),
      std::string(kTest) +
          "{\"question\": \"How \xff?\", \"answer\": \"x\\n#### 1\"}\n");
  for (const char* command : {"prompt", "score"}) {
    std::vector<std::string> args = {"gsm8k_cot", "--data", dir.Join("gsm8k"),
                                     "--shots", "0"};
    if (std::string(command) == "prompt") {
      args.insert(args.end(), {"--doc", "all"});
    } else {
      args.insert(args.end(), {"--responses", dir.Join("unused.jsonl")});
    }
    CommandResult r = RunCommand(command, args);
    EXPECT_EQ(r.code, kExitInvalidInput) << command;
    EXPECT_EQ(r.out, "") << command;
    EXPECT_EQ(
        r.err,
        absl::StrCat(
            "evalctl ", command, ": ", dir.Join("gsm8k/test.jsonl"),
            ":3: field 'question' is not valid UTF-8 (byte 4 of its value)\n"));
  }
  WriteTestFile(dir.Join("gsm8k/test.jsonl"), kTest);
  WriteTestFile(dir.Join("responses.jsonl"),
                "{\"doc\": 0, \"response\": \"7\"}\n{\"doc\": 1, \"response\": "
                "\"The answer is \xc0\xaf\"}\n");
  CommandResult r =
      RunCommand("score", {"gsm8k_cot", "--data", dir.Join("gsm8k"), "--shots",
                           "0", "--responses", dir.Join("responses.jsonl")});
  EXPECT_EQ(r.code, kExitInvalidInput);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(
      r.err,
      absl::StrCat(
          "evalctl score: ", dir.Join("responses.jsonl"),
          ":2: field 'response' is not valid UTF-8 (byte 14 of its value)\n"));
}

TEST(DatasetsCommandTest, FetchVerifiesPinsAndLeavesNothingHalfWritten) {
  const std::string dev =
      "d1,a,b,c,d,A\nd2,a,b,c,d,B\nd3,a,b,c,d,C\nd4,a,b,c,d,D\nd5,a,b,c,d,A\n";
  const std::string test = "Bone?,a,b,c,d,B\n";
  const std::string tar = MakeTar({{"data/dev/anatomy_dev.csv", dev},
                                   {"data/test/anatomy_test.csv", test},
                                   {"data/val/anatomy_val.csv", test},
                                   {"data/../../escape.csv", test}});
  LoopbackHttpServer server({{"/gsm8k/test.jsonl", kTest},
                             {"/gsm8k/train.jsonl", kTrain},
                             {"/mmlu/data.tar", tar}});
  TempDir dd;

  // The fixtures are not the real files, so the compiled-in pins refuse them.
  CommandResult r = RunCommand(
      "datasets", {"fetch", "gsm8k", "--url-base", server.base_url()},
      dd.path());
  EXPECT_EQ(r.code, kExitRunFailed);
  EXPECT_THAT(r.err, HasSubstr("sha256 mismatch for test.jsonl"));
  EXPECT_FALSE(fs::exists(dd.Join("datasets/gsm8k")));
  EXPECT_EQ(std::distance(fs::directory_iterator(dd.Join("datasets")),
                          fs::directory_iterator()),
            0);
  EXPECT_EQ(server.requests(), 2);

  // With pins for the fixtures (as for a mirror of another revision).
  const std::string test_pin = "gsm8k/test.jsonl=" + base::Sha256Hex(kTest);
  const std::string train_pin = "gsm8k/train.jsonl=" + base::Sha256Hex(kTrain);
  r = RunCommand("datasets",
                 {"fetch", "gsm8k", "--url-base", server.base_url() + "/",
                  "--pin", test_pin, "--pin", train_pin},
                 dd.path());
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ASSERT_OK_AND_ASSIGN(
      std::string stored,
      base::ReadFileToString(dd.Join("datasets/gsm8k/test.jsonl")));
  EXPECT_EQ(stored, kTest);
  EXPECT_TRUE(fs::exists(dd.Join("datasets/gsm8k/SHA256SUMS")));
  r = RunCommand("datasets",
                 {"verify", "gsm8k", "--pin", test_pin, "--pin", train_pin},
                 dd.path());
  EXPECT_EQ(r.code, kExitOk) << r.out;
  r = RunCommand("datasets", {"verify", "gsm8k"},
                 dd.path());  // against the real pins
  EXPECT_EQ(r.code, kExitRunFailed);
  EXPECT_THAT(r.out, HasSubstr("gsm8k: FAILED"));

  // A failed re-fetch keeps the good copy.
  r = RunCommand(
      "datasets",
      {"fetch", "gsm8k", "--url-base", server.base_url(), "--pin", test_pin},
      dd.path());
  EXPECT_EQ(r.code, kExitRunFailed);
  ASSERT_OK_AND_ASSIGN(
      stored, base::ReadFileToString(dd.Join("datasets/gsm8k/test.jsonl")));
  EXPECT_EQ(stored, kTest);

  // MMLU: only data/{dev,test}/*.csv are kept; the pin is the manifest hash.
  const std::string manifest =
      absl::StrCat(base::Sha256Hex(dev), "  dev/anatomy_dev.csv\n",
                   base::Sha256Hex(test), "  test/anatomy_test.csv\n");
  r = RunCommand("datasets",
                 {"fetch", "mmlu", "--url-base", server.base_url(), "--pin",
                  "mmlu/SHA256SUMS=" + base::Sha256Hex(manifest)},
                 dd.path());
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(fs::exists(dd.Join("datasets/mmlu/test/anatomy_test.csv")));
  EXPECT_FALSE(fs::exists(dd.Join("datasets/mmlu/val")));
  EXPECT_FALSE(fs::exists(dd.Join("escape.csv")));
  ASSERT_OK_AND_ASSIGN(
      std::string sums,
      base::ReadFileToString(dd.Join("datasets/mmlu/SHA256SUMS")));
  EXPECT_EQ(sums, manifest);
  r = RunCommand("prompt", {"mmlu", "--doc", "anatomy/0", "--json"}, dd.path());
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Answer: A\\n\\nBone?"));

  // A missing file (404) is an error and leaves nothing behind.
  r = RunCommand("datasets",
                 {"fetch", "ifeval", "--url-base", server.base_url()},
                 dd.path());
  EXPECT_EQ(r.code, kExitRunFailed);
  EXPECT_THAT(r.err, HasSubstr("404"));
  EXPECT_FALSE(fs::exists(dd.Join("datasets/ifeval")));
  for (const auto& entry : fs::directory_iterator(dd.Join("datasets"))) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
  }
}

}  // namespace
}  // namespace evald::daemon::cli
