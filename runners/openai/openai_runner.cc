// File: runners/openai/openai_runner.cc
#include "runners/openai/openai_runner.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "runners/loglikelihood_split.h"

namespace evald::runners::openai {
namespace {

using base::Json;

constexpr size_t kBodyExcerpt = 300;

void GlobalCurlInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct HttpResponse {
  long status = 0;
  std::string body;
  double retry_after_s = -1;  // from the Retry-After header, -1 when absent
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t ReadHeader(char* data, size_t size, size_t n, void* user) {
  absl::string_view line(data, size * n);
  constexpr absl::string_view kName = "retry-after:";
  if (line.size() > kName.size() &&
      absl::EqualsIgnoreCase(line.substr(0, kName.size()), kName)) {
    double seconds;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(kName.size())),
                         &seconds) &&
        seconds >= 0) {
      static_cast<HttpResponse*>(user)->retry_after_s = seconds;
    }
  }
  return size * n;
}

std::string Excerpt(absl::string_view body) {
  std::string s(body.substr(0, kBodyExcerpt));
  if (body.size() > kBodyExcerpt) s += "...";
  return s;
}

// Cuts `text` before the earliest occurrence of any stop string.
bool CutAtStop(const std::vector<std::string>& stop, std::string* text) {
  size_t cut = std::string::npos;
  for (const std::string& s : stop) {
    if (s.empty()) continue;
    size_t pos = text->find(s);
    if (pos != std::string::npos) cut = std::min(cut, pos);
  }
  if (cut == std::string::npos) return false;
  text->resize(cut);
  return true;
}

bool IsCancelled(const CallOptions& options) {
  return options.cancelled != nullptr && options.cancelled->load();
}

// Which echoed token starts the continuation, read from text_offset: the
// first token at or past the context's end. Only for ASCII text: there bytes
// and characters agree and no token holds part of a character, so whatever
// the server counts, the offsets are exact. Some servers include the text of
// a BOS they prepend; the offsets are taken as they are when the tokens end
// where the prompt does, or shifted by the first token's text when they end
// that much later. nullopt when neither lines up.
std::optional<size_t> FirstContinuationTokenByOffset(const Json& tokens,
                                                     const Json& offsets,
                                                     size_t context_size,
                                                     size_t prompt_size) {
  const size_t n = offsets.array().size();
  if (n == 0 || !tokens.is_array() || tokens.array().size() != n ||
      !tokens.array()[0].is_string() || !tokens.array()[n - 1].is_string()) {
    return std::nullopt;
  }
  for (const Json& off : offsets.array()) {
    if (!off.is_number()) return std::nullopt;
  }
  const double end =
      offsets.array()[n - 1].number_value() +
      static_cast<double>(tokens.array()[n - 1].string_value().size());
  const double shift = end - static_cast<double>(prompt_size);
  if (shift != 0 &&
      shift != static_cast<double>(tokens.array()[0].string_value().size())) {
    return std::nullopt;
  }
  for (size_t i = 0; i < n; ++i) {
    if (offsets.array()[i].number_value() - shift >=
        static_cast<double>(context_size))
      return i;
  }
  return std::nullopt;
}

bool IsAscii(absl::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// A request not yet sent once the call stops admitting new ones.
bool IsNotAdmitted(const CallOptions& options) {
  return IsCancelled(options) ||
         (options.stop_admitting != nullptr && options.stop_admitting->load());
}

class OpenAiRunner : public Runner {
 public:
  explicit OpenAiRunner(OpenAiRunnerOptions options)
      : options_(std::move(options)), rng_(options_.seed) {
    while (!options_.endpoint.empty() && options_.endpoint.back() == '/') {
      options_.endpoint.pop_back();
    }
    if (!options_.api_key_env.empty()) {
      const char* key = std::getenv(options_.api_key_env.c_str());
      if (key != nullptr) api_key_ = key;
    }
  }

  absl::Status Init() {
    if (options_.endpoint.empty())
      return absl::InvalidArgumentError("openai runner: endpoint is empty");
    if (options_.model.empty())
      return absl::InvalidArgumentError("openai runner: model is empty");
    if (options_.max_concurrency < 1) {
      return absl::InvalidArgumentError(
          "openai runner: max_concurrency must be >= 1");
    }
    if (!options_.api_key_env.empty() && api_key_.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("openai runner: environment variable ",
                       options_.api_key_env, " (api_key_env) is not set"));
    }
    CURL* curl = curl_easy_init();
    absl::StatusOr<Json> models =
        Call(curl, "GET", "/models", "", CallOptions());
    curl_easy_cleanup(curl);
    if (!models.ok()) return models.status();
    max_context_ = options_.max_context;
    if (const Json* data = models->Find("data");
        data != nullptr && data->is_array()) {
      for (const Json& entry : data->array()) {
        const Json* id = entry.Find("id");
        const Json* len = entry.Find("max_model_len");
        if (id != nullptr && id->is_string() &&
            id->string_value() == options_.model && len != nullptr &&
            len->is_int() && len->int_value() > 0) {
          max_context_ = static_cast<int>(len->int_value());
        }
      }
    }
    if (max_context_ <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("openai runner: ", options_.endpoint,
                       "/models gives no max_model_len for model '",
                       options_.model, "'; set max_context in the model spec"));
    }
    return absl::OkStatus();
  }

  std::string model_name() const override { return options_.model; }
  int max_context() const override { return max_context_; }

  absl::Status Loglikelihood(
      absl::Span<const LoglikelihoodRequest> requests,
      const CallOptions& options,
      const ResultCallback<LoglikelihoodResult>& on_result) override {
    return RunAll<LoglikelihoodResult>(
        requests.size(), options, on_result, [&](CURL* curl, size_t i) {
          return ScoreOne(curl, requests[i], options);
        });
  }

  absl::Status Generate(
      absl::Span<const GenerateRequest> requests, const CallOptions& options,
      const ResultCallback<GenerateResult>& on_result) override {
    return RunAll<GenerateResult>(
        requests.size(), options, on_result, [&](CURL* curl, size_t i) {
          return GenerateOne(curl, requests[i], options);
        });
  }

  absl::StatusOr<std::string> ApplyChatTemplate(
      absl::Span<const ChatMessage> messages,
      bool add_generation_prompt) const override {
    return absl::UnimplementedError(
        absl::StrCat("openai runner: endpoint ", options_.endpoint,
                     " applies its own chat template; chat messages are sent "
                     "to /chat/completions as they "
                     "are, and a chat-templated context cannot be scored"));
  }

  RunnerStats stats() const override {
    std::lock_guard<std::mutex> lock(stats_mu_);
    return stats_;
  }

 private:
  // Serves requests 0..n-1 on up to max_concurrency threads; callbacks are
  // serialised.
  template <typename T, typename Fn>
  absl::Status RunAll(size_t n, const CallOptions& options,
                      const ResultCallback<T>& on_result, Fn one) {
    GlobalCurlInit();
    std::atomic<size_t> next{0};
    std::mutex callback_mu;
    auto worker = [&] {
      CURL* curl = curl_easy_init();
      for (size_t i = next++; i < n; i = next++) {
        absl::StatusOr<T> result =
            IsNotAdmitted(options)
                ? absl::StatusOr<T>(absl::CancelledError("call cancelled"))
                : one(curl, i);
        std::lock_guard<std::mutex> lock(callback_mu);
        on_result(i, std::move(result));
      }
      curl_easy_cleanup(curl);
    };
    size_t threads =
        std::min<size_t>(n, static_cast<size_t>(options_.max_concurrency));
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    if (threads > 0) worker();
    for (std::thread& t : pool) t.join();
    return absl::OkStatus();
  }

  // One HTTP exchange (no retries). A transport fault is reported as
  // status 0 with a message in `error`.
  HttpResponse Exchange(CURL* curl, const std::string& method,
                        const std::string& url, const std::string& body,
                        CURLcode* code, std::string* error) {
    HttpResponse response;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout_s * 1000));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(options_.timeout_s * 1000));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
    struct curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    std::string auth;
    if (!api_key_.empty()) {
      auth = "Authorization: Bearer " + api_key_;
      headers = curl_slist_append(headers, auth.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(body.size()));
    }
    *code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (*code != CURLE_OK) {
      *error = curl_easy_strerror(*code);
      response.status = 0;
      return response;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }

  double BackoffSeconds(int attempt, double retry_after_s) {
    double base = std::min(options_.backoff_max_s,
                           options_.backoff_initial_s * std::pow(2.0, attempt));
    double jitter;
    {
      std::lock_guard<std::mutex> lock(rng_mu_);
      jitter = std::uniform_real_distribution<double>(0.5, 1.0)(rng_);
    }
    double delay = base * jitter;
    if (retry_after_s >= 0)
      delay = std::max(delay, std::min(retry_after_s, options_.backoff_max_s));
    return delay;
  }

  // Sleeps `seconds` unless the call is cancelled first; false if cancelled.
  static bool SleepUnlessCancelled(double seconds, const CallOptions& options) {
    auto until = std::chrono::steady_clock::now() +
                 std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (IsCancelled(options)) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return !IsCancelled(options);
  }

  // Sends one request with retries and parses the JSON reply.
  absl::StatusOr<Json> Call(CURL* curl, const std::string& method,
                            const std::string& path, const std::string& body,
                            const CallOptions& options) {
    const std::string url = options_.endpoint + path;
    for (int attempt = 0;; ++attempt) {
      CURLcode code = CURLE_OK;
      std::string error;
      HttpResponse r = Exchange(curl, method, url, body, &code, &error);
      bool transient;
      std::string what;
      if (r.status == 0) {
        if (code == CURLE_OPERATION_TIMEDOUT) {
          return absl::DeadlineExceededError(
              absl::StrCat("openai runner: ", method, " ", url,
                           " timed out after ", options_.timeout_s, " s"));
        }
        transient = code == CURLE_COULDNT_CONNECT || code == CURLE_RECV_ERROR ||
                    code == CURLE_SEND_ERROR || code == CURLE_GOT_NOTHING ||
                    code == CURLE_PARTIAL_FILE;
        what = absl::StrCat("transport error: ", error);
      } else if (r.status >= 200 && r.status < 300) {
        absl::StatusOr<Json> json = base::ParseJson(r.body);
        if (!json.ok()) {
          return absl::DataLossError(absl::StrCat(
              "openai runner: ", method, " ", url, " returned invalid JSON (",
              json.status().message(), "): ", Excerpt(r.body)));
        }
        return json;
      } else {
        transient = r.status == 429 || r.status >= 500;
        what = absl::StrCat("HTTP ", r.status, ": ", Excerpt(r.body));
      }
      if (!transient || attempt >= options_.max_retries) {
        std::string message =
            absl::StrCat("openai runner: ", method, " ", url, " failed after ",
                         attempt + 1, " attempt(s): ", what);
        if (r.status == 429) return absl::ResourceExhaustedError(message);
        if (r.status == 0 || r.status >= 500)
          return absl::UnavailableError(message);
        if (r.status == 401 || r.status == 403)
          return absl::PermissionDeniedError(message);
        if (r.status == 404) return absl::NotFoundError(message);
        return absl::InvalidArgumentError(message);
      }
      {
        std::lock_guard<std::mutex> lock(stats_mu_);
        ++retries_;
      }
      if (!SleepUnlessCancelled(BackoffSeconds(attempt, r.retry_after_s),
                                options)) {
        return absl::CancelledError("call cancelled");
      }
    }
  }

  // The number of tokens the endpoint encodes `prompt` to (its BOS, if it
  // adds one, included), from an echo of the prompt alone.
  absl::StatusOr<size_t> CountPromptTokens(CURL* curl,
                                           const std::string& prompt,
                                           const CallOptions& options) {
    Json body = Json::MakeObject();
    body.Set("model", Json::String(options_.model));
    body.Set("prompt", Json::String(prompt));
    body.Set("echo", Json::Bool(true));
    body.Set("max_tokens", Json::Int(0));
    body.Set("logprobs", Json::Int(0));
    body.Set("temperature", Json::Int(0));
    ASSIGN_OR_RETURN(Json reply,
                     Call(curl, "POST", "/completions", body.Dump(), options));
    const Json* choices = reply.Find("choices");
    const Json* logprobs =
        choices != nullptr && choices->is_array() && !choices->array().empty()
            ? choices->array()[0].Find("logprobs")
            : nullptr;
    const Json* tokens = logprobs != nullptr && logprobs->is_object()
                             ? logprobs->Find("token_logprobs")
                             : nullptr;
    if (tokens == nullptr || !tokens->is_array()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "openai runner: endpoint ", options_.endpoint,
          " did not echo the tokens of a context (echo with logprobs): ",
          Excerpt(reply.Dump())));
    }
    return tokens->array().size();
  }

  absl::StatusOr<LoglikelihoodResult> ScoreOne(
      CURL* curl, const LoglikelihoodRequest& request,
      const CallOptions& options) {
    // lm-eval: the context's trailing whitespace belongs to the continuation.
    const auto [context, continuation] =
        SplitContextContinuation(request.context, request.continuation);

    Json body = Json::MakeObject();
    body.Set("model", Json::String(options_.model));
    body.Set("prompt", Json::String(context + continuation));
    body.Set("echo", Json::Bool(true));
    body.Set("max_tokens", Json::Int(0));
    body.Set("logprobs", Json::Int(1));
    body.Set("temperature", Json::Int(0));
    ASSIGN_OR_RETURN(Json reply,
                     Call(curl, "POST", "/completions", body.Dump(), options));

    auto no_logprobs = [&](absl::string_view why) {
      return absl::FailedPreconditionError(absl::StrCat(
          "openai runner: endpoint ", options_.endpoint,
          " cannot give prompt log-probabilities (echo with logprobs): ", why));
    };
    const Json* choices = reply.Find("choices");
    if (choices == nullptr || !choices->is_array() ||
        choices->array().empty()) {
      return absl::DataLossError(absl::StrCat(
          "openai runner: ", options_.endpoint,
          "/completions reply has no choices: ", Excerpt(reply.Dump())));
    }
    const Json* logprobs = choices->array()[0].Find("logprobs");
    if (logprobs == nullptr || logprobs->is_null())
      return no_logprobs("logprobs is null");
    const Json* tokens = logprobs->Find("tokens");
    const Json* token_logprobs = logprobs->Find("token_logprobs");
    const Json* offsets = logprobs->Find("text_offset");
    const Json* top = logprobs->Find("top_logprobs");
    if (tokens == nullptr || token_logprobs == nullptr || offsets == nullptr ||
        !tokens->is_array() || !token_logprobs->is_array() ||
        !offsets->is_array() ||
        offsets->array().size() != token_logprobs->array().size()) {
      return no_logprobs(
          "tokens/token_logprobs/text_offset missing or of unequal length");
    }
    const size_t n = offsets->array().size();
    // lm-eval's split: the context's tokens are those the context alone
    // encodes to. The offsets give it where they are exact (ASCII); else the
    // endpoint tokenizes the context alone (one more echo), which holds
    // whether it counts offsets in characters or bytes and whatever it makes
    // of a token that carries part of a character.
    std::optional<size_t> first;
    if (context.empty()) {
      first = 0;
    } else if (IsAscii(context) && IsAscii(continuation)) {
      first =
          FirstContinuationTokenByOffset(*tokens, *offsets, context.size(),
                                         context.size() + continuation.size());
    }
    if (!first.has_value()) {
      absl::StatusOr<size_t> context_tokens =
          CountPromptTokens(curl, context, options);
      if (!context_tokens.ok()) return context_tokens.status();
      first = std::min(*context_tokens, n);
    }
    if (*first >= n)
      return no_logprobs("echoed tokens do not cover the continuation");

    LoglikelihoodResult result;
    result.context_tokens = static_cast<int>(*first);
    result.is_greedy = true;
    for (size_t i = *first; i < n; ++i) {
      const Json& lp = token_logprobs->array()[i];
      if (!lp.is_number()) {
        if (i == 0 && context.empty()) {
          // The first prompt token has no log-probability; with an empty
          // context the endpoint's BOS (if any) is skipped.
          result.context_tokens = 1;
          continue;
        }
        return no_logprobs(absl::StrCat("token_logprobs[", i, "] is null"));
      }
      result.logprob += lp.number_value();
      const Json* alternatives =
          top != nullptr && top->is_array() && i < top->array().size()
              ? &top->array()[i]
              : nullptr;
      if (alternatives == nullptr || !alternatives->is_object()) {
        return no_logprobs(absl::StrCat("top_logprobs[", i, "] is missing"));
      }
      for (const auto& [token, value] : alternatives->object()) {
        if (value.is_number() &&
            value.number_value() > lp.number_value() + 1e-6) {
          result.is_greedy = false;
        }
      }
    }
    if (result.context_tokens == static_cast<int>(n)) {
      return no_logprobs("no continuation token has a log-probability");
    }
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.prompt_tokens += static_cast<int64_t>(n);
    return result;
  }

  absl::StatusOr<GenerateResult> GenerateOne(CURL* curl,
                                             const GenerateRequest& request,
                                             const CallOptions& options) {
    Json body = Json::MakeObject();
    body.Set("model", Json::String(options_.model));
    const bool chat = !request.messages.empty();
    std::string path = "/completions";
    if (chat) {
      Json messages = Json::MakeArray();
      for (const ChatMessage& m : request.messages) {
        messages.Push(Json::MakeObject({{"role", Json::String(m.role)},
                                        {"content", Json::String(m.content)}}));
      }
      body.Set("messages", std::move(messages));
      path = "/chat/completions";
    } else {
      body.Set("prompt", Json::String(request.prompt));
    }
    body.Set("max_tokens", Json::Int(request.max_new_tokens));
    body.Set("temperature", Json::Double(request.sampling.temperature));
    if (request.sampling.top_p < 1.0)
      body.Set("top_p", Json::Double(request.sampling.top_p));
    if (request.sampling.top_k > 0)
      body.Set("top_k", Json::Int(request.sampling.top_k));
    if (request.sampling.temperature > 0) {
      body.Set("seed", Json::Int(static_cast<int64_t>(request.sampling.seed &
                                                      0x7fffffffffffffff)));
    }
    if (!request.stop.empty()) {
      Json stop = Json::MakeArray();
      for (const std::string& s : request.stop) stop.Push(Json::String(s));
      body.Set("stop", std::move(stop));
    }
    auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(Json reply,
                     Call(curl, "POST", path, body.Dump(), options));
    const Json* choices = reply.Find("choices");
    if (choices == nullptr || !choices->is_array() ||
        choices->array().empty()) {
      return absl::DataLossError(
          absl::StrCat("openai runner: ", options_.endpoint, path,
                       " reply has no choices: ", Excerpt(reply.Dump())));
    }
    const Json& choice = choices->array()[0];
    const Json* text = nullptr;
    if (chat) {
      const Json* message = choice.Find("message");
      if (message != nullptr) text = message->Find("content");
    } else {
      text = choice.Find("text");
    }
    if (text == nullptr || !text->is_string()) {
      return absl::DataLossError(
          absl::StrCat("openai runner: ", options_.endpoint, path,
                       " reply has no text: ", Excerpt(reply.Dump())));
    }
    GenerateResult result;
    result.text = text->string_value();
    const Json* finish = choice.Find("finish_reason");
    result.finish_reason = finish != nullptr && finish->is_string() &&
                                   finish->string_value() == "stop"
                               ? FinishReason::kStop
                               : FinishReason::kLength;
    // Servers cut at stop strings already; cut again for those that do not.
    if (CutAtStop(request.stop, &result.text))
      result.finish_reason = FinishReason::kStop;
    int64_t completion_tokens = 0;
    if (const Json* usage = reply.Find("usage"); usage != nullptr) {
      const Json* p = usage->Find("prompt_tokens");
      const Json* c = usage->Find("completion_tokens");
      if (p != nullptr && p->is_int())
        result.prompt_tokens = static_cast<int>(p->int_value());
      if (c != nullptr && c->is_int()) completion_tokens = c->int_value();
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.prompt_tokens += result.prompt_tokens;
    stats_.generated_tokens += completion_tokens;
    stats_.busy_seconds += seconds;
    return result;
  }

  OpenAiRunnerOptions options_;
  std::string api_key_;
  int max_context_ = 0;
  mutable std::mutex stats_mu_;
  RunnerStats stats_;
  int64_t retries_ = 0;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Runner>> CreateOpenAiRunner(
    const OpenAiRunnerOptions& options) {
  GlobalCurlInit();
  auto runner = std::make_unique<OpenAiRunner>(options);
  RETURN_IF_ERROR(runner->Init());
  return std::unique_ptr<Runner>(std::move(runner));
}

}  // namespace evald::runners::openai
