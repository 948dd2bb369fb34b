// File: runners/openai/openai_runner.h
// -----------------------------------------------------------------------------
// A Runner that serves requests from an OpenAI-compatible HTTP endpoint
// (vLLM, llama.cpp server, evald --http-listen, ...).
//
//   Loglikelihood -> POST {endpoint}/completions with echo=true, max_tokens=0,
//     logprobs=1 and prompt = context + continuation as text (after the
//     lm-eval move of the context's trailing whitespace to the
//     continuation). The remote tokenizer is unknown, so the context's
//     tokens are counted by the endpoint: from `text_offset` for ASCII text
//     (the tokens before the context's end), else by one more echo of the
//     context alone. is_greedy comes from top_logprobs.
//     continuation_token_ids stays empty (the endpoint returns token text).
//   Generate -> POST {endpoint}/completions with the prompt text, or POST
//     {endpoint}/chat/completions with GenerateRequest::messages.
//   ApplyChatTemplate -> Unimplemented: an endpoint applies its own template
//     to the messages, so a chat-templated suite generates unchanged, and a
//     chat-templated context cannot be scored.
//   max_context -> `max_model_len` of the model's entry in GET
//     {endpoint}/models, else options.max_context.
//
// Transport: at most max_concurrency requests in flight per runner; each
// request is retried on HTTP 429, 5xx and connection faults with exponential
// backoff and jitter drawn from a seeded generator, honouring Retry-After.
// The API key is read from the environment variable named by api_key_env
// once at creation and never logged.
//
// Thread-safety: thread-safe, as every Runner.
#ifndef EVALD_RUNNERS_OPENAI_OPENAI_RUNNER_H_
#define EVALD_RUNNERS_OPENAI_OPENAI_RUNNER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runners/runner.h"

namespace evald::runners::openai {

struct OpenAiRunnerOptions {
  std::string endpoint;     // base URL, e.g. "http://host:8000/v1"
  std::string model;        // model name sent in every request
  std::string api_key_env;  // env var holding the key; empty = no auth
  int max_concurrency = 8;  // requests in flight
  double connect_timeout_s = 10;
  double timeout_s = 600;  // whole request, per attempt
  int max_retries = 5;     // retries after the first attempt
  double backoff_initial_s = 0.5;
  double backoff_max_s = 30;
  uint64_t seed = 0;    // jitter source
  int max_context = 0;  // used when /models lists no max_model_len
};

// Contacts GET {endpoint}/models to learn max_context; fails when the
// endpoint is unreachable or neither it nor the options give a context size.
absl::StatusOr<std::unique_ptr<Runner>> CreateOpenAiRunner(
    const OpenAiRunnerOptions& options);

}  // namespace evald::runners::openai

#endif  // EVALD_RUNNERS_OPENAI_OPENAI_RUNNER_H_
