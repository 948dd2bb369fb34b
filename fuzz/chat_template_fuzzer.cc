// Parses and renders arbitrary template text with a fixed message list and
// tight resource bounds: any input must end in output or a Status, never a
// crash, hang or unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "base/json.h"
#include "runners/native/chat_template/chat_template.h"

namespace chat_template = ::evald::runners::native::chat_template;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const evald::base::Json* const kMessages = [] {
    auto json = evald::base::ParseJson(
        R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "héllo <think>x</think>"},
            {"role": "assistant", "content": "hi", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
            {"role": "tool", "content": "{\"r\": [1, 2.5, null]}"}, {"role": "user", "content": ""}])");
    return new evald::base::Json(*json);
  }();
  static evald::base::FakeClock clock;
  chat_template::ChatTemplateInputs inputs;
  inputs.messages = *kMessages;
  inputs.add_generation_prompt = (size & 1) != 0;
  inputs.bos_token = "<s>";
  inputs.eos_token = "</s>";
  inputs.clock = &clock;
  inputs.limits.max_output_bytes = 1 << 20;
  inputs.limits.max_steps = 100'000;
  inputs.limits.max_call_depth = 16;
  auto result = chat_template::RenderChatTemplate(
      absl::string_view(reinterpret_cast<const char*>(data), size), inputs);
  (void)result;
  return 0;
}
