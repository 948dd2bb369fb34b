// File: runners/chat_prompt.h
// -----------------------------------------------------------------------------
// How tasks and the judge turn chat messages into a generation request. The
// messages travel as messages (GenerateRequest::messages): a runner with the
// model's own template renders them, an endpoint applies its own. What is
// kept for people (a sample's prompt) is the rendered text where the runner
// can render it, else the messages as JSON.
//
// Some templates refuse a system turn; the caller says what to do then.
//
// Thread-safety: pure functions over a thread-safe Runner.
#ifndef EVALD_RUNNERS_CHAT_PROMPT_H_
#define EVALD_RUNNERS_CHAT_PROMPT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runners/runner.h"

namespace evald::runners {

struct ChatPrompt {
  std::vector<ChatMessage> messages;  // what to send
  std::string text;                   // what the model sees, for records
};

enum class SystemTurnFallback {
  kDrop,           // leave the system turn out (lm-eval's behaviour for tasks)
  kMergeIntoUser,  // put it first in the user turn (judge instructions)
};

// Renders `messages` (with the generation prompt) to check they fit the
// model's template and to get the text; when the template refuses them and
// they have a system turn, applies `fallback` and tries once more (the first
// error is returned if that fails too). A runner that cannot render
// (Unimplemented: an endpoint) gets the messages unchanged.
absl::StatusOr<ChatPrompt> PrepareChat(const Runner& runner,
                                       std::vector<ChatMessage> messages,
                                       SystemTurnFallback fallback);

// The text a runner with its own chat template feeds for `request`: its
// prompt, or its messages rendered with the generation prompt.
absl::StatusOr<std::string> RenderedPrompt(const Runner& runner,
                                           const GenerateRequest& request);

// The messages as a JSON array of {"role", "content"}.
std::string MessagesAsJson(absl::Span<const ChatMessage> messages);

}  // namespace evald::runners

#endif  // EVALD_RUNNERS_CHAT_PROMPT_H_
