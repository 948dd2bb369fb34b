// The OpenAI runner against a loopback server that replays scripted replies:
// scoring through text_offset, retries with backoff on 429/5xx/dropped
// connections, timeouts, bad replies, the concurrency bound, generation
// through completions and chat completions, and max_context discovery.
#include "runners/openai/openai_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "tests/runners/openai/echo_reply.h"
#include "tests/runners/openai/fake_server.h"
#include "tests/testing/status_matchers.h"

namespace evald::runners::openai {
namespace {

using ::evald::base::Json;
using ::evald::testing::FakeRequest;
using ::evald::testing::FakeResponse;
using ::evald::testing::FakeServer;
using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kModel[] = "tiny";

// The fake model's tokenizer: a token is leading spaces plus a run of
// non-space characters.
std::vector<std::string> Tokens(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && text[j] == ' ') ++j;
    while (j < text.size() && text[j] != ' ') ++j;
    out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

// The fake model's log-probability of a token.
double TokenLogprob(const std::string& token) {
  return -0.5 * static_cast<double>(token.size());
}

FakeResponse ModelsReply(int max_model_len) {
  Json entry = Json::MakeObject();
  entry.Set("id", Json::String(kModel));
  if (max_model_len > 0) entry.Set("max_model_len", Json::Int(max_model_len));
  Json data = Json::MakeArray();
  data.Push(std::move(entry));
  Json reply = Json::MakeObject();
  reply.Set("data", std::move(data));
  return FakeResponse{200, reply.Dump()};
}

// An echo completion of the request's prompt: the first token has no
// log-probability; a token containing "down" is not the argmax.
FakeResponse EchoReplyWith(const FakeRequest& request, bool bos) {
  absl::StatusOr<Json> body = base::ParseJson(request.body);
  if (!body.ok()) return FakeResponse{400, "{\"error\":\"bad json\"}"};
  const std::string prompt = body->Find("prompt")->string_value();
  Json tokens = Json::MakeArray(), lps = Json::MakeArray(),
       top = Json::MakeArray(), offsets = Json::MakeArray();
  size_t offset = 0;
  std::vector<std::string> toks = Tokens(prompt);
  // A server that prepends BOS counts its text in text_offset.
  if (bos) toks.insert(toks.begin(), "<s>");
  for (size_t i = 0; i < toks.size(); ++i) {
    tokens.Push(Json::String(toks[i]));
    offsets.Push(Json::Int(static_cast<int64_t>(offset)));
    offset += toks[i].size();
    if (i == 0) {
      lps.Push(Json::Null());
      top.Push(Json::Null());
      continue;
    }
    lps.Push(Json::Double(TokenLogprob(toks[i])));
    Json alternatives = Json::MakeObject();
    if (absl::StrContains(toks[i], "down"))
      alternatives.Set(" up", Json::Double(-0.01));
    alternatives.Set(toks[i], Json::Double(TokenLogprob(toks[i])));
    top.Push(std::move(alternatives));
  }
  return FakeResponse{200, evald::testing::EchoCompletionBody(
                               prompt, std::move(tokens), std::move(lps),
                               std::move(top), std::move(offsets))};
}

FakeResponse EchoReply(const FakeRequest& request) {
  return EchoReplyWith(request, false);
}

OpenAiRunnerOptions Options(const FakeServer& server) {
  OpenAiRunnerOptions o;
  o.endpoint = server.endpoint();
  o.model = kModel;
  o.max_concurrency = 4;
  o.max_retries = 3;
  o.backoff_initial_s = 0.01;
  o.backoff_max_s = 0.05;
  o.timeout_s = 5;
  o.seed = 7;
  return o;
}

template <typename Res, typename Req, typename Fn>
std::vector<absl::StatusOr<Res>> RunCall(const std::vector<Req>& reqs,
                                         Fn call) {
  std::vector<absl::StatusOr<Res>> out(reqs.size(),
                                       absl::UnknownError("missing"));
  absl::Status s =
      call(absl::Span<const Req>(reqs), CallOptions(),
           [&](size_t i, absl::StatusOr<Res> r) { out[i] = std::move(r); });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<absl::StatusOr<LoglikelihoodResult>> Score(
    Runner* runner, const std::vector<LoglikelihoodRequest>& reqs) {
  return RunCall<LoglikelihoodResult>(
      reqs, [&](auto span, const CallOptions& o, auto cb) {
        return runner->Loglikelihood(span, o, cb);
      });
}

std::vector<absl::StatusOr<GenerateResult>> Gen(
    Runner* runner, const std::vector<GenerateRequest>& reqs) {
  return RunCall<GenerateResult>(reqs,
                                 [&](auto span, const CallOptions& o, auto cb) {
                                   return runner->Generate(span, o, cb);
                                 });
}

// Routes /models to a listing and everything else to `post`.
FakeServer::Handler Route(std::function<FakeResponse(const FakeRequest&)> post,
                          int max_model_len = 2048) {
  return [post, max_model_len](const FakeRequest& r) {
    if (r.path == "/v1/models") return ModelsReply(max_model_len);
    return post(r);
  };
}

TEST(OpenAiRunnerTest, ScoresContinuationFromTextOffsets) {
  FakeServer server(Route(EchoReply));
  ASSERT_FALSE(server.endpoint().empty());
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  EXPECT_EQ(runner->max_context(), 2048);
  EXPECT_EQ(runner->model_name(), "tiny");
  // The second request's trailing context space moves to the continuation,
  // so both score the tokens " sat" and " still".
  auto results = Score(runner.get(), {{"The cat", " sat still"},
                                      {"The cat ", "sat still"},
                                      {"The cat", " sat down"}});
  const double expected = TokenLogprob(" sat") + TokenLogprob(" still");
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(results[i].status());
    EXPECT_NEAR(results[i]->logprob, expected, 1e-9) << i;
    EXPECT_TRUE(results[i]->is_greedy) << i;
    EXPECT_EQ(results[i]->context_tokens, 2) << i;
  }
  ASSERT_OK(results[2].status());
  EXPECT_NEAR(results[2]->logprob, TokenLogprob(" sat") + TokenLogprob(" down"),
              1e-9);
  EXPECT_FALSE(results[2]->is_greedy);
  // The request carried the echo parameters and the whole text.
  for (const FakeRequest& r : server.received()) {
    if (r.path != "/v1/completions") continue;
    ASSERT_OK_AND_ASSIGN(Json body, base::ParseJson(r.body));
    EXPECT_TRUE(body.Find("echo")->bool_value());
    EXPECT_EQ(body.Find("max_tokens")->int_value(), 0);
    EXPECT_EQ(body.Find("logprobs")->int_value(), 1);
    EXPECT_TRUE(
        absl::StartsWith(body.Find("prompt")->string_value(), "The cat "));
  }
}

TEST(OpenAiRunnerTest, BosTextInOffsetsIsAlignedAway) {
  FakeServer server(Route(
      [](const FakeRequest& r) { return EchoReplyWith(r, /*bos=*/true); }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  auto results =
      Score(runner.get(), {{"The cat", " sat still"}, {"", "Hello there"}});
  ASSERT_OK(results[0].status());
  EXPECT_NEAR(results[0]->logprob,
              TokenLogprob(" sat") + TokenLogprob(" still"), 1e-9);
  EXPECT_EQ(results[0]->context_tokens, 3);  // BOS, "The", " cat"
  ASSERT_OK(results[1].status());
  EXPECT_NEAR(results[1]->logprob,
              TokenLogprob("Hello") + TokenLogprob(" there"), 1e-9);
  EXPECT_EQ(results[1]->context_tokens, 1);
}

TEST(OpenAiRunnerTest, RetriesAfter429AndHonoursRetryAfter) {
  std::atomic<int> calls{0};
  FakeServer server(Route([&](const FakeRequest& r) {
    if (calls++ < 2) {
      return FakeResponse{
          429, "{\"error\":\"slow down\"}", {{"Retry-After", "0.3"}}};
    }
    return EchoReply(r);
  }));
  OpenAiRunnerOptions o = Options(server);
  o.backoff_max_s = 1;
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(o));
  auto start = std::chrono::steady_clock::now();
  auto results = Score(runner.get(), {{"a b", " c"}});
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_OK(results[0].status());
  EXPECT_NEAR(results[0]->logprob, TokenLogprob(" c"), 1e-9);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_GE(seconds, 0.6);  // two waits of Retry-After 0.3 s
}

TEST(OpenAiRunnerTest,
     ServerErrorsFailAfterLastRetryNamingEndpointStatusAndBody) {
  std::atomic<int> calls{0};
  FakeServer server(Route([&](const FakeRequest&) {
    ++calls;
    return FakeResponse{500, "{\"error\":\"kv cache exploded\"}"};
  }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  auto results = Score(runner.get(), {{"a", " b"}});
  EXPECT_THAT(
      results[0].status(),
      StatusIs(absl::StatusCode::kUnavailable,
               ::testing::AllOf(HasSubstr(server.endpoint() + "/completions"),
                                HasSubstr("HTTP 500"),
                                HasSubstr("kv cache exploded"),
                                HasSubstr("4 attempt"))));
  EXPECT_EQ(calls.load(), 4);  // first try + max_retries
}

TEST(OpenAiRunnerTest, ClientErrorIsNotRetried) {
  std::atomic<int> calls{0};
  FakeServer server(Route([&](const FakeRequest&) {
    ++calls;
    return FakeResponse{400, "{\"error\":\"prompt too long\"}"};
  }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  auto results = Score(runner.get(), {{"a", " b"}});
  EXPECT_THAT(results[0].status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("prompt too long")));
  EXPECT_EQ(calls.load(), 1);
}

TEST(OpenAiRunnerTest, TimeoutIsDeadlineExceeded) {
  FakeServer server(Route([&](const FakeRequest& r) {
    FakeResponse slow = EchoReply(r);
    slow.delay_ms = 3000;
    return slow;
  }));
  OpenAiRunnerOptions o = Options(server);
  o.timeout_s = 0.3;
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(o));
  auto results = Score(runner.get(), {{"a", " b"}});
  EXPECT_THAT(results[0].status(), StatusIs(absl::StatusCode::kDeadlineExceeded,
                                            HasSubstr("timed out")));
}

TEST(OpenAiRunnerTest, DroppedConnectionIsRetried) {
  std::atomic<int> calls{0};
  FakeServer server(Route([&](const FakeRequest& r) {
    FakeResponse reply = EchoReply(r);
    reply.drop_mid_body = calls++ == 0;
    return reply;
  }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  auto results = Score(runner.get(), {{"x y", " z"}});
  ASSERT_OK(results[0].status());
  EXPECT_NEAR(results[0]->logprob, TokenLogprob(" z"), 1e-9);
  EXPECT_EQ(calls.load(), 2);
}

TEST(OpenAiRunnerTest, AlwaysDroppedConnectionFailsAsUnavailable) {
  FakeServer server(Route([&](const FakeRequest& r) {
    FakeResponse reply = EchoReply(r);
    reply.drop_mid_body = true;
    return reply;
  }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  auto results = Score(runner.get(), {{"x y", " z"}});
  EXPECT_THAT(results[0].status(), StatusIs(absl::StatusCode::kUnavailable,
                                            HasSubstr("transport error")));
}

TEST(OpenAiRunnerTest, GarbageJsonIsDataLoss) {
  FakeServer server(Route([&](const FakeRequest&) {
    return FakeResponse{200, "{\"choices\": [tru"};
  }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  auto results = Score(runner.get(), {{"a", " b"}});
  EXPECT_THAT(results[0].status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("invalid JSON")));
}

TEST(OpenAiRunnerTest, MissingPromptLogprobsIsFailedPrecondition) {
  FakeServer server(Route([&](const FakeRequest&) {
    return FakeResponse{200,
                        "{\"choices\":[{\"text\":\"\",\"logprobs\":null}]}"};
  }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  auto results = Score(runner.get(), {{"a", " b"}});
  EXPECT_THAT(results[0].status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(
                           HasSubstr(server.endpoint()),
                           HasSubstr("cannot give prompt log-probabilities"))));
}

TEST(OpenAiRunnerTest, EchoWithoutPromptTokensIsFailedPrecondition) {
  // A server that ignores echo returns only (zero) generated tokens.
  FakeServer server(Route([&](const FakeRequest&) {
    return FakeResponse{
        200,
        "{\"choices\":[{\"text\":\"\",\"logprobs\":{\"tokens\":[],"
        "\"token_logprobs\":[],\"top_logprobs\":[],\"text_offset\":[]}}]}"};
  }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  auto results = Score(runner.get(), {{"a", " b"}});
  EXPECT_THAT(results[0].status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(OpenAiRunnerTest, ConcurrencyIsBounded) {
  FakeServer server(Route([&](const FakeRequest& r) {
    FakeResponse reply = EchoReply(r);
    reply.delay_ms = 40;
    return reply;
  }));
  OpenAiRunnerOptions o = Options(server);
  o.max_concurrency = 3;
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(o));
  std::vector<LoglikelihoodRequest> reqs;
  for (int i = 0; i < 24; ++i)
    reqs.push_back({"ctx " + std::to_string(i), " word"});
  auto results = Score(runner.get(), reqs);
  for (const auto& r : results) EXPECT_OK(r.status());
  EXPECT_LE(server.max_in_flight(), 3);
  EXPECT_GE(server.max_in_flight(), 2);  // requests really overlap
}

TEST(OpenAiRunnerTest, CancelledCallFinishesRemainingRequestsCancelled) {
  FakeServer server(Route([&](const FakeRequest& r) {
    FakeResponse reply = EchoReply(r);
    reply.delay_ms = 50;
    return reply;
  }));
  OpenAiRunnerOptions o = Options(server);
  o.max_concurrency = 1;
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(o));
  std::vector<LoglikelihoodRequest> reqs(10, {"a", " b"});
  std::atomic<bool> cancelled{false};
  CallOptions call;
  call.cancelled = &cancelled;
  int ok = 0, cancelled_count = 0;
  ASSERT_OK(runner->Loglikelihood(
      reqs, call, [&](size_t, absl::StatusOr<LoglikelihoodResult> r) {
        cancelled = true;
        (r.ok() ? ok : cancelled_count)++;
        if (!r.ok()) {
          EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
        }
      }));
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(cancelled_count, 9);
}

TEST(OpenAiRunnerTest, GenerateSendsSamplingAndCutsAtStop) {
  FakeServer server(Route([&](const FakeRequest&) {
    return FakeResponse{
        200,
        "{\"choices\":[{\"text\":\" four\\n\\nQ: "
        "next\",\"finish_reason\":\"length\"}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4}}"};
  }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  GenerateRequest req;
  req.prompt = "Q: 2+2?\nA:";
  req.stop = {"\n\n"};
  req.max_new_tokens = 17;
  req.sampling.temperature = 0.7;
  req.sampling.seed = 42;
  auto results = Gen(runner.get(), {req});
  ASSERT_OK(results[0].status());
  EXPECT_EQ(results[0]->text, " four");
  EXPECT_EQ(results[0]->finish_reason, FinishReason::kStop);
  EXPECT_EQ(results[0]->prompt_tokens, 5);
  EXPECT_EQ(runner->stats().generated_tokens, 4);
  std::vector<FakeRequest> got = server.received();
  ASSERT_EQ(got.back().path, "/v1/completions");
  ASSERT_OK_AND_ASSIGN(Json body, base::ParseJson(got.back().body));
  EXPECT_EQ(body.Find("prompt")->string_value(), req.prompt);
  EXPECT_EQ(body.Find("max_tokens")->int_value(), 17);
  EXPECT_EQ(body.Find("seed")->int_value(), 42);
  EXPECT_DOUBLE_EQ(body.Find("temperature")->number_value(), 0.7);
  EXPECT_EQ(body.Find("stop")->array()[0].string_value(), "\n\n");
  EXPECT_EQ(body.Find("model")->string_value(), "tiny");
}

TEST(OpenAiRunnerTest, ChatMessagesGoToChatCompletions) {
  FakeServer server(Route([&](const FakeRequest&) {
    return FakeResponse{200,
                        "{\"choices\":[{\"message\":{\"role\":\"assistant\","
                        "\"content\":\"Paris\"},"
                        "\"finish_reason\":\"stop\"}]}"};
  }));
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(Options(server)));
  std::vector<ChatMessage> messages = {{"system", "Be brief."},
                                       {"user", "Capital of France?"}};
  // The endpoint applies its own template: the runner has none to render.
  EXPECT_THAT(runner->ApplyChatTemplate(messages, true).status(),
              StatusIs(absl::StatusCode::kUnimplemented,
                       HasSubstr("its own chat template")));
  GenerateRequest req;
  req.messages = messages;
  auto results = Gen(runner.get(), {req});
  ASSERT_OK(results[0].status());
  EXPECT_EQ(results[0]->text, "Paris");
  EXPECT_EQ(results[0]->finish_reason, FinishReason::kStop);
  std::vector<FakeRequest> got = server.received();
  ASSERT_EQ(got.back().path, "/v1/chat/completions");
  ASSERT_OK_AND_ASSIGN(Json body, base::ParseJson(got.back().body));
  const Json* sent = body.Find("messages");
  ASSERT_NE(sent, nullptr);
  ASSERT_EQ(sent->array().size(), 2u);
  EXPECT_EQ(sent->array()[1].Find("role")->string_value(), "user");
  EXPECT_EQ(sent->array()[1].Find("content")->string_value(),
            "Capital of France?");
  EXPECT_EQ(sent->array()[0].Find("role")->string_value(), "system");
}

TEST(OpenAiRunnerTest, MaxContextFallsBackToOptionOrFails) {
  FakeServer server(Route(EchoReply, /*max_model_len=*/0));
  OpenAiRunnerOptions o = Options(server);
  EXPECT_THAT(
      CreateOpenAiRunner(o).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_model_len")));
  o.max_context = 777;
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(o));
  EXPECT_EQ(runner->max_context(), 777);
}

TEST(OpenAiRunnerTest, ApiKeyFromEnvironmentIsSentAsBearer) {
  FakeServer server(Route(EchoReply));
  OpenAiRunnerOptions o = Options(server);
  o.api_key_env = "EVALD_OPENAI_RUNNER_TEST_KEY";
  ::unsetenv(o.api_key_env.c_str());
  EXPECT_THAT(
      CreateOpenAiRunner(o).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(o.api_key_env)));
  ::setenv(o.api_key_env.c_str(), "sk-test-123", 1);
  ASSERT_OK_AND_ASSIGN(auto runner, CreateOpenAiRunner(o));
  for (const FakeRequest& r : server.received()) {
    EXPECT_EQ(r.headers.at("authorization"), "Bearer sk-test-123");
  }
  ::unsetenv(o.api_key_env.c_str());
}

TEST(OpenAiRunnerTest, UnreachableEndpointFailsAtCreation) {
  std::string endpoint;
  {
    FakeServer server(Route(EchoReply));
    endpoint = server.endpoint();
  }  // closed: nothing listens on the port now
  OpenAiRunnerOptions o;
  o.endpoint = endpoint;
  o.model = kModel;
  o.max_retries = 1;
  o.backoff_initial_s = 0.01;
  EXPECT_THAT(CreateOpenAiRunner(o).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(endpoint + "/models")));
}

}  // namespace
}  // namespace evald::runners::openai
