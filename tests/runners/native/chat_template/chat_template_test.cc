// Hugging Face's chat-template variables reach the template.
#include "runners/native/chat_template/chat_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "base/clock.h"
#include "base/json.h"
#include "tests/testing/status_matchers.h"

namespace evald::runners::native::chat_template {
namespace {

TEST(ChatTemplateTest, PassesHuggingFaceVariables) {
  const std::string tmpl =
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% "
      "if m.tool_calls is defined %}"
      "{{ m.tool_calls|tojson }}{% endif %}{{ eos_token }}{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}{{ tools is none "
      "}}{{ documents is none }}{{ extra }}"
      "|{{ strftime_now('%d %b %Y %H:%M') }}";
  ChatTemplateInputs inputs;
  inputs.messages = *base::ParseJson(
      R"([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "", "tool_calls": [{"name": "f"}]}])");
  inputs.add_generation_prompt = true;
  inputs.bos_token = "<s>";
  inputs.eos_token = "</s>";
  inputs.extra_context.Set("extra", base::Json::Int(7));
  base::FakeClock clock(1'721'995'200'000'000'000);  // 2024-07-26 12:00:00 UTC
  inputs.clock = &clock;
  EXPECT_THAT(RenderChatTemplate(tmpl, inputs),
              ::evald::testing::IsOkAndHolds(
                  "<s><user>hi</s><assistant>[{\"name\": "
                  "\"f\"}]</s><assistant>TrueTrue7|26 Jul 2024 12:00"));
  inputs.tools = *base::ParseJson(R"([{"type": "function"}])");
  EXPECT_THAT(
      RenderChatTemplate("{{ tools is none }}{{ tools[0].type }}", inputs),
      ::evald::testing::IsOkAndHolds("Falsefunction"));
}

}  // namespace
}  // namespace evald::runners::native::chat_template
