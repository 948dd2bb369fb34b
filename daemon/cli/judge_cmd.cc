// File: daemon/cli/judge_cmd.cc
// -----------------------------------------------------------------------------
// `evalctl judge template NAME`: prints a built-in judge template (single,
// pairwise, reference) as the YAML file it ships as, to copy and edit; a
// judged task reads the copy with `options: {template: my.yaml}`. Offline.
#include <string>

#include "absl/status/status.h"
#include "daemon/cli/command.h"
#include "judge/judge.h"

namespace evald::cli {
namespace {

int JudgeCommand(CommandContext& context) {
  if (context.args.size() != 2 || context.args[0] != "template") {
    context.err << "evalctl judge: usage: evalctl judge template single|pairwise|reference\n";
    return kExitInvalidInput;
  }
  absl::StatusOr<std::string> text = judge::BuiltinTemplateText(context.args[1]);
  if (!text.ok()) {
    context.err << "evalctl judge: " << text.status().message() << "\n";
    return kExitInvalidInput;
  }
  context.out << *text;
  return kExitOk;
}

const bool kRegistered = RegisterCommand(
    {"judge", "judge template single|pairwise|reference",
     "print a built-in judge template (YAML) to copy and edit", JudgeCommand});

}  // namespace
}  // namespace evald::cli
