// File: daemon/openai/openai_server.cc
#include "daemon/openai/openai_server.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/http/bearer_token.h"
#include "base/json.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "daemon/openai/text_stream.h"

namespace evald::daemon::openai {
namespace {

using base::Json;
using base::JsonReader;
using base::http::HttpRequest;
using base::http::ResponseWriter;

struct ApiError {
  int http = 400;
  std::string message;
  std::string param;  // the request field at fault, if any
  std::string code;
  std::string type = "invalid_request_error";
};

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

// A request body field that cannot be read, as a 400 naming the top-level
// field as `param`. The body is read without a file name, so each error
// starts "field '<path>'" (base/json.h), and the path starts with the field.
ApiError BadBody(const absl::Status& s) {
  absl::string_view path = s.message();
  if (!absl::ConsumePrefix(&path, "field '")) return FromStatus(s);
  return FromStatus(s, std::string(path.substr(0, path.find_first_of(".['"))));
}

// Fields shared by both endpoints: sampling, stop, n.
absl::Status ReadSampling(const JsonReader& body,
                          runners::SamplingParams* sampling,
                          std::vector<std::string>* stop) {
  const JsonReader temperature = body.Field("temperature");
  ASSIGN_OR_RETURN(sampling->temperature,
                   temperature.NumberOr(sampling->temperature));
  if (sampling->temperature < 0) return temperature.Expected("a number >= 0");
  const JsonReader top_p = body.Field("top_p");
  ASSIGN_OR_RETURN(sampling->top_p, top_p.NumberOr(sampling->top_p));
  if (sampling->top_p <= 0 || sampling->top_p > 1) {
    return top_p.Expected("a number in (0, 1]");
  }
  ASSIGN_OR_RETURN(const int64_t seed, body.Field("seed").IntOr(0));
  sampling->seed = static_cast<uint64_t>(seed);
  const JsonReader n = body.Field("n");
  ASSIGN_OR_RETURN(const int64_t choices, n.IntOr(1));
  if (choices != 1) return n.Error("only 1 is supported");
  const JsonReader s = body.Field("stop");
  if (s.json().is_string()) {
    if (!s.json().string_value().empty()) {
      stop->push_back(s.json().string_value());
    }
  } else if (s.json().is_array()) {
    for (size_t i = 0; i < s.size(); ++i) {
      ASSIGN_OR_RETURN(std::string one, s.Item(i).String());
      if (!one.empty()) stop->push_back(std::move(one));
    }
  } else if (s.present()) {
    return s.Expected("a string or a list of strings");
  }
  return absl::OkStatus();
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

// `max_tokens` (or its newer name, `field`) must be at least `least` and fit
// the model's context window; a larger value could only be clamped or, as a
// 32-bit count, wrap.
absl::Status CheckMaxTokens(const JsonReader& field, int64_t value,
                            int64_t least, int max_context) {
  if (value < least) {
    return field.Expected(absl::StrCat("an integer >= ", least));
  }
  const int64_t limit = max_context > 0 ? max_context : INT32_MAX;
  if (value > limit) {
    return field.Error(absl::StrCat(
        value, " is above the model's context window of ", limit, " tokens"));
  }
  return absl::OkStatus();
}

struct Prompt {
  bool is_text = false;
  std::string text;
  std::vector<int32_t> ids;
};

absl::StatusOr<std::vector<int32_t>> ReadIds(const JsonReader& list) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < list.size(); ++i) {
    ASSIGN_OR_RETURN(const int64_t id, list.Item(i).Int(0, INT32_MAX));
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

// `prompt`: a string, a list of strings, a list of token ids or a list of
// token-id lists; the kind of its first item decides.
absl::StatusOr<std::vector<Prompt>> ReadPrompts(const JsonReader& p) {
  constexpr absl::string_view kShape =
      "a string, a list of strings, a list of token ids or a list of token-id "
      "lists";
  std::vector<Prompt> prompts;
  if (p.json().is_string()) {
    prompts.push_back({true, p.json().string_value(), {}});
    return prompts;
  }
  if (!p.json().is_array() || p.size() == 0) return p.Expected(kShape);
  const Json& first = p.json().array()[0];
  if (first.is_int()) {
    Prompt one;
    ASSIGN_OR_RETURN(one.ids, ReadIds(p));
    prompts.push_back(std::move(one));
    return prompts;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    const JsonReader x = p.Item(i);
    if (first.is_string() && x.json().is_string()) {
      prompts.push_back({true, x.json().string_value(), {}});
    } else if (first.is_array() && x.json().is_array()) {
      Prompt one;
      ASSIGN_OR_RETURN(one.ids, ReadIds(x));
      if (one.ids.empty()) return x.Expected("a non-empty list of token ids");
      prompts.push_back(std::move(one));
    } else {
      return p.Expected(kShape);
    }
  }
  return prompts;
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

// What /v1/completions reads beyond the common fields.
struct CompletionFields {
  std::vector<Prompt> prompts;
  int64_t max_tokens = 16;
  bool echo = false;
  int64_t logprobs = -1;  // none
};

absl::StatusOr<CompletionFields> ReadCompletionFields(const JsonReader& body,
                                                      int max_context,
                                                      int max_logprobs) {
  CompletionFields f;
  ASSIGN_OR_RETURN(f.prompts, ReadPrompts(body.Field("prompt")));
  const JsonReader max_tokens = body.Field("max_tokens");
  ASSIGN_OR_RETURN(f.max_tokens, max_tokens.IntOr(f.max_tokens));
  RETURN_IF_ERROR(CheckMaxTokens(max_tokens, f.max_tokens, 0, max_context));
  ASSIGN_OR_RETURN(f.echo, body.Field("echo").BoolOr(f.echo));
  const JsonReader logprobs = body.Field("logprobs");
  ASSIGN_OR_RETURN(f.logprobs, logprobs.IntOr(f.logprobs));
  if (f.logprobs > max_logprobs) {
    return logprobs.Expected(absl::StrCat("an integer <= ", max_logprobs));
  }
  return f;
}

// What /v1/chat/completions reads beyond the common fields.
struct ChatFields {
  std::vector<runners::ChatMessage> messages;
  std::optional<int64_t> max_tokens;  // the model's context when not given
};

absl::StatusOr<ChatFields> ReadChatFields(const JsonReader& body,
                                          int max_context) {
  ChatFields f;
  ASSIGN_OR_RETURN(const JsonReader messages, body.Field("messages").Array());
  if (messages.size() == 0) return messages.Expected("a non-empty list");
  for (size_t i = 0; i < messages.size(); ++i) {
    ASSIGN_OR_RETURN(const JsonReader m, messages.Item(i).Object());
    ASSIGN_OR_RETURN(std::string role, m.Field("role").String());
    ASSIGN_OR_RETURN(std::string content, m.Field("content").String());
    f.messages.push_back({std::move(role), std::move(content)});
  }
  // The newer name wins when both are sent.
  JsonReader max_tokens = body.Field("max_completion_tokens");
  if (!max_tokens.present()) max_tokens = body.Field("max_tokens");
  if (max_tokens.present()) {
    ASSIGN_OR_RETURN(f.max_tokens, max_tokens.Int());
    RETURN_IF_ERROR(CheckMaxTokens(max_tokens, *f.max_tokens, 1, max_context));
  }
  ASSIGN_OR_RETURN(const bool logprobs, body.Field("logprobs").BoolOr(false));
  if (logprobs) {
    return body.Field("logprobs")
        .Error("not supported on chat completions; use /v1/completions");
  }
  return f;
}

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
void Completions(const JsonReader& body, runners::Runner& r,
                 const Common& common, int max_logprobs,
                 ResponseWriter& writer) {
  absl::StatusOr<CompletionFields> fields =
      ReadCompletionFields(body, r.max_context(), max_logprobs);
  if (!fields.ok()) return SendError(writer, BadBody(fields.status()));
  auto& [prompts, max_tokens, echo, logprobs] = *fields;
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
      absl::StatusOr<Json> j = LegacyLogprobs(
          r, all, echo ? 0 : p.ids.size(), static_cast<int>(logprobs),
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
void ChatCompletions(const JsonReader& body, runners::Runner& r,
                     const Common& common, ResponseWriter& writer) {
  absl::StatusOr<ChatFields> fields = ReadChatFields(body, r.max_context());
  if (!fields.ok()) return SendError(writer, BadBody(fields.status()));
  absl::StatusOr<std::string> prompt =
      r.ApplyChatTemplate(fields->messages, true);
  if (!prompt.ok())
    return SendError(writer, FromStatus(prompt.status(), "messages"));
  runners::GenerateRequest g;
  g.prompt = *prompt;
  g.stop = common.stop;
  g.max_new_tokens =
      static_cast<int>(fields->max_tokens.value_or(r.max_context()));
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
  const JsonReader fields(*body);
  Common common;
  absl::StatusOr<std::string> model = fields.Field("model").String();
  if (!model.ok()) return SendError(writer, BadBody(model.status()));
  common.model_name = *std::move(model);
  absl::StatusOr<std::shared_ptr<runners::Runner>> runner =
      provider_->Get(common.model_name);
  if (!runner.ok()) {
    SendError(writer, FromStatus(runner.status(), "model"));
    return;
  }
  absl::StatusOr<bool> stream = fields.Field("stream").BoolOr(false);
  if (!stream.ok()) return SendError(writer, BadBody(stream.status()));
  common.stream = *stream;
  if (absl::Status s = ReadSampling(fields, &common.sampling, &common.stop);
      !s.ok()) {
    return SendError(writer, BadBody(s));
  }
  if (completions) {
    return Completions(fields, **runner, common, options_.max_logprobs, writer);
  }
  ChatCompletions(fields, **runner, common, writer);
}

}  // namespace evald::daemon::openai
