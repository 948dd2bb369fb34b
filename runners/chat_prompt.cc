#include "runners/chat_prompt.h"

#include <utility>

#include "base/json.h"

namespace evald::runners {

absl::StatusOr<ChatPrompt> PrepareChat(const Runner& runner,
                                       std::vector<ChatMessage> messages,
                                       SystemTurnFallback fallback) {
  absl::StatusOr<std::string> rendered =
      runner.ApplyChatTemplate(messages, /*add_generation_prompt=*/true);
  if (rendered.ok())
    return ChatPrompt{std::move(messages), *std::move(rendered)};
  if (absl::IsUnimplemented(rendered.status())) {
    std::string text = MessagesAsJson(messages);
    return ChatPrompt{std::move(messages), std::move(text)};
  }
  std::string system;
  std::vector<ChatMessage> others;
  for (ChatMessage& m : messages) {
    if (m.role == "system") {
      system += m.content;
    } else {
      others.push_back(m);
    }
  }
  if (others.size() == messages.size()) return rendered.status();
  if (fallback == SystemTurnFallback::kMergeIntoUser) {
    for (ChatMessage& m : others) {
      if (m.role != "user") continue;
      m.content = system + "\n\n" + m.content;
      break;
    }
  }
  absl::StatusOr<std::string> retried =
      runner.ApplyChatTemplate(others, /*add_generation_prompt=*/true);
  if (!retried.ok()) return rendered.status();
  return ChatPrompt{std::move(others), *std::move(retried)};
}

absl::StatusOr<std::string> RenderedPrompt(const Runner& runner,
                                           const GenerateRequest& request) {
  if (request.messages.empty()) return request.prompt;
  return runner.ApplyChatTemplate(request.messages,
                                  /*add_generation_prompt=*/true);
}

std::string MessagesAsJson(absl::Span<const ChatMessage> messages) {
  base::Json list = base::Json::MakeArray();
  for (const ChatMessage& m : messages) {
    list.Push(
        base::Json::MakeObject({{"role", base::Json::String(m.role)},
                                {"content", base::Json::String(m.content)}}));
  }
  return list.Dump();
}

}  // namespace evald::runners
