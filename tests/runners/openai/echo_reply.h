// File: tests/runners/openai/echo_reply.h
// -----------------------------------------------------------------------------
// What the OpenAI runner tests share: the body of an echo completion
// (`/v1/completions` with echo and logprobs) as a loopback server sends it,
// and a loglikelihood call that collects every result.
#ifndef EVALD_TESTS_RUNNERS_OPENAI_ECHO_REPLY_H_
#define EVALD_TESTS_RUNNERS_OPENAI_ECHO_REPLY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "base/json.h"
#include "runners/runner.h"

namespace evald::testing {

// {"choices": [{"text": prompt, "logprobs": {tokens, token_logprobs,
// top_logprobs, text_offset}}]}, each list one entry per echoed token.
inline std::string EchoCompletionBody(const std::string& prompt,
                                      base::Json tokens,
                                      base::Json token_logprobs,
                                      base::Json top_logprobs,
                                      base::Json text_offset) {
  base::Json logprobs = base::Json::MakeObject();
  logprobs.Set("tokens", std::move(tokens));
  logprobs.Set("token_logprobs", std::move(token_logprobs));
  logprobs.Set("top_logprobs", std::move(top_logprobs));
  logprobs.Set("text_offset", std::move(text_offset));
  base::Json choice = base::Json::MakeObject();
  choice.Set("text", base::Json::String(prompt));
  choice.Set("logprobs", std::move(logprobs));
  base::Json choices = base::Json::MakeArray();
  choices.Push(std::move(choice));
  base::Json reply = base::Json::MakeObject();
  reply.Set("choices", std::move(choices));
  return reply.Dump();
}

// Runs `reqs` through `runner` in one call; every request's result, in order.
inline std::vector<absl::StatusOr<runners::LoglikelihoodResult>> ScoreAll(
    runners::Runner& runner,
    const std::vector<runners::LoglikelihoodRequest>& reqs) {
  std::vector<absl::StatusOr<runners::LoglikelihoodResult>> out(
      reqs.size(), absl::UnknownError("missing"));
  const absl::Status call = runner.Loglikelihood(
      reqs, runners::CallOptions(),
      [&](size_t i, absl::StatusOr<runners::LoglikelihoodResult> r) {
        out[i] = std::move(r);
      });
  if (!call.ok()) {
    for (auto& r : out) r = call;
  }
  return out;
}

}  // namespace evald::testing

#endif  // EVALD_TESTS_RUNNERS_OPENAI_ECHO_REPLY_H_
