// File: daemon/cli/judge_cmd.cc
// -----------------------------------------------------------------------------
// `evalctl judge template NAME`: prints a built-in judge template (single,
// pairwise, reference) as the YAML file it ships as, to copy and edit; a
// judged task reads the copy with `options: {template: my.yaml}`. Offline.
// With --json it prints {"name": NAME, "template": TEXT}.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/parse.h"
#include "judge/judge.h"

namespace evald::daemon::cli {
namespace {

int JudgeTemplate(CommandContext& context, const std::string& name) {
  absl::StatusOr<std::string> text = judge::BuiltinTemplateText(name);
  if (!text.ok()) {
    context.err << "evalctl judge template: " << text.status().message()
                << "\n";
    return kExitInvalidInput;
  }
  if (context.global.json) {
    base::Json out = base::Json::MakeObject();
    out.Set("name", base::Json::String(name));
    out.Set("template", base::Json::String(*text));
    context.out << out.Dump() << "\n";
    return kExitOk;
  }
  context.out << *text;
  return kExitOk;
}

const bool kRegistered = RegisterCommand({
    .name = "judge",
    .summary = "print a built-in judge template (YAML) to copy and edit",
    .example = "evalctl judge template single > my_judge.yaml",
    .setup = [](CLI::App& command) -> CommandFn {
      command.require_subcommand(1);
      auto name = std::make_shared<std::string>();
      CLI::App* print =
          command.add_subcommand("template", "print a built-in judge template");
      print->add_option("NAME", *name, "the template")
          ->type_name("single|pairwise|reference")
          ->required();
      SetExamples(*print, {"evalctl judge template pairwise"});
      return [name](CommandContext& context) {
        return JudgeTemplate(context, *name);
      };
    },
});

}  // namespace
}  // namespace evald::daemon::cli
