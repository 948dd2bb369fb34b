// File: daemon/openai/openai_server.h
// -----------------------------------------------------------------------------
// The OpenAI-compatible /v1 API over evald's Runners: GET /v1/models,
// POST /v1/completions (legacy logprobs format, echo, token-id prompts — what
// lm-evaluation-harness's local-completions sends) and
// POST /v1/chat/completions. Errors are OpenAI-shaped:
//   {"error": {"message", "type", "param", "code"}} with 400 (field at fault
//   named in `param`), 401, 404 (unknown model), 413, 503 (model loading).
// `stream: true` is answered as server-sent events that carry the text as
// it is generated (see text_stream.h for what is held back and why).
//
// Ownership: borrows nothing; the ModelProvider is shared.
// Thread-safety: Handle() is called concurrently from the HTTP workers.
#ifndef EVALD_DAEMON_OPENAI_OPENAI_SERVER_H_
#define EVALD_DAEMON_OPENAI_OPENAI_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/http/http_server.h"
#include "runners/runner.h"

namespace evald::daemon::openai {

// Where the endpoint finds models by the name clients send as "model".
class ModelProvider {
 public:
  virtual ~ModelProvider() = default;
  // Names that "model" may take (resident and configured models).
  virtual std::vector<std::string> ModelNames() const = 0;
  // The runner for `name`: NotFound when unknown, Unavailable while it is
  // still loading.
  virtual absl::StatusOr<std::shared_ptr<runners::Runner>> Get(
      const std::string& name) = 0;
  // The context window of `name` in tokens, without loading it; 0 when
  // unknown. /v1/models lists it as max_model_len, which clients (evald's
  // OpenAI runner, lm-eval) use to fit prompts.
  virtual int MaxModelLen(const std::string& name) const { return 0; }
};

struct OpenAiServerOptions {
  // When non-empty, requests must carry "Authorization: Bearer <token>".
  // The HTTP server should check it too (HttpServerOptions::bearer_token),
  // before the request is read whole; this is the second line.
  std::string bearer_token;
  int max_logprobs = 20;  // largest accepted top-k
};

// The HTTP server's own error responses (401, 408, 429, ...) in the
// OpenAI shape, for HttpServerOptions::error_body.
base::http::HttpErrorBody OpenAiErrorBody(int status,
                                          absl::string_view message);

class OpenAiHandler {
 public:
  OpenAiHandler(OpenAiServerOptions options,
                std::shared_ptr<ModelProvider> provider)
      : options_(std::move(options)), provider_(std::move(provider)) {}

  void Handle(const base::http::HttpRequest& request,
              base::http::ResponseWriter& writer);

 private:
  OpenAiServerOptions options_;
  std::shared_ptr<ModelProvider> provider_;
};

}  // namespace evald::daemon::openai

#endif  // EVALD_DAEMON_OPENAI_OPENAI_SERVER_H_
