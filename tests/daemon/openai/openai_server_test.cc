// The /v1 endpoint over real sockets (libcurl) and a real tiny native model
// written by evald-make-checkpoint; expected values come from the same
// model through the Runner interface.
#include "daemon/openai/openai_server.h"

#include <curl/curl.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "gtest/gtest.h"
#include "runners/native/native_runner.h"
#include "tests/daemon/process.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon::openai {
namespace {

using base::Json;
using testing::ProcessResult;
using testing::RunProcess;
using testing::TempDir;

struct Reply {
  long status = 0;
  std::string body;
  Json json;
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

class OneModel : public ModelProvider {
 public:
  OneModel(std::string name, std::shared_ptr<runners::Runner> runner)
      : name_(std::move(name)), runner_(std::move(runner)) {}
  std::vector<std::string> ModelNames() const override {
    return {name_, "loading-model"};
  }
  absl::StatusOr<std::shared_ptr<runners::Runner>> Get(
      const std::string& name) override {
    if (name == name_) return runner_;
    if (name == "loading-model")
      return absl::UnavailableError("model loading-model is loading");
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' is not served"));
  }
  int MaxModelLen(const std::string& name) const override {
    return name == name_ ? runner_->max_context() : 0;
  }

 private:
  std::string name_;
  std::shared_ptr<runners::Runner> runner_;
};

class OpenAiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    ProcessResult made =
        RunProcess({testing::BinDir() + "/evald-make-checkpoint", "--preset",
                    "tiny", "--seed", "3", "--out", dir_->Join("model")});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    runners::native::NativeRunnerOptions options;
    options.model_dir = dir_->Join("model");
    options.device = runners::native::model::Device::kCpu;
    options.num_threads = 2;
    auto runner = runners::native::CreateNativeRunner(options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::shared_ptr<runners::Runner>(std::move(*runner));
    OpenAiServerOptions server_options;
    server_options.bearer_token = "sekrit";
    handler_ = new OpenAiHandler(server_options,
                                 std::make_shared<OneModel>("tiny", runner_));
    base::http::HttpServerOptions http;
    http.max_body_bytes = 1 << 20;
    http.bearer_token = "sekrit";
    http.error_body = OpenAiErrorBody;
    auto server = base::http::HttpServer::Start(
        http, [](const base::http::HttpRequest& r,
                 base::http::ResponseWriter& w) { handler_->Handle(r, w); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  static void TearDownTestSuite() {
    server_.reset();
    delete handler_;
    runner_.reset();
    delete dir_;
  }

  Reply Call(const std::string& path, const std::string* body,
             const std::string& token = "sekrit") {
    Reply reply;
    CURL* curl = curl_easy_init();
    std::string url = absl::StrCat("http://127.0.0.1:", server_->port(), path);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (!token.empty()) {
      headers = curl_slist_append(
          headers, absl::StrCat("Authorization: Bearer ", token).c_str());
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (body != nullptr) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(body->size()));
    }
    CURLcode rc = curl_easy_perform(curl);
    EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    auto json = base::ParseJson(reply.body);
    if (json.ok()) reply.json = *std::move(json);
    return reply;
  }
  Reply Post(const std::string& path, const Json& body) {
    std::string text = body.Dump();
    return Call(path, &text);
  }

  static runners::LoglikelihoodResult Loglikelihood(
      const std::string& context, const std::string& continuation) {
    runners::LoglikelihoodRequest req{context, continuation};
    runners::LoglikelihoodResult out;
    EXPECT_TRUE(
        runner_
            ->Loglikelihood(
                absl::MakeConstSpan(&req, 1), {},
                [&](size_t, absl::StatusOr<runners::LoglikelihoodResult> r) {
                  ASSERT_TRUE(r.ok()) << r.status();
                  out = *r;
                })
            .ok());
    return out;
  }
  static runners::GenerateResult Generate(const std::string& prompt,
                                          int max_new_tokens) {
    runners::GenerateRequest req;
    req.prompt = prompt;
    req.max_new_tokens = max_new_tokens;
    runners::GenerateResult out;
    EXPECT_TRUE(
        runner_
            ->Generate(absl::MakeConstSpan(&req, 1), {},
                       [&](size_t, absl::StatusOr<runners::GenerateResult> r) {
                         ASSERT_TRUE(r.ok()) << r.status();
                         out = *r;
                       })
            .ok());
    return out;
  }

  static TempDir* dir_;
  static std::shared_ptr<runners::Runner> runner_;
  static OpenAiHandler* handler_;
  static std::unique_ptr<base::http::HttpServer> server_;
};

TempDir* OpenAiServerTest::dir_ = nullptr;
std::shared_ptr<runners::Runner> OpenAiServerTest::runner_;
OpenAiHandler* OpenAiServerTest::handler_ = nullptr;
std::unique_ptr<base::http::HttpServer> OpenAiServerTest::server_;

TEST_F(OpenAiServerTest, ListsModels) {
  Reply r = Call("/v1/models", nullptr);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_NE(r.json.Find("data"), nullptr) << r.body;
  ASSERT_EQ(r.json.Find("data")->array().size(), 2u);
  EXPECT_EQ(r.json.Find("data")->array()[0].Find("id")->string_value(), "tiny");
  // The context window, for clients that fit prompts to it.
  ASSERT_NE(r.json.Find("data")->array()[0].Find("max_model_len"), nullptr)
      << r.body;
  EXPECT_EQ(r.json.Find("data")->array()[0].Find("max_model_len")->int_value(),
            runner_->max_context());
  EXPECT_EQ(r.json.Find("data")->array()[1].Find("max_model_len"), nullptr);
}

// What lm-eval's local-completions sends for loglikelihood: token ids of
// context+continuation, echo, max_tokens 0, logprobs 1; it sums the
// continuation's token_logprobs and compares top_logprobs for greediness.
TEST_F(OpenAiServerTest, EchoLogprobsMatchRunnerLoglikelihood) {
  const std::string context = "The quick brown fox";
  const std::string continuation = " jumps over";
  runners::LoglikelihoodResult expected = Loglikelihood(context, continuation);
  ASSERT_GT(expected.continuation_token_ids.size(), 0u);
  auto context_ids = runner_->Tokenize(context, true);
  ASSERT_TRUE(context_ids.ok());
  Json prompt = Json::MakeArray();
  for (int32_t id : *context_ids) prompt.Push(Json::Int(id));
  for (int32_t id : expected.continuation_token_ids) prompt.Push(Json::Int(id));
  // Older harness versions send max_tokens 0, newer ones 1 (and drop the
  // generated token's entry); both must score the continuation the same.
  for (int max_tokens : {0, 1}) {
    SCOPED_TRACE(max_tokens);
    Reply r = Post("/v1/completions",
                   Json::MakeObject({{"model", Json::String("tiny")},
                                     {"prompt", Json::MakeArray({prompt})},
                                     {"max_tokens", Json::Int(max_tokens)},
                                     {"echo", Json::Bool(true)},
                                     {"temperature", Json::Int(0)},
                                     {"logprobs", Json::Int(1)}}));
    ASSERT_EQ(r.status, 200) << r.body;
    const Json& lp = *r.json.Find("choices")->array()[0].Find("logprobs");
    const auto& token_logprobs = lp.Find("token_logprobs")->array();
    const auto& top = lp.Find("top_logprobs")->array();
    const auto& tokens = lp.Find("tokens")->array();
    ASSERT_EQ(token_logprobs.size(), prompt.array().size() + max_tokens);
    EXPECT_TRUE(token_logprobs[0].is_null());
    double sum = 0;
    bool greedy = true;
    for (size_t p = context_ids->size(); p < prompt.array().size(); ++p) {
      sum += token_logprobs[p].number_value();
      ASSERT_EQ(top[p].object().size(), 1u);
      greedy = greedy && top[p].object()[0].first == tokens[p].string_value();
    }
    EXPECT_EQ(sum, expected.logprob);
    EXPECT_EQ(greedy, expected.is_greedy);
    EXPECT_EQ(r.json.Find("usage")->Find("prompt_tokens")->int_value(),
              static_cast<int64_t>(prompt.array().size()));
  }
}

TEST_F(OpenAiServerTest, GreedyCompletionMatchesRunnerGenerate) {
  const std::string prompt = "Once upon a time";
  runners::GenerateResult expected = Generate(prompt, 8);
  Reply r = Post("/v1/completions",
                 Json::MakeObject({{"model", Json::String("tiny")},
                                   {"prompt", Json::String(prompt)},
                                   {"max_tokens", Json::Int(8)},
                                   {"temperature", Json::Int(0)},
                                   {"logprobs", Json::Int(2)}}));
  ASSERT_EQ(r.status, 200) << r.body;
  const Json& choice = r.json.Find("choices")->array()[0];
  EXPECT_EQ(choice.Find("text")->string_value(), expected.text);
  EXPECT_EQ(r.json.Find("usage")->Find("completion_tokens")->int_value(),
            static_cast<int64_t>(expected.token_ids.size()));
  const auto& tops = choice.Find("logprobs")->Find("top_logprobs")->array();
  ASSERT_EQ(tops.size(), expected.token_ids.size());
  // Greedy: every generated token is the top-1 alternative.
  const auto& tokens = choice.Find("logprobs")->Find("tokens")->array();
  for (size_t i = 0; i < tops.size(); ++i) {
    EXPECT_EQ(tops[i].object()[0].first, tokens[i].string_value()) << i;
  }
}

TEST_F(OpenAiServerTest, ChatCompletionAppliesTemplate) {
  std::vector<runners::ChatMessage> messages = {{"user", "Hello there"}};
  auto templated = runner_->ApplyChatTemplate(messages, true);
  ASSERT_TRUE(templated.ok()) << templated.status();
  runners::GenerateResult expected = Generate(*templated, 6);
  Reply r =
      Post("/v1/chat/completions",
           Json::MakeObject(
               {{"model", Json::String("tiny")},
                {"messages", Json::MakeArray({Json::MakeObject(
                                 {{"role", Json::String("user")},
                                  {"content", Json::String("Hello there")}})})},
                {"max_tokens", Json::Int(6)}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.Find("choices")
                ->array()[0]
                .Find("message")
                ->Find("content")
                ->string_value(),
            expected.text);
}

TEST_F(OpenAiServerTest, StreamsServerSentEvents) {
  std::string body =
      R"({"model": "tiny", "prompt": "abc", "max_tokens": 3, "stream": true})";
  Reply r = Call("/v1/completions", &body);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.rfind("data: {", 0), 0u) << r.body;
  EXPECT_NE(r.body.find("data: [DONE]\n\n"), std::string::npos) << r.body;
}

// The events of an SSE body: the JSON of each "data:" line, and whether it
// ended with [DONE].
struct Events {
  std::vector<Json> chunks;
  bool done = false;
};

Events ParseEvents(const std::string& body) {
  Events out;
  size_t at = 0;
  while (at < body.size()) {
    size_t end = body.find("\n\n", at);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event: " << body.substr(at);
      break;
    }
    const std::string event = body.substr(at, end - at);
    at = end + 2;
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    EXPECT_FALSE(out.done) << "an event after [DONE]: " << event;
    const std::string data = event.substr(6);
    if (data == "[DONE]") {
      out.done = true;
      continue;
    }
    auto json = base::ParseJson(data);
    EXPECT_TRUE(json.ok()) << data;
    if (json.ok()) out.chunks.push_back(*std::move(json));
  }
  return out;
}

// What a streamed answer adds up to.
struct Streamed {
  std::string text;
  int content_chunks = 0;  // chunks carrying some text
  std::string finish_reason;
  int64_t completion_tokens = -1;
  bool done = false;
};

Streamed Collect(const Events& events, bool chat) {
  Streamed s;
  s.done = events.done;
  for (const Json& c : events.chunks) {
    const Json* choices = c.Find("choices");
    if (choices == nullptr || choices->array().empty()) continue;
    const Json& choice = choices->array()[0];
    const Json* text =
        chat ? choice.Find("delta")->Find("content") : choice.Find("text");
    if (text != nullptr && !text->string_value().empty()) {
      s.text += text->string_value();
      ++s.content_chunks;
    }
    const Json* finish = choice.Find("finish_reason");
    if (finish != nullptr && !finish->is_null()) {
      EXPECT_TRUE(s.finish_reason.empty()) << "two finish chunks";
      s.finish_reason = finish->string_value();
      EXPECT_NE(c.Find("usage"), nullptr) << "usage comes with the finish";
      if (c.Find("usage") != nullptr)
        s.completion_tokens =
            c.Find("usage")->Find("completion_tokens")->int_value();
    }
  }
  return s;
}

Json CompletionBody(const std::string& prompt, int max_tokens, bool stream,
                    const std::vector<std::string>& stop = {}) {
  Json body = Json::MakeObject({{"model", Json::String("tiny")},
                                {"prompt", Json::String(prompt)},
                                {"max_tokens", Json::Int(max_tokens)},
                                {"temperature", Json::Int(0)},
                                {"stream", Json::Bool(stream)}});
  if (!stop.empty()) {
    Json list = Json::MakeArray();
    for (const std::string& s : stop) list.Push(Json::String(s));
    body.Set("stop", std::move(list));
  }
  return body;
}

Json ChatBody(const std::string& content, int max_tokens, bool stream,
              const std::vector<std::string>& stop = {}) {
  Json body = Json::MakeObject(
      {{"model", Json::String("tiny")},
       {"messages", Json::MakeArray({Json::MakeObject(
                        {{"role", Json::String("user")},
                         {"content", Json::String(content)}})})},
       {"max_tokens", Json::Int(max_tokens)},
       {"temperature", Json::Int(0)},
       {"stream", Json::Bool(stream)}});
  if (!stop.empty()) {
    Json list = Json::MakeArray();
    for (const std::string& s : stop) list.Push(Json::String(s));
    body.Set("stop", std::move(list));
  }
  return body;
}

// stream: true sends the text as it is generated, in more than one chunk,
// and the chunks add up to the non-streamed text of the same greedy request,
// also when a stop string cuts it.
TEST_F(OpenAiServerTest, StreamsCompletionTokensAsGenerated) {
  const std::string prompt = "Once upon a time";
  Reply plain = Post("/v1/completions", CompletionBody(prompt, 24, false));
  ASSERT_EQ(plain.status, 200) << plain.body;
  const std::string want =
      plain.json.Find("choices")->array()[0].Find("text")->string_value();
  ASSERT_GT(want.size(), 8u);

  Reply streamed = Post("/v1/completions", CompletionBody(prompt, 24, true));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  Streamed s = Collect(ParseEvents(streamed.body), /*chat=*/false);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, want);
  EXPECT_GT(s.content_chunks, 1) << streamed.body;
  EXPECT_EQ(s.finish_reason, "length");
  EXPECT_EQ(s.completion_tokens,
            plain.json.Find("usage")->Find("completion_tokens")->int_value());

  // A stop string from the middle of the text: the stream stops short of it
  // exactly where the plain answer does.
  const std::string stop = want.substr(want.size() / 2, 2);
  Reply plain_stop =
      Post("/v1/completions", CompletionBody(prompt, 24, false, {stop}));
  ASSERT_EQ(plain_stop.status, 200) << plain_stop.body;
  const std::string want_stop =
      plain_stop.json.Find("choices")->array()[0].Find("text")->string_value();
  EXPECT_EQ(want_stop, want.substr(0, want.find(stop)));
  Reply streamed_stop =
      Post("/v1/completions", CompletionBody(prompt, 24, true, {stop}));
  Streamed ss = Collect(ParseEvents(streamed_stop.body), false);
  EXPECT_EQ(ss.text, want_stop);
  EXPECT_EQ(ss.finish_reason, "stop");
  EXPECT_TRUE(ss.done);
}

TEST_F(OpenAiServerTest, StreamsChatTokensAsGenerated) {
  Reply plain =
      Post("/v1/chat/completions", ChatBody("Hello there", 24, false));
  ASSERT_EQ(plain.status, 200) << plain.body;
  const std::string want = plain.json.Find("choices")
                               ->array()[0]
                               .Find("message")
                               ->Find("content")
                               ->string_value();
  ASSERT_GT(want.size(), 8u);
  Reply streamed =
      Post("/v1/chat/completions", ChatBody("Hello there", 24, true));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  Events events = ParseEvents(streamed.body);
  ASSERT_FALSE(events.chunks.empty());
  EXPECT_EQ(events.chunks[0]
                .Find("choices")
                ->array()[0]
                .Find("delta")
                ->Find("role")
                ->string_value(),
            "assistant");
  Streamed s = Collect(events, /*chat=*/true);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, want);
  EXPECT_GT(s.content_chunks, 1) << streamed.body;

  const std::string stop = want.substr(want.size() / 2, 2);
  Reply plain_stop =
      Post("/v1/chat/completions", ChatBody("Hello there", 24, false, {stop}));
  const std::string want_stop = plain_stop.json.Find("choices")
                                    ->array()[0]
                                    .Find("message")
                                    ->Find("content")
                                    ->string_value();
  Streamed ss =
      Collect(ParseEvents(Post("/v1/chat/completions",
                               ChatBody("Hello there", 24, true, {stop}))
                              .body),
              true);
  EXPECT_EQ(ss.text, want_stop);
  EXPECT_EQ(ss.finish_reason, "stop");
}

// max_tokens is an int64 on the wire; a value past the context window (or
// 32 bits) is refused by name rather than clamped or wrapped.
TEST_F(OpenAiServerTest, RefusesMaxTokensThatDoNotFit) {
  const int64_t too_many[] = {4294967299LL, int64_t{runner_->max_context()} + 1,
                              int64_t{1} << 40};
  for (int64_t n : too_many) {
    SCOPED_TRACE(n);
    Reply r = Post("/v1/completions",
                   Json::MakeObject({{"model", Json::String("tiny")},
                                     {"prompt", Json::String("x")},
                                     {"max_tokens", Json::Int(n)}}));
    EXPECT_EQ(r.status, 400) << r.body;
    ASSERT_NE(r.json.Find("error"), nullptr) << r.body;
    EXPECT_EQ(r.json.Find("error")->Find("param")->string_value(),
              "max_tokens");

    Json chat = ChatBody("hi", 1, false);
    chat.Set("max_tokens", Json::Int(n));
    r = Post("/v1/chat/completions", chat);
    EXPECT_EQ(r.status, 400) << r.body;
    ASSERT_NE(r.json.Find("error"), nullptr) << r.body;
    EXPECT_EQ(r.json.Find("error")->Find("param")->string_value(),
              "max_tokens");

    chat.Set("max_completion_tokens", Json::Int(n));
    r = Post("/v1/chat/completions", chat);
    EXPECT_EQ(r.status, 400) << r.body;
    ASSERT_NE(r.json.Find("error"), nullptr) << r.body;
    EXPECT_EQ(r.json.Find("error")->Find("param")->string_value(),
              "max_completion_tokens");
  }
  Json chat = ChatBody("hi", 1, false);
  chat.Set("max_tokens", Json::Int(-3));
  Reply r = Post("/v1/chat/completions", chat);
  EXPECT_EQ(r.status, 400) << r.body;
  // The context window itself is fine.
  r = Post("/v1/completions",
           Json::MakeObject({{"model", Json::String("tiny")},
                             {"prompt", Json::String("x")},
                             {"max_tokens", Json::Int(runner_->max_context())},
                             {"stop", Json::String("e")}}));
  EXPECT_EQ(r.status, 200) << r.body;
}

// Numbers past the double range parse as infinity; sampling parameters must
// be finite.
TEST_F(OpenAiServerTest, RefusesSamplingParametersThatAreNotFinite) {
  for (const char* field : {"temperature", "top_p"}) {
    for (const char* path : {"/v1/completions", "/v1/chat/completions"}) {
      SCOPED_TRACE(absl::StrCat(field, " ", path));
      const bool chat = std::string(path) == "/v1/chat/completions";
      std::string body =
          chat
              ? absl::StrCat(
                    R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, ")",
                    field, R"(": 1e999})")
              : absl::StrCat(
                    R"({"model": "tiny", "prompt": "hi", "max_tokens": 2, ")",
                    field, R"(": 1e999})");
      Reply r = Call(path, &body);
      EXPECT_EQ(r.status, 400) << r.body;
      ASSERT_NE(r.json.Find("error"), nullptr) << r.body;
      EXPECT_EQ(r.json.Find("error")->Find("param")->string_value(), field);
    }
  }
}

TEST_F(OpenAiServerTest, ErrorsHaveOpenAiShapeAndCodes) {
  std::string bad = "{not json";
  Reply r = Call("/v1/completions", &bad);
  EXPECT_EQ(r.status, 400);
  ASSERT_NE(r.json.Find("error"), nullptr) << r.body;
  EXPECT_TRUE(r.json.Find("error")->Find("message")->is_string());

  r = Post("/v1/completions",
           Json::MakeObject({{"model", Json::String("nope")},
                             {"prompt", Json::String("x")}}));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.json.Find("error")->Find("param")->string_value(), "model");

  r = Post("/v1/completions",
           Json::MakeObject({{"model", Json::String("loading-model")},
                             {"prompt", Json::String("x")}}));
  EXPECT_EQ(r.status, 503) << r.body;

  r = Post("/v1/completions",
           Json::MakeObject({{"model", Json::String("tiny")},
                             {"prompt", Json::String("x")},
                             {"max_tokens", Json::String("ten")}}));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json.Find("error")->Find("param")->string_value(), "max_tokens");

  std::string ok_body = R"({"model": "tiny", "prompt": "x", "max_tokens": 1})";
  for (const char* token : {"", "wrong"}) {
    r = Call("/v1/completions", &ok_body, token);
    EXPECT_EQ(r.status, 401);
    // Refused by the HTTP server, still in the OpenAI shape.
    ASSERT_NE(r.json.Find("error"), nullptr) << r.body;
    EXPECT_EQ(r.json.Find("error")->Find("code")->string_value(),
              "invalid_api_key");
  }

  std::string huge = absl::StrCat(R"({"model": "tiny", "prompt": ")",
                                  std::string(2 << 20, 'a'), "\"}");
  EXPECT_EQ(Call("/v1/completions", &huge).status, 413);
}

// Each request field that cannot be used is a 400 whose param is the
// top-level field and whose message names the field (item) and what was
// found.
TEST_F(OpenAiServerTest, BadBodyFieldsAreNamedAsParam) {
  struct Case {
    std::string path, body, param, message;
  };
  const std::string chat = "/v1/chat/completions", cmpl = "/v1/completions";
  const std::string msgs = R"("messages": [{"role": "user", "content": "hi"}])";
  const std::vector<Case> cases = {
      {cmpl, R"({"prompt": "x"})", "model", "field 'model' is missing"},
      {cmpl, R"({"model": 7, "prompt": "x"})", "model",
       "field 'model': expected a string, got 7"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "stream": "yes"})", "stream",
       R"(field 'stream': expected true or false, got "yes")"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "temperature": -1})",
       "temperature", "field 'temperature': expected a number >= 0, got -1"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "top_p": 0})", "top_p",
       "field 'top_p': expected a number in (0, 1], got 0"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "seed": 1.5})", "seed",
       "field 'seed': expected an integer, got 1.5"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "n": 2})", "n",
       "field 'n': only 1 is supported"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "stop": ["a", 5]})", "stop",
       "field 'stop[1]': expected a string, got 5"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "stop": 5})", "stop",
       "field 'stop': expected a string or a list of strings, got 5"},
      {cmpl, R"({"model": "tiny"})", "prompt", "field 'prompt' is missing"},
      {cmpl, R"({"model": "tiny", "prompt": []})", "prompt",
       "field 'prompt': expected a string, a list of strings, a list of "
       "token ids or a list of token-id lists, got []"},
      {cmpl, R"({"model": "tiny", "prompt": [1, -2]})", "prompt",
       "field 'prompt[1]': expected an integer in [0, 2147483647], got -2"},
      {cmpl, R"({"model": "tiny", "prompt": [[1], []]})", "prompt",
       "field 'prompt[1]': expected a non-empty list of token ids, got []"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "max_tokens": -1})",
       "max_tokens", "field 'max_tokens': expected an integer >= 0, got -1"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "echo": 1})", "echo",
       "field 'echo': expected true or false, got 1"},
      {cmpl, R"({"model": "tiny", "prompt": "x", "logprobs": 99})", "logprobs",
       "field 'logprobs': expected an integer <= 20, got 99"},
      {chat, R"({"model": "tiny"})", "messages", "field 'messages' is missing"},
      {chat, R"({"model": "tiny", "messages": []})", "messages",
       "field 'messages': expected a non-empty list, got []"},
      {chat, R"({"model": "tiny", "messages": [{"role": "user"}]})", "messages",
       "field 'messages[0].content' is missing"},
      {chat,
       absl::StrCat(R"({"model": "tiny", )", msgs, R"(, "max_tokens": 0})"),
       "max_tokens", "field 'max_tokens': expected an integer >= 1, got 0"},
      {chat,
       absl::StrCat(R"({"model": "tiny", )", msgs,
                    R"(, "max_tokens": 2, "max_completion_tokens": "x"})"),
       "max_completion_tokens",
       R"(field 'max_completion_tokens': expected an integer, got "x")"},
      {chat,
       absl::StrCat(R"({"model": "tiny", )", msgs, R"(, "logprobs": true})"),
       "logprobs",
       "field 'logprobs': not supported on chat completions; use "
       "/v1/completions"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    std::string body = c.body;
    Reply r = Call(c.path, &body);
    EXPECT_EQ(r.status, 400) << r.body;
    const Json* error = r.json.Find("error");
    ASSERT_NE(error, nullptr) << r.body;
    EXPECT_EQ(error->Find("param")->string_value(), c.param);
    EXPECT_EQ(error->Find("message")->string_value(), c.message);
    EXPECT_EQ(error->Find("code")->string_value(), "invalid_value");
    EXPECT_EQ(error->Find("type")->string_value(), "invalid_request_error");
  }
}

}  // namespace
}  // namespace evald::daemon::openai
