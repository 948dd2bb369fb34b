// File: daemon/cli/prompt_cmd.cc
// -----------------------------------------------------------------------------
// `evalctl prompt TASK --data PATH [--shots N] [--variant V] [--system TEXT]
//  --doc ID|all [--json]`: prints exactly what a task sends for a document
// (context, continuations or stop strings, target), offline.
#include <iostream>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "tasks/task.h"

namespace evald::cli {
namespace {

using base::Json;

// The dataset folder a task reads by default (`evalctl datasets fetch`).
Json StringArray(const std::vector<std::string>& values) {
  Json out = Json::MakeArray();
  for (const std::string& v : values) out.Push(Json::String(v));
  return out;
}

int Usage(CommandContext& context, const std::string& message) {
  context.err << "evalctl prompt: " << message << "\n"
              << "usage: evalctl prompt TASK --data PATH [--shots N] [--variant V] [--system TEXT] "
                 "--doc ID|all [--json]\n";
  return kExitInvalidInput;
}

int PromptCommand(CommandContext& context) {
  std::string task_name;
  std::string doc;
  bool json = context.global.json;
  tasks::TaskOptions options;
  std::string data_dir = context.global.data_dir;
  const std::vector<std::string>& args = context.args;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--json") {
      json = true;
    } else if (a == "--data-dir") {
      if (!value(&data_dir)) return Usage(context, "--data-dir needs a value");
    } else if (a == "--data") {
      if (!value(&options.data_path)) return Usage(context, "--data needs a value");
    } else if (a == "--doc") {
      if (!value(&doc)) return Usage(context, "--doc needs a value");
    } else if (a == "--variant") {
      if (!value(&options.variant)) return Usage(context, "--variant needs a value");
    } else if (a == "--system") {
      if (!value(&options.system_instruction)) return Usage(context, "--system needs a value");
    } else if (a == "--shots") {
      if (!value(&v) || !absl::SimpleAtoi(v, &options.shots) || options.shots < 0) {
        return Usage(context, "--shots needs a non-negative integer");
      }
    } else if (a.rfind("--", 0) == 0) {
      return Usage(context, absl::StrCat("unknown flag ", a));
    } else if (task_name.empty()) {
      task_name = a;
    } else {
      return Usage(context, absl::StrCat("unexpected argument ", a));
    }
  }
  if (task_name.empty()) return Usage(context, "missing TASK");
  if (doc.empty()) return Usage(context, "missing --doc ID|all");
  if (options.data_path.empty()) options.data_path = DefaultDatasetPath(task_name, data_dir);

  auto task = tasks::CreateTask(task_name, options);
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
      context.err << "evalctl prompt: " << task_name << " has no document \"" << doc << "\" ("
                  << ids.size() << " documents"
                  << (ids.empty() ? "" : absl::StrCat(", e.g. \"", ids.front(), "\"")) << ")\n";
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
      if (!view->continuations.empty()) out.Set("continuations", StringArray(view->continuations));
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
        context.out << "continuations: " << StringArray(view->continuations).Dump() << "\n";
      }
      context.out << "target: " << Json::String(view->target).Dump() << "\n";
      if (view->max_new_tokens > 0) {
        context.out << "stop: " << StringArray(view->stop).Dump() << "\nmax_new_tokens: " << view->max_new_tokens
                    << "\n";
      }
    }
  }
  return kExitOk;
}

const bool kRegistered = RegisterCommand(
    {"prompt", "prompt TASK --data PATH [--shots N] [--variant V] --doc ID|all [--json]",
     "print the exact prompt a task builds for a document (offline)", PromptCommand});

}  // namespace
}  // namespace evald::cli
