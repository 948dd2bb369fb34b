// Both runners split a loglikelihood request the same way, on a real model:
// a tiny checkpoint the test writes, loaded by a NativeRunner in process and
// served to the OpenAI runner by a loopback /v1/completions endpoint that
// echoes the prompt with that same NativeRunner's log-probabilities and
// byte-exact text offsets. A context ending in whitespace that only Python's
// str.isspace knows (U+00A0, U+3000, U+2028, U+0085, \x1c) must score the
// same continuation tokens through both.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "base/json.h"
#include "runners/native/native_runner.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "runners/native/tokenizer/tokenizer.h"
#include "runners/openai/openai_runner.h"
#include "tests/runners/openai/echo_reply.h"
#include "tests/runners/openai/fake_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::openai {

namespace model = ::evald::runners::native::model;
namespace tokenizer = ::evald::runners::native::tokenizer;
namespace {

using ::evald::base::Json;
using ::evald::testing::FakeRequest;
using ::evald::testing::FakeResponse;
using ::evald::testing::FakeServer;

constexpr int kMaxContext = 512;

class OpenAiRunnerSplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runners::native::testing::CheckpointSpec spec;
    spec.arch = "llama";
    spec.hidden = 64;
    spec.layers = 2;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.intermediate = 128;
    spec.vocab = 600;
    spec.max_position = kMaxContext;
    spec.dtype = model::DType::kF32;
    spec.seed = 9;
    spec.norm_jitter = 0.1;
    model_dir_ = tmp_.Join("model");
    ASSERT_OK(runners::native::testing::WriteCheckpoint(spec, model_dir_));
    runners::native::NativeRunnerOptions n;
    n.model_dir = model_dir_;
    n.device = model::Device::kCpu;
    n.num_threads = 2;
    ASSERT_OK_AND_ASSIGN(native_, runners::native::CreateNativeRunner(n));
    ASSERT_OK_AND_ASSIGN(tokenizer_,
                         tokenizer::Tokenizer::FromDirectory(model_dir_));

    server_ = std::make_unique<FakeServer>(
        [this](const FakeRequest& r) { return Serve(r); });
    ASSERT_FALSE(server_->endpoint().empty());
    OpenAiRunnerOptions o;
    o.endpoint = server_->endpoint();
    o.model = "tiny";
    o.max_concurrency = 1;
    o.max_retries = 0;
    ASSERT_OK_AND_ASSIGN(remote_, CreateOpenAiRunner(o));
  }

  // GET /v1/models, and POST /v1/completions with echo: every prompt token
  // with its raw bytes, its byte offset in the prompt, its log-probability
  // and the argmax there.
  FakeResponse Serve(const FakeRequest& r) {
    if (r.path == "/v1/models") {
      return {200, R"({"data": [{"id": "tiny", "max_model_len": 512}]})"};
    }
    absl::StatusOr<Json> body = base::ParseJson(r.body);
    if (!body.ok() || body->Find("prompt") == nullptr)
      return {400, R"({"error": "bad body"})"};
    const std::string prompt = body->Find("prompt")->string_value();
    absl::StatusOr<std::vector<int32_t>> ids = native_->Tokenize(prompt, true);
    if (!ids.ok()) return {400, R"({"error": "tokenize"})"};
    absl::StatusOr<std::vector<Runner::TokenLogprob>> lps =
        native_->PromptLogprobs(*ids, /*top_k=*/1, CallOptions());
    if (!lps.ok()) return {500, R"({"error": "score"})"};
    Json tokens = Json::MakeArray(), logprobs = Json::MakeArray(),
         top = Json::MakeArray(), offsets = Json::MakeArray();
    int64_t offset = 0;
    for (size_t p = 0; p < ids->size(); ++p) {
      const std::string bytes = tokenizer_->TokenBytes((*ids)[p]);
      tokens.Push(Json::String(bytes));
      offsets.Push(Json::Int(offset));
      offset += static_cast<int64_t>(bytes.size());
      if (p == 0) {
        logprobs.Push(Json());
        top.Push(Json());
        continue;
      }
      logprobs.Push(Json::Double((*lps)[p].logprob));
      Json alternatives = Json::MakeObject();
      for (const auto& [id, lp] : (*lps)[p].top) {
        alternatives.Set(tokenizer_->TokenBytes(id), Json::Double(lp));
      }
      top.Push(std::move(alternatives));
    }
    return {200, evald::testing::EchoCompletionBody(
                     prompt, std::move(tokens), std::move(logprobs),
                     std::move(top), std::move(offsets))};
  }

  std::vector<absl::StatusOr<LoglikelihoodResult>> Score(
      Runner* r, const std::vector<LoglikelihoodRequest>& reqs) {
    return evald::testing::ScoreAll(*r, reqs);
  }

  evald::testing::TempDir tmp_;
  std::string model_dir_;
  std::unique_ptr<Runner> native_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<FakeServer> server_;  // calls native_ and tokenizer_
  std::unique_ptr<Runner> remote_;
};

TEST_F(OpenAiRunnerSplitTest,
       PythonWhitespaceMovesToTheContinuationInBothRunners) {
  struct Case {
    LoglikelihoodRequest request;
    std::string stripped_context;  // lm-eval's context.rstrip(), by hand
  };
  const std::vector<Case> cases = {
      {{"Hello\xc2\xa0", "world"}, "Hello"},                    // U+00A0
      {{"Answer:\xe3\x80\x80", "yes"}, "Answer:"},              // U+3000
      {{"Line\xe2\x80\xa8", "two"}, "Line"},                    // U+2028
      {{"Next\xc2\x85", "line"}, "Next"},                       // U+0085
      {{"Field\x1c", "next"}, "Field"},                         // \x1c
      {{"Mixed \t\xc2\xa0\xe3\x80\x80\x1f", " end"}, "Mixed"},  // a run
      {{"Zero\xe2\x80\x8b", " width"},
       "Zero\xe2\x80\x8b"},  // U+200B: not space
      {{"The quick brown fox ", "jumps"}, "The quick brown fox"},  // ASCII
  };
  std::vector<LoglikelihoodRequest> reqs;
  for (const Case& c : cases) reqs.push_back(c.request);
  auto want = Score(native_.get(), reqs);
  auto got = Score(remote_.get(), reqs);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    ASSERT_OK(want[i].status()) << i;
    ASSERT_OK(got[i].status()) << i;
    // The native runner feeds the stripped context and scores what follows
    // it in the encoding of the whole text.
    ASSERT_OK_AND_ASSIGN(std::vector<int32_t> context_ids,
                         tokenizer_->Encode(c.stripped_context, true));
    ASSERT_OK_AND_ASSIGN(
        std::vector<int32_t> whole_ids,
        tokenizer_->Encode(c.request.context + c.request.continuation, true));
    EXPECT_EQ(want[i]->context_tokens, static_cast<int>(context_ids.size()))
        << i;
    EXPECT_EQ(want[i]->continuation_token_ids,
              std::vector<int32_t>(whole_ids.begin() + context_ids.size(),
                                   whole_ids.end()))
        << i;
    // The OpenAI runner cuts the echoed prompt at the same token and sums
    // the same log-probabilities.
    EXPECT_EQ(got[i]->context_tokens, want[i]->context_tokens) << i;
    EXPECT_NEAR(got[i]->logprob, want[i]->logprob, 1e-4) << i;
    EXPECT_EQ(got[i]->is_greedy, want[i]->is_greedy) << i;
  }
}

}  // namespace
}  // namespace evald::runners::openai
