// File: daemon/cli/prompt_cmd.cc
// -----------------------------------------------------------------------------
// `evalctl prompt TASK --data PATH [--shots N] [--variant V] [--system TEXT]
//  --doc ID|all [--json]`: prints exactly what a task sends for a document
// (context, continuations or stop strings, target), offline. TASK may be an
// lm-eval task YAML file or folder (`--name` picks its task). With --json:
// one JSON object per document, one per line.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/offline_task.h"
#include "tasks/task.h"

namespace evald::daemon::cli {
namespace {

using base::Json;

Json StringArray(const std::vector<std::string>& values) {
  Json out = Json::MakeArray();
  for (const std::string& v : values) out.Push(Json::String(v));
  return out;
}

struct PromptFlags {
  std::string task;
  std::string name;
  std::string data;
  std::string doc;
  std::string shots;
  std::string variant;
  std::string system;
};

int PromptCommand(CommandContext& context, const PromptFlags& flags) {
  std::string task_name = flags.task;
  const std::string& doc = flags.doc;
  const bool json = context.global.json;
  auto task = CreateOfflineTask({.task = flags.task,
                                 .name = flags.name,
                                 .data = flags.data,
                                 .shots = flags.shots,
                                 .variant = flags.variant,
                                 .system = flags.system},
                                context.global, &task_name);
  if (!task.ok()) {
    context.err << "evalctl prompt: " << task.status().message() << "\n";
    return kExitInvalidInput;
  }
  const std::vector<std::string> ids = (*task)->DocIds();
  std::vector<size_t> indices;
  if (doc == "all") {
    for (size_t i = 0; i < ids.size(); ++i) indices.push_back(i);
  } else {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] == doc) indices.push_back(i);
    }
    if (indices.empty()) {
      context.err << "evalctl prompt: " << task_name << " has no document \""
                  << doc << "\" (" << ids.size() << " documents"
                  << (ids.empty()
                          ? ""
                          : absl::StrCat(", e.g. \"", ids.front(), "\""))
                  << ")\n";
      return kExitInvalidInput;
    }
  }
  for (size_t index : indices) {
    auto view = (*task)->BuildPrompt(index);
    if (!view.ok()) {
      context.err << "evalctl prompt: " << view.status().message() << "\n";
      return kExitRunFailed;
    }
    if (json) {
      Json out = Json::MakeObject();
      out.Set("task", Json::String(task_name));
      out.Set("doc", Json::String(view->doc_id));
      out.Set("context", Json::String(view->context));
      if (!view->continuations.empty())
        out.Set("continuations", StringArray(view->continuations));
      out.Set("target", Json::String(view->target));
      if (view->max_new_tokens > 0) {
        out.Set("stop", StringArray(view->stop));
        out.Set("max_new_tokens", Json::Int(view->max_new_tokens));
      }
      context.out << out.Dump() << "\n";
    } else {
      // The context is printed verbatim between marker lines so trailing
      // whitespace and newlines stay visible by position.
      context.out << "=== " << task_name << " doc " << view->doc_id << " ===\n"
                  << view->context << "\n=== end of context ===\n";
      if (!view->continuations.empty()) {
        context.out << "continuations: "
                    << StringArray(view->continuations).Dump() << "\n";
      }
      context.out << "target: " << Json::String(view->target).Dump() << "\n";
      if (view->max_new_tokens > 0) {
        context.out << "stop: " << StringArray(view->stop).Dump()
                    << "\nmax_new_tokens: " << view->max_new_tokens << "\n";
      }
    }
  }
  return kExitOk;
}

const bool kRegistered = RegisterCommand({
    .name = "prompt",
    .summary = "print the exact prompt a task builds for a document (offline)",
    .example = "evalctl prompt gsm8k_cot --doc 1 --shots 0 --json",
    .setup = [](CLI::App& command) -> CommandFn {
      auto flags = std::make_shared<PromptFlags>();
      command
          .add_option("TASK", flags->task,
                      "the task (mmlu, gsm8k, gsm8k_cot, ifeval, ...), or an "
                      "lm-eval task YAML file or folder")
          ->required();
      command
          .add_option("--name", flags->name,
                      "with a task file: the task, group or tag of it "
                      "(default: the one it is about)")
          ->type_name("NAME");
      command.add_option("--doc", flags->doc, "the document's id, or all")
          ->type_name("ID|all")
          ->required();
      command
          .add_option(
              "--data", flags->data,
              "the task's dataset (default: DATA_DIR/datasets/<dataset>, as "
              "`datasets fetch` stores it)")
          ->type_name("PATH");
      command
          .add_option("--shots", flags->shots,
                      "few-shot examples (default: the task's)")
          ->type_name("N");
      command
          .add_option("--variant", flags->variant, "the task's prompt variant")
          ->type_name("V");
      command
          .add_option("--system", flags->system,
                      "a system instruction before the prompt")
          ->type_name("TEXT");
      return [flags](CommandContext& context) {
        return PromptCommand(context, *flags);
      };
    },
});

}  // namespace
}  // namespace evald::daemon::cli
