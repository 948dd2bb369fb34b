// File: daemon/openai/openai_server.cc
#include "daemon/openai/openai_server.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/http/bearer_token.h"
#include "base/json.h"
#include "base/logging.h"
#include "base/utf8.h"
#include "daemon/openai/text_stream.h"

namespace evald::daemon::openai {
namespace {

using base::Json;
using base::http::HttpRequest;
using base::http::ResponseWriter;

struct ApiError {
  int http = 400;
  std::string message;
  std::string param;  // the request field at fault, if any
  std::string code;
  std::string type = "invalid_request_error";
};

ApiError BadField(std::string param, std::string message) {
  return ApiError{400, std::move(message), std::move(param), "invalid_value"};
}

ApiError FromStatus(const absl::Status& s, std::string param = "") {
  ApiError e;
  e.message = std::string(s.message());
  e.param = std::move(param);
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      e.http = 400;
      e.code = "invalid_value";
      break;
    case absl::StatusCode::kNotFound:
      e.http = 404;
      e.code = "model_not_found";
      break;
    case absl::StatusCode::kUnavailable:
      e.http = 503;
      e.code = "model_loading";
      e.type = "server_error";
      break;
    case absl::StatusCode::kUnauthenticated:
      e.http = 401;
      e.code = "invalid_api_key";
      break;
    case absl::StatusCode::kUnimplemented:
      e.http = 501;
      e.code = "unsupported";
      break;
    case absl::StatusCode::kCancelled:
      e.http = 499;
      e.code = "cancelled";
      break;
    default:
      e.http = 500;
      e.code = "internal_error";
      e.type = "server_error";
  }
  return e;
}

Json StrOrNull(const std::string& s) {
  return s.empty() ? Json::Null() : Json::String(s);
}

void SendJson(ResponseWriter& writer, int status, const Json& body) {
  writer.Send(status, "application/json", body.Dump() + "\n");
}

Json ErrorJson(const ApiError& e) {
  Json err = Json::MakeObject({{"message", Json::String(e.message)},
                               {"type", Json::String(e.type)},
                               {"param", StrOrNull(e.param)},
                               {"code", StrOrNull(e.code)}});
  return Json::MakeObject({{"error", std::move(err)}});
}

void SendError(ResponseWriter& writer, const ApiError& e) {
  SendJson(writer, e.http, ErrorJson(e));
}

// Server-sent events on a chunked response that starts with the first
// event, so an error found before any event can still be a plain JSON error
// with its status code.
class EventStream {
 public:
  explicit EventStream(ResponseWriter& writer) : writer_(writer) {}

  // False once the client is gone.
  bool Send(const Json& event) {
    if (!started_) {
      started_ = true;
      ok_ = writer_.StartChunked(200, "text/event-stream",
                                 {{"Cache-Control", "no-cache"}});
    }
    if (ok_)
      ok_ = writer_.WriteChunk(absl::StrCat("data: ", event.Dump(), "\n\n"));
    return ok_;
  }
  bool started() const { return started_; }
  // The client is still there, as far as is known.
  bool ok() const { return ok_; }
  // Ends the stream with [DONE].
  void Done() {
    if (ok_ && started_) writer_.WriteChunk("data: [DONE]\n\n");
    if (started_) writer_.EndChunked();
  }
  // Before the first event: a plain error response. After it: an error
  // event (what OpenAI's clients read mid-stream), then the end.
  void Fail(const ApiError& e) {
    if (!started_) {
      SendError(writer_, e);
      return;
    }
    Send(ErrorJson(e));
    writer_.EndChunked();
  }

 private:
  ResponseWriter& writer_;
  bool started_ = false;
  bool ok_ = true;
};

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NextId(absl::string_view prefix) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(prefix, NowUnix(), "-", counter.fetch_add(1));
}

const Json* Field(const Json& body, absl::string_view key) {
  const Json* v = body.Find(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

std::optional<ApiError> GetInt(const Json& body, const std::string& key,
                               int64_t* out) {
  const Json* v = Field(body, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_int())
    return BadField(key, absl::StrCat("'", key, "' must be an integer"));
  *out = v->int_value();
  return std::nullopt;
}

std::optional<ApiError> GetDouble(const Json& body, const std::string& key,
                                  double* out) {
  const Json* v = Field(body, key);
  if (v == nullptr) return std::nullopt;
  // 1e999 parses as infinity; nothing downstream makes sense of it.
  if (!v->is_number() || !std::isfinite(v->number_value()))
    return BadField(key, absl::StrCat("'", key, "' must be a finite number"));
  *out = v->number_value();
  return std::nullopt;
}

std::optional<ApiError> GetBool(const Json& body, const std::string& key,
                                bool* out) {
  const Json* v = Field(body, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool())
    return BadField(key, absl::StrCat("'", key, "' must be a boolean"));
  *out = v->bool_value();
  return std::nullopt;
}

// Fields shared by both endpoints: sampling, stop, n.
std::optional<ApiError> GetSampling(const Json& body,
                                    runners::SamplingParams* sampling,
                                    std::vector<std::string>* stop) {
  if (auto e = GetDouble(body, "temperature", &sampling->temperature)) return e;
  if (sampling->temperature < 0)
    return BadField("temperature", "'temperature' must be >= 0");
  if (auto e = GetDouble(body, "top_p", &sampling->top_p)) return e;
  if (sampling->top_p <= 0 || sampling->top_p > 1) {
    return BadField("top_p", "'top_p' must be in (0, 1]");
  }
  int64_t seed = 0;
  if (auto e = GetInt(body, "seed", &seed)) return e;
  sampling->seed = static_cast<uint64_t>(seed);
  int64_t n = 1;
  if (auto e = GetInt(body, "n", &n)) return e;
  if (n != 1) return BadField("n", "only 'n' = 1 is supported");
  if (const Json* s = Field(body, "stop")) {
    if (s->is_string()) {
      if (!s->string_value().empty()) stop->push_back(s->string_value());
    } else if (s->is_array()) {
      for (const Json& x : s->array()) {
        if (!x.is_string())
          return BadField("stop",
                          "'stop' must be a string or a list of strings");
        if (!x.string_value().empty()) stop->push_back(x.string_value());
      }
    } else {
      return BadField("stop", "'stop' must be a string or a list of strings");
    }
  }
  return std::nullopt;
}

std::string FinishReasonName(runners::FinishReason r) {
  switch (r) {
    case runners::FinishReason::kLength:
      return "length";
    case runners::FinishReason::kCancelled:
      return "cancelled";
    default:
      return "stop";
  }
}

absl::StatusOr<runners::GenerateResult> GenerateOne(
    runners::Runner& runner, runners::GenerateRequest request,
    const runners::CallOptions& options = runners::CallOptions()) {
  absl::StatusOr<runners::GenerateResult> out =
      absl::InternalError("generate returned no result");
  absl::Status s =
      runner.Generate(absl::MakeConstSpan(&request, 1), options,
                      [&](size_t, absl::StatusOr<runners::GenerateResult> r) {
                        out = std::move(r);
                      });
  if (!s.ok()) return s;
  return out;
}

// Generates on a thread of its own while this one hands the text to
// `send_delta` as it becomes stable (TextStream), so a slow client never
// holds up the engine. When `send_delta` reports the client gone, the
// generation is cancelled. Returns the result, whose text the deltas add up
// to.
absl::StatusOr<runners::GenerateResult> GenerateStreaming(
    runners::Runner& runner, runners::GenerateRequest request,
    const std::function<bool(absl::string_view delta)>& send_delta) {
  TextStream stream(request.stop);
  std::atomic<bool> cancelled{false};
  request.on_text = [&stream](absl::string_view text) { stream.Update(text); };
  runners::CallOptions options;
  options.cancelled = &cancelled;
  std::thread generation([&stream, &runner, &options, &request] {
    stream.Finish(GenerateOne(runner, std::move(request), options));
  });
  bool client_gone = false;
  while (true) {
    TextStream::Delta delta = stream.Next();
    if (!delta.text.empty() && !client_gone && !send_delta(delta.text)) {
      client_gone = true;
      cancelled.store(true);
    }
    if (delta.finished) break;
  }
  generation.join();
  if (stream.diverged()) {
    LOG(WARNING) << "openai stream: the final text does not continue the "
                    "streamed text; the client's deltas fall short of it";
  }
  return stream.result();
}

// `max_tokens` (named `field`) must be >= 0 and fit the model's context
// window; a larger value could only be clamped or, as a 32-bit count, wrap.
std::optional<ApiError> CheckMaxTokens(const std::string& field, int64_t value,
                                       int max_context) {
  if (value < 0)
    return BadField(field, absl::StrCat("'", field, "' must be >= 0"));
  const int64_t limit = max_context > 0 ? max_context : INT32_MAX;
  if (value > limit) {
    return BadField(field, absl::StrCat("'", field, "' is ", value,
                                        ", above the model's context window "
                                        "of ",
                                        limit, " tokens"));
  }
  return std::nullopt;
}

struct Prompt {
  bool is_text = false;
  std::string text;
  std::vector<int32_t> ids;
};

std::optional<ApiError> ParseIds(const Json& arr, std::vector<int32_t>* ids) {
  for (const Json& x : arr.array()) {
    if (!x.is_int() || x.int_value() < 0 || x.int_value() > INT32_MAX) {
      return BadField("prompt",
                      "token-id prompts must hold non-negative integers");
    }
    ids->push_back(static_cast<int32_t>(x.int_value()));
  }
  return std::nullopt;
}

std::optional<ApiError> ParsePrompts(const Json& body,
                                     std::vector<Prompt>* prompts) {
  const Json* p = Field(body, "prompt");
  if (p == nullptr) return BadField("prompt", "'prompt' is required");
  if (p->is_string()) {
    prompts->push_back({true, p->string_value(), {}});
    return std::nullopt;
  }
  const ApiError shape = BadField("prompt",
                                  "'prompt' must be a string, a list of "
                                  "strings, a list of token ids or a list of "
                                  "token-id lists");
  if (!p->is_array() || p->array().empty()) return shape;
  const Json& first = p->array()[0];
  if (first.is_int()) {
    Prompt one;
    if (auto e = ParseIds(*p, &one.ids)) return e;
    prompts->push_back(std::move(one));
    return std::nullopt;
  }
  for (const Json& x : p->array()) {
    if (first.is_string() && x.is_string()) {
      prompts->push_back({true, x.string_value(), {}});
    } else if (first.is_array() && x.is_array()) {
      Prompt one;
      if (auto e = ParseIds(x, &one.ids)) return e;
      if (one.ids.empty())
        return BadField("prompt", "a token-id prompt is empty");
      prompts->push_back(std::move(one));
    } else {
      return shape;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::string> TokensText(const runners::Runner& runner,
                                       absl::Span<const int32_t> ids) {
  std::string text;
  for (int32_t id : ids) {
    absl::StatusOr<std::string> t = runner.TokenText(id);
    if (!t.ok()) return t.status();
    text += *t;
  }
  return text;
}

// Legacy completions logprobs for positions [start, ids.size()) of `ids`:
// each token's own text, and text_offset summing those texts in characters
// (code points, as OpenAI's API and Python's len() count them) from
// `offset0`.
absl::StatusOr<Json> LegacyLogprobs(runners::Runner& runner,
                                    const std::vector<int32_t>& ids,
                                    size_t start, int top_k, size_t offset0) {
  absl::StatusOr<std::vector<runners::Runner::TokenLogprob>> lp =
      runner.PromptLogprobs(ids, top_k, runners::CallOptions());
  if (!lp.ok()) return lp.status();
  Json tokens = Json::MakeArray(), token_logprobs = Json::MakeArray(),
       top_logprobs = Json::MakeArray(), offsets = Json::MakeArray();
  size_t offset = offset0;
  for (size_t p = start; p < ids.size(); ++p) {
    absl::StatusOr<std::string> text = runner.TokenText(ids[p]);
    if (!text.ok()) return text.status();
    tokens.Push(Json::String(*text));
    offsets.Push(Json::Int(static_cast<int64_t>(offset)));
    offset += base::CountCodePoints(*text);
    if (p == 0) {
      token_logprobs.Push(Json::Null());
      top_logprobs.Push(Json::Null());
      continue;
    }
    token_logprobs.Push(Json::Double((*lp)[p].logprob));
    Json top = Json::MakeObject();
    for (const auto& [id, logprob] : (*lp)[p].top) {
      absl::StatusOr<std::string> t = runner.TokenText(id);
      if (!t.ok()) return t.status();
      if (top.Find(*t) == nullptr) top.Set(*t, Json::Double(logprob));
    }
    top_logprobs.Push(std::move(top));
  }
  return Json::MakeObject({{"tokens", std::move(tokens)},
                           {"token_logprobs", std::move(token_logprobs)},
                           {"top_logprobs", std::move(top_logprobs)},
                           {"text_offset", std::move(offsets)}});
}

// What both endpoints read before they differ.
struct Common {
  std::string model_name;
  bool stream = false;
  runners::SamplingParams sampling;
  std::vector<std::string> stop;
};

Json Usage(int64_t prompt_tokens, int64_t completion_tokens) {
  return Json::MakeObject(
      {{"prompt_tokens", Json::Int(prompt_tokens)},
       {"completion_tokens", Json::Int(completion_tokens)},
       {"total_tokens", Json::Int(prompt_tokens + completion_tokens)}});
}

// POST /v1/completions. With `stream`, each choice's text goes out as it is
// generated, then a chunk with its finish_reason (the last one with usage);
// with `logprobs` too, each choice goes out whole once scored, as the
// logprobs need the finished sequence.
void Completions(const Json& body, runners::Runner& r, const Common& common,
                 int max_logprobs, ResponseWriter& writer) {
  std::vector<Prompt> prompts;
  if (auto e = ParsePrompts(body, &prompts)) return SendError(writer, *e);
  int64_t max_tokens = 16;
  if (auto e = GetInt(body, "max_tokens", &max_tokens))
    return SendError(writer, *e);
  if (auto e = CheckMaxTokens("max_tokens", max_tokens, r.max_context()))
    return SendError(writer, *e);
  bool echo = false;
  if (auto e = GetBool(body, "echo", &echo)) return SendError(writer, *e);
  int64_t logprobs = -1;
  if (auto e = GetInt(body, "logprobs", &logprobs))
    return SendError(writer, *e);
  if (logprobs > max_logprobs) {
    return SendError(
        writer, BadField("logprobs",
                         absl::StrCat("'logprobs' must be <= ", max_logprobs)));
  }
  const std::string id = NextId("cmpl-");
  const int64_t created = NowUnix();
  auto response = [&](Json choices, std::optional<Json> usage) {
    Json out = Json::MakeObject({{"id", Json::String(id)},
                                 {"object", Json::String("text_completion")},
                                 {"created", Json::Int(created)},
                                 {"model", Json::String(common.model_name)},
                                 {"choices", std::move(choices)}});
    if (usage.has_value()) out.Set("usage", *std::move(usage));
    return out;
  };
  auto choice = [](size_t index, std::string text, Json logprobs, Json finish) {
    return Json::MakeObject({{"text", Json::String(std::move(text))},
                             {"index", Json::Int(static_cast<int64_t>(index))},
                             {"logprobs", std::move(logprobs)},
                             {"finish_reason", std::move(finish)}});
  };
  const bool stream_text = common.stream && logprobs < 0;
  EventStream events(writer);
  auto fail = [&](const ApiError& e) {
    if (common.stream) return events.Fail(e);
    SendError(writer, e);
  };
  Json choices = Json::MakeArray();
  int64_t prompt_tokens = 0, completion_tokens = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    // A client gone mid-stream wants no more choices generated.
    if (!events.ok()) return events.Done();
    Prompt& p = prompts[i];
    if (p.is_text) {
      absl::StatusOr<std::vector<int32_t>> ids = r.Tokenize(p.text, true);
      if (!ids.ok()) return fail(FromStatus(ids.status(), "prompt"));
      p.ids = *std::move(ids);
    } else {
      absl::StatusOr<std::string> text = TokensText(r, p.ids);
      if (!text.ok()) return fail(FromStatus(text.status(), "prompt"));
      p.text = *std::move(text);
    }
    if (stream_text && echo && !p.text.empty()) {
      events.Send(response(
          Json::MakeArray({choice(i, p.text, Json::Null(), Json::Null())}),
          std::nullopt));
    }
    std::string completion;
    std::vector<int32_t> generated;
    std::string finish = "length";
    if (max_tokens > 0) {
      runners::GenerateRequest g;
      g.prompt = p.text;
      g.stop = common.stop;
      g.max_new_tokens = static_cast<int>(max_tokens);
      g.sampling = common.sampling;
      absl::StatusOr<runners::GenerateResult> out =
          stream_text
              ? GenerateStreaming(
                    r, std::move(g),
                    [&](absl::string_view delta) {
                      return events.Send(response(
                          Json::MakeArray({choice(i, std::string(delta),
                                                  Json::Null(), Json::Null())}),
                          std::nullopt));
                    })
              : GenerateOne(r, std::move(g));
      if (!out.ok()) return fail(FromStatus(out.status(), "prompt"));
      completion = out->text;
      generated = out->token_ids;
      finish = FinishReasonName(out->finish_reason);
    }
    prompt_tokens += static_cast<int64_t>(p.ids.size());
    completion_tokens += static_cast<int64_t>(generated.size());
    Json lp = Json::Null();
    if (logprobs >= 0 && (echo || !generated.empty())) {
      std::vector<int32_t> all = p.ids;
      all.insert(all.end(), generated.begin(), generated.end());
      absl::StatusOr<Json> j =
          LegacyLogprobs(r, all, echo ? 0 : p.ids.size(),
                         static_cast<int>(logprobs),
                         echo ? 0 : base::CountCodePoints(p.text));
      if (!j.ok()) return fail(FromStatus(j.status(), "prompt"));
      lp = *std::move(j);
    }
    std::string text = echo ? p.text + completion : completion;
    if (common.stream) {
      const bool last = i + 1 == prompts.size();
      events.Send(response(
          Json::MakeArray({choice(i, stream_text ? "" : std::move(text),
                                  std::move(lp), Json::String(finish))}),
          last ? std::optional<Json>(Usage(prompt_tokens, completion_tokens))
               : std::nullopt));
    } else {
      choices.Push(
          choice(i, std::move(text), std::move(lp), Json::String(finish)));
    }
  }
  if (common.stream) return events.Done();
  SendJson(
      writer, 200,
      response(std::move(choices), Usage(prompt_tokens, completion_tokens)));
}

// POST /v1/chat/completions. With `stream`, a first chunk with the role,
// content chunks as the text is generated, then one with finish_reason and
// usage.
void ChatCompletions(const Json& body, runners::Runner& r, const Common& common,
                     ResponseWriter& writer) {
  const Json* messages = Field(body, "messages");
  if (messages == nullptr || !messages->is_array() ||
      messages->array().empty()) {
    return SendError(
        writer, BadField("messages", "'messages' must be a non-empty list"));
  }
  std::vector<runners::ChatMessage> chat_messages;
  for (const Json& m : messages->array()) {
    const Json* role = m.is_object() ? m.Find("role") : nullptr;
    const Json* content = m.is_object() ? m.Find("content") : nullptr;
    if (role == nullptr || !role->is_string() || content == nullptr ||
        !content->is_string()) {
      return SendError(
          writer, BadField("messages",
                           "each message needs string 'role' and 'content'"));
    }
    chat_messages.push_back({role->string_value(), content->string_value()});
  }
  // The newer name wins when both are sent.
  const std::string max_field = Field(body, "max_completion_tokens") != nullptr
                                    ? "max_completion_tokens"
                                    : "max_tokens";
  int64_t max_tokens = -1;
  if (auto e = GetInt(body, max_field, &max_tokens))
    return SendError(writer, *e);
  const bool max_given = Field(body, max_field) != nullptr;
  if (max_given) {
    if (max_tokens == 0) {
      return SendError(
          writer,
          BadField(max_field, absl::StrCat("'", max_field, "' must be > 0")));
    }
    if (auto e = CheckMaxTokens(max_field, max_tokens, r.max_context()))
      return SendError(writer, *e);
  }
  bool want_logprobs = false;
  if (auto e = GetBool(body, "logprobs", &want_logprobs))
    return SendError(writer, *e);
  if (want_logprobs) {
    return SendError(writer,
                     BadField("logprobs",
                              "logprobs are not supported on chat completions; "
                              "use /v1/completions"));
  }
  absl::StatusOr<std::string> prompt = r.ApplyChatTemplate(chat_messages, true);
  if (!prompt.ok())
    return SendError(writer, FromStatus(prompt.status(), "messages"));
  runners::GenerateRequest g;
  g.prompt = *prompt;
  g.stop = common.stop;
  g.max_new_tokens = max_given ? static_cast<int>(max_tokens) : r.max_context();
  g.sampling = common.sampling;
  const std::string id = NextId("chatcmpl-");
  const int64_t created = NowUnix();

  if (common.stream) {
    EventStream events(writer);
    auto chunk = [&](Json delta, Json finish) {
      return Json::MakeObject(
          {{"id", Json::String(id)},
           {"object", Json::String("chat.completion.chunk")},
           {"created", Json::Int(created)},
           {"model", Json::String(common.model_name)},
           {"choices", Json::MakeArray({Json::MakeObject(
                           {{"index", Json::Int(0)},
                            {"delta", std::move(delta)},
                            {"logprobs", Json::Null()},
                            {"finish_reason", std::move(finish)}})})}});
    };
    bool role_sent = false;
    auto send_delta = [&](absl::string_view text) {
      Json delta =
          Json::MakeObject({{"content", Json::String(std::string(text))}});
      if (!role_sent) delta.Set("role", Json::String("assistant"));
      role_sent = true;
      return events.Send(chunk(std::move(delta), Json::Null()));
    };
    absl::StatusOr<runners::GenerateResult> out =
        GenerateStreaming(r, std::move(g), send_delta);
    if (!out.ok()) return events.Fail(FromStatus(out.status(), "messages"));
    if (!role_sent) send_delta("");
    Json last = chunk(Json::MakeObject(),
                      Json::String(FinishReasonName(out->finish_reason)));
    last.Set("usage", Usage(out->prompt_tokens,
                            static_cast<int64_t>(out->token_ids.size())));
    events.Send(last);
    return events.Done();
  }

  absl::StatusOr<runners::GenerateResult> out = GenerateOne(r, std::move(g));
  if (!out.ok()) return SendError(writer, FromStatus(out.status(), "messages"));
  Json message = Json::MakeObject({{"role", Json::String("assistant")},
                                   {"content", Json::String(out->text)}});
  SendJson(
      writer, 200,
      Json::MakeObject(
          {{"id", Json::String(id)},
           {"object", Json::String("chat.completion")},
           {"created", Json::Int(created)},
           {"model", Json::String(common.model_name)},
           {"choices", Json::MakeArray({Json::MakeObject(
                           {{"index", Json::Int(0)},
                            {"message", std::move(message)},
                            {"logprobs", Json::Null()},
                            {"finish_reason", Json::String(FinishReasonName(
                                                  out->finish_reason))}})})},
           {"usage", Usage(out->prompt_tokens,
                           static_cast<int64_t>(out->token_ids.size()))}}));
}

}  // namespace

base::http::HttpErrorBody OpenAiErrorBody(int status,
                                          absl::string_view message) {
  ApiError e;
  e.http = status;
  e.message = std::string(message);
  switch (status) {
    case 401:
      e.code = "invalid_api_key";
      break;
    case 408:
      e.code = "request_timeout";
      break;
    case 413:
      e.code = "request_too_large";
      break;
    case 429:
      e.code = "too_many_connections";
      break;
    case 503:
      e.code = "server_busy";
      break;
    default:
      e.code = "invalid_request";
  }
  if (status >= 500) e.type = "server_error";
  return {"application/json", ErrorJson(e).Dump() + "\n"};
}

void OpenAiHandler::Handle(const HttpRequest& request, ResponseWriter& writer) {
  // The HTTP server checks the token first; this is the second line, for
  // servers set up without it.
  if (!options_.bearer_token.empty() &&
      !base::http::BearerTokenMatches(request.Header("authorization"),
                                      options_.bearer_token)) {
    SendError(
        writer,
        ApiError{401,
                 "missing or wrong bearer token in the authorization header",
                 "", "invalid_api_key"});
    return;
  }
  if (request.path == "/v1/models" && request.method == "GET") {
    Json data = Json::MakeArray();
    for (const std::string& name : provider_->ModelNames()) {
      Json entry = Json::MakeObject({{"id", Json::String(name)},
                                     {"object", Json::String("model")},
                                     {"created", Json::Int(0)},
                                     {"owned_by", Json::String("evald")}});
      if (const int len = provider_->MaxModelLen(name); len > 0) {
        entry.Set("max_model_len", Json::Int(len));
      }
      data.Push(std::move(entry));
    }
    SendJson(writer, 200,
             Json::MakeObject({{"object", Json::String("list")},
                               {"data", std::move(data)}}));
    return;
  }
  const bool completions = request.path == "/v1/completions";
  const bool chat = request.path == "/v1/chat/completions";
  if (!completions && !chat) {
    SendError(writer, ApiError{404,
                               absl::StrCat("no route for ", request.method,
                                            " ", request.path),
                               "", "not_found"});
    return;
  }
  if (request.method != "POST") {
    SendError(writer, ApiError{405, absl::StrCat(request.path, " takes POST"),
                               "", "method_not_allowed"});
    return;
  }
  absl::StatusOr<Json> body = base::ParseJson(request.body);
  if (!body.ok() || !body->is_object()) {
    SendError(writer,
              ApiError{400,
                       absl::StrCat(
                           "request body is not a json object: ",
                           body.ok() ? "wrong type" : body.status().message()),
                       "", "invalid_json"});
    return;
  }
  const Json* model = Field(*body, "model");
  if (model == nullptr || !model->is_string()) {
    SendError(writer, BadField("model", "'model' (a string) is required"));
    return;
  }
  absl::StatusOr<std::shared_ptr<runners::Runner>> runner =
      provider_->Get(model->string_value());
  if (!runner.ok()) {
    SendError(writer, FromStatus(runner.status(), "model"));
    return;
  }
  Common common;
  common.model_name = model->string_value();
  if (auto e = GetBool(*body, "stream", &common.stream))
    return SendError(writer, *e);
  if (auto e = GetSampling(*body, &common.sampling, &common.stop))
    return SendError(writer, *e);
  if (completions) {
    return Completions(*body, **runner, common, options_.max_logprobs, writer);
  }
  ChatCompletions(*body, **runner, common, writer);
}

}  // namespace evald::daemon::openai
