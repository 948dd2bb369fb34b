#include "runners/native/chat_template/chat_template.h"

#include <utility>

#include "absl/status/status.h"
#include "base/status_macros.h"

namespace evald::runners::native::chat_template {

absl::StatusOr<std::string> RenderChatTemplate(
    const Template& tmpl, const ChatTemplateInputs& inputs) {
  if (!inputs.messages.is_array())
    return absl::InvalidArgumentError(
        "chat template: messages must be a JSON array");
  if (!inputs.extra_context.is_object()) {
    return absl::InvalidArgumentError(
        "chat template: extra context must be a JSON object");
  }
  base::Json context = base::Json::MakeObject();
  context.Set("messages", inputs.messages);
  context.Set("tools",
              inputs.tools.has_value() ? *inputs.tools : base::Json::Null());
  context.Set("documents", inputs.documents.has_value() ? *inputs.documents
                                                        : base::Json::Null());
  context.Set("add_generation_prompt",
              base::Json::Bool(inputs.add_generation_prompt));
  context.Set("bos_token", base::Json::String(inputs.bos_token));
  context.Set("eos_token", base::Json::String(inputs.eos_token));
  for (const auto& [key, value] : inputs.extra_context.object())
    context.Set(key, value);
  RenderOptions options = inputs.limits;
  options.clock = inputs.clock != nullptr ? inputs.clock : base::Clock::Real();
  return tmpl.Render(context, options);
}

absl::StatusOr<std::string> RenderChatTemplate(
    absl::string_view tmpl, const ChatTemplateInputs& inputs) {
  ASSIGN_OR_RETURN(Template parsed, Template::Parse(tmpl));
  return RenderChatTemplate(parsed, inputs);
}

}  // namespace evald::runners::native::chat_template
