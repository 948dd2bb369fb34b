// The OpenAI runner against a real evald serving a tiny checkpoint over HTTP
// (--http-listen, --serve-model): its scores and greedy generations equal the
// NativeRunner's on the same checkpoint. Skips while the evald binary has no
// --http-listen flag.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runners/native/model/checkpoint_writer.h"
#include "runners/native/native_runner.h"
#include "runners/openai/openai_runner.h"
#include "tests/daemon/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners {
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

TEST(OpenAiRunnerEvaldTest, ScoresAndGreedyTextMatchNativeRunner) {
  const std::string evald = evald::testing::BinDir() + "/evald";
  evald::testing::ProcessResult help = evald::testing::RunProcess({evald, "--help"}, {}, 30);
  if (!absl::StrContains(help.out + help.err, "--http-listen")) {
    GTEST_SKIP() << evald << " has no --http-listen flag (the HTTP endpoint is not built yet)";
  }
  evald::testing::TempDir tmp;
  engine::CheckpointSpec spec;
  spec.arch = "llama";
  spec.hidden = 64;
  spec.layers = 2;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.intermediate = 128;
  spec.vocab = 600;
  spec.max_position = 512;
  spec.dtype = engine::DType::kF32;
  spec.seed = 5;
  spec.norm_jitter = 0.1;
  const std::string model_dir = tmp.Join("model");
  ASSERT_OK(engine::WriteCheckpoint(spec, model_dir));

  const int port = FreePort();
  evald::testing::DaemonProcess daemon;
  ASSERT_TRUE(daemon.Start(tmp.Join("data"),
                           {"--threads", "2", "--http-listen", "127.0.0.1:" + std::to_string(port),
                            "--serve-model", "tiny=" + model_dir}))
      << daemon.log();

  OpenAiRunnerOptions o;
  o.endpoint = absl::StrCat("http://127.0.0.1:", port, "/v1");
  o.model = "tiny";
  o.max_concurrency = 4;
  o.max_context = spec.max_position;
  o.max_retries = 2;
  o.backoff_initial_s = 0.05;
  absl::StatusOr<std::unique_ptr<Runner>> remote = absl::UnavailableError("not tried");
  for (int i = 0; i < 100 && !remote.ok(); ++i) {
    remote = CreateOpenAiRunner(o);
    if (!remote.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_OK(remote.status()) << daemon.log();

  NativeRunnerOptions n;
  n.model_dir = model_dir;
  n.device = engine::Device::kCpu;
  n.num_threads = 2;
  ASSERT_OK_AND_ASSIGN(auto native, CreateNativeRunner(n));

  const std::vector<LoglikelihoodRequest> reqs = {
      {"The quick brown fox", " jumps over"},
      {"Question: 2+2?\nAnswer:", " 4"},
      {"Hello ", "world"},
      {"a b c d e f", " g h i"},
  };
  auto collect = [&](Runner* r) {
    std::vector<absl::StatusOr<LoglikelihoodResult>> out(reqs.size(), absl::UnknownError("missing"));
    EXPECT_OK(r->Loglikelihood(reqs, CallOptions(), [&](size_t i, auto res) { out[i] = std::move(res); }));
    return out;
  };
  auto want = collect(native.get());
  auto got = collect(remote->get());
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_OK(want[i].status());
    ASSERT_OK(got[i].status()) << daemon.log();
    EXPECT_NEAR(got[i]->logprob, want[i]->logprob, 1e-4) << i;
    EXPECT_EQ(got[i]->is_greedy, want[i]->is_greedy) << i;
    EXPECT_EQ(got[i]->context_tokens, want[i]->context_tokens) << i;
  }

  GenerateRequest g;
  g.prompt = "Once upon a time";
  g.max_new_tokens = 12;
  std::vector<absl::StatusOr<GenerateResult>> gen_want(1, absl::UnknownError("missing"));
  std::vector<absl::StatusOr<GenerateResult>> gen_got(1, absl::UnknownError("missing"));
  std::vector<GenerateRequest> greqs = {g};
  ASSERT_OK(native->Generate(greqs, CallOptions(),
                                    [&](size_t i, auto r) { gen_want[i] = std::move(r); }));
  ASSERT_OK(remote->get()->Generate(greqs, CallOptions(),
                                    [&](size_t i, auto r) { gen_got[i] = std::move(r); }));
  ASSERT_OK(gen_want[0].status());
  ASSERT_OK(gen_got[0].status());
  EXPECT_EQ(gen_got[0]->text, gen_want[0]->text);
}

}  // namespace
}  // namespace evald::runners
