// File: runners/native/chat_template/chat_template.h
// -----------------------------------------------------------------------------
// Renders a model's Jinja `chat_template` (from tokenizer_config.json) the way
// Hugging Face's `apply_chat_template(..., tokenize=False)` does: the template
// sees `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `tools`
// and `documents` (none when not given), `strftime_now` and
// `raise_exception`, plus any extra variables.
//
// Thread-safety: RenderChatTemplate is a pure function of its arguments (the
// clock is only read).
#ifndef EVALD_RUNNERS_NATIVE_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
#define EVALD_RUNNERS_NATIVE_CHAT_TEMPLATE_CHAT_TEMPLATE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "base/json.h"
#include "jinja/template.h"

namespace evald::runners::native::chat_template {

// The Jinja engine lives in jinja/ (task templates share it).
using ::evald::jinja::RenderOptions;
using ::evald::jinja::Template;

struct ChatTemplateInputs {
  // A JSON array of message objects ({"role", "content", ...}); every member
  // (tool_calls, reasoning_content, ...) reaches the template unchanged.
  base::Json messages = base::Json::MakeArray();
  // Ends the prompt with the header of an assistant turn.
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  // JSON array of tool schemas; absent means `tools` is none.
  std::optional<base::Json> tools;
  // JSON array of RAG documents; absent means `documents` is none.
  std::optional<base::Json> documents;
  // A JSON object of further template variables (enable_thinking,
  // date_string, ...); they override the fields above.
  base::Json extra_context = base::Json::MakeObject();
  // Time source for strftime_now; nullptr means the real clock. Borrowed.
  const base::Clock* clock = nullptr;
  // Resource bounds for hostile templates.
  RenderOptions limits;
};

// Parses and renders `tmpl`. Errors are InvalidArgument naming the line and
// column (syntax errors, raise_exception, bad input shapes).
absl::StatusOr<std::string> RenderChatTemplate(
    absl::string_view tmpl, const ChatTemplateInputs& inputs);

// Same with a template parsed once (reuse it across requests).
absl::StatusOr<std::string> RenderChatTemplate(
    const Template& tmpl, const ChatTemplateInputs& inputs);

}  // namespace evald::runners::native::chat_template

#endif  // EVALD_RUNNERS_NATIVE_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
