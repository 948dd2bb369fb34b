// The OpenAI runner against a real evald serving a tiny checkpoint over HTTP
// (--http-listen, --serve-model): its scores and greedy generations equal the
// NativeRunner's on the same checkpoint, including where the context/
// continuation split moves whitespace that only Python calls whitespace.
// Skips while the evald binary has no --http-listen flag.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runners/native/native_runner.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "runners/native/tokenizer/tokenizer.h"
#include "runners/openai/openai_runner.h"
#include "tests/daemon/process.h"
#include "tests/runners/openai/echo_reply.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::openai {

namespace model = ::evald::runners::native::model;
namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One tiny checkpoint, served by a real evald over HTTP and loaded by a
// NativeRunner in process.
class OpenAiRunnerEvaldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string evald = evald::testing::BinDir() + "/evald";
    evald::testing::ProcessResult help =
        evald::testing::RunProcess({evald, "--help"}, {}, 30);
    if (!absl::StrContains(help.out + help.err, "--http-listen")) {
      GTEST_SKIP()
          << evald
          << " has no --http-listen flag (the HTTP endpoint is not built yet)";
    }
    runners::native::testing::CheckpointSpec spec;
    spec.arch = "llama";
    spec.hidden = 64;
    spec.layers = 2;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.intermediate = 128;
    spec.vocab = 600;
    spec.max_position = 512;
    spec.dtype = model::DType::kF32;
    spec.seed = 5;
    spec.norm_jitter = 0.1;
    model_dir_ = tmp_.Join("model");
    ASSERT_OK(runners::native::testing::WriteCheckpoint(spec, model_dir_));

    const int port = FreePort();
    ASSERT_TRUE(daemon_.Start(
        tmp_.Join("data"),
        {"--threads", "2", "--http-listen", "127.0.0.1:" + std::to_string(port),
         "--serve-model", "tiny=" + model_dir_}))
        << daemon_.log();

    OpenAiRunnerOptions o;
    o.endpoint = absl::StrCat("http://127.0.0.1:", port, "/v1");
    o.model = "tiny";
    o.max_concurrency = 4;
    o.max_context = spec.max_position;
    o.max_retries = 2;
    o.backoff_initial_s = 0.05;
    absl::StatusOr<std::unique_ptr<Runner>> remote =
        absl::UnavailableError("not tried");
    for (int i = 0; i < 100 && !remote.ok(); ++i) {
      remote = CreateOpenAiRunner(o);
      if (!remote.ok())
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_OK(remote.status()) << daemon_.log();
    remote_ = *std::move(remote);

    runners::native::NativeRunnerOptions n;
    n.model_dir = model_dir_;
    n.device = model::Device::kCpu;
    n.num_threads = 2;
    ASSERT_OK_AND_ASSIGN(native_, runners::native::CreateNativeRunner(n));
  }

  std::vector<absl::StatusOr<LoglikelihoodResult>> Score(
      Runner* r, const std::vector<LoglikelihoodRequest>& reqs) {
    return evald::testing::ScoreAll(*r, reqs);
  }

  evald::testing::TempDir tmp_;
  std::string model_dir_;
  evald::testing::DaemonProcess daemon_;
  std::unique_ptr<Runner> remote_;
  std::unique_ptr<Runner> native_;
};

TEST_F(OpenAiRunnerEvaldTest, ScoresAndGreedyTextMatchNativeRunner) {
  const std::vector<LoglikelihoodRequest> reqs = {
      {"The quick brown fox", " jumps over"},
      {"Question: 2+2?\nAnswer:", " 4"},
      {"Hello ", "world"},
      {"a b c d e f", " g h i"},
  };
  auto want = Score(native_.get(), reqs);
  auto got = Score(remote_.get(), reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_OK(want[i].status());
    ASSERT_OK(got[i].status()) << daemon_.log();
    EXPECT_NEAR(got[i]->logprob, want[i]->logprob, 1e-4) << i;
    EXPECT_EQ(got[i]->is_greedy, want[i]->is_greedy) << i;
    EXPECT_EQ(got[i]->context_tokens, want[i]->context_tokens) << i;
  }

  GenerateRequest g;
  g.prompt = "Once upon a time";
  g.max_new_tokens = 12;
  std::vector<absl::StatusOr<GenerateResult>> gen_want(
      1, absl::UnknownError("missing"));
  std::vector<absl::StatusOr<GenerateResult>> gen_got(
      1, absl::UnknownError("missing"));
  std::vector<GenerateRequest> greqs = {g};
  ASSERT_OK(native_->Generate(greqs, CallOptions(), [&](size_t i, auto r) {
    gen_want[i] = std::move(r);
  }));
  ASSERT_OK(remote_->Generate(greqs, CallOptions(), [&](size_t i, auto r) {
    gen_got[i] = std::move(r);
  }));
  ASSERT_OK(gen_want[0].status());
  ASSERT_OK(gen_got[0].status());
  EXPECT_EQ(gen_got[0]->text, gen_want[0]->text);
}

// A context ending in the information separators \x1c-\x1f, whitespace to
// Python's str.isspace but not to C's isspace, scores the same continuation
// through both runners: both move them to the continuation, as lm-eval does.
TEST_F(OpenAiRunnerEvaldTest, ControlWhitespaceSplitsTheSameInBothRunners) {
  struct Case {
    LoglikelihoodRequest request;
    std::string stripped_context;  // lm-eval's context.rstrip(), by hand
  };
  const std::vector<Case> cases = {
      {{"Field\x1c", "next"}, "Field"},
      {{"Group\x1d", " two"}, "Group"},
      {{"Record\x1e", "three"}, "Record"},
      {{"Unit \x1f\t", "four"}, "Unit"},
      {{"The quick brown fox ", "jumps"}, "The quick brown fox"},
  };
  std::vector<LoglikelihoodRequest> reqs;
  for (const Case& c : cases) reqs.push_back(c.request);
  auto want = Score(native_.get(), reqs);
  auto got = Score(remote_.get(), reqs);
  ASSERT_OK_AND_ASSIGN(
      auto tokenizer,
      runners::native::tokenizer::Tokenizer::FromDirectory(model_dir_));
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_OK(want[i].status()) << i;
    ASSERT_OK(got[i].status()) << i << " " << daemon_.log();
    // The native runner scores what follows the stripped context in the
    // encoding of the whole text.
    ASSERT_OK_AND_ASSIGN(std::vector<int32_t> context_ids,
                         tokenizer->Encode(cases[i].stripped_context, true));
    EXPECT_EQ(want[i]->context_tokens, static_cast<int>(context_ids.size()))
        << i;
    // The OpenAI runner picks the same tokens out of the endpoint's echo.
    EXPECT_EQ(got[i]->context_tokens, want[i]->context_tokens) << i;
    EXPECT_NEAR(got[i]->logprob, want[i]->logprob, 1e-4) << i;
    EXPECT_EQ(got[i]->is_greedy, want[i]->is_greedy) << i;
  }
}

// Text that is not ASCII (accents, CJK, an emoji, no-break and ideographic
// spaces at the split): the endpoint's offsets count characters and a token
// may hold part of one, so the OpenAI runner asks the endpoint for the
// context's own token count, and both runners split as lm-eval does.
TEST_F(OpenAiRunnerEvaldTest, NonAsciiTextSplitsTheSameInBothRunners) {
  const std::vector<LoglikelihoodRequest> reqs = {
      {"Le caf\xc3\xa9 est", " chaud"},
      {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x80",
       "\xe3\x81\xa7\xe3\x81\x99"},
      {"Emoji \xf0\x9f\x98\x80", " done"},
      {"Price:\xc2\xa0", "5 \xe2\x82\xac"},
      {"Na\xc3\xafve r\xc3\xa9sum\xc3\xa9s", " \xc3\xa0 la carte"},
  };
  auto want = Score(native_.get(), reqs);
  auto got = Score(remote_.get(), reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_OK(want[i].status()) << i;
    ASSERT_OK(got[i].status()) << i << " " << daemon_.log();
    EXPECT_EQ(got[i]->context_tokens, want[i]->context_tokens) << i;
    EXPECT_NEAR(got[i]->logprob, want[i]->logprob, 1e-4) << i;
    EXPECT_EQ(got[i]->is_greedy, want[i]->is_greedy) << i;
  }
}

}  // namespace
}  // namespace evald::runners::openai
