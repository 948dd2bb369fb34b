// File: daemon/cli/score_cmd.cc
// -----------------------------------------------------------------------------
// `evalctl score TASK --data PATH --responses FILE [--json]`: scores
// responses produced elsewhere, offline. FILE is JSONL; each line names its
// document by {"doc": ID} (a doc id as `evalctl prompt` prints it, or the
// line index as a number) or by {"prompt": TEXT} (the exact prompt, as in
// IFEval's official response files), and carries {"response": TEXT}. Rows
// of lm-eval's samples_<task>_<date>.jsonl are read too: {"doc_id": N,
// "resps": [[TEXT]], ...} (generate_until tasks; one row per filter).
// Prints per-document results and the task's aggregates; --json / -o json
// print them as one JSON object ({"task", "samples", "metrics"}), -o yaml
// as YAML.
#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/offline_task.h"
#include "daemon/cli/output.h"
#include "tasks/dataset.h"
#include "tasks/task.h"

namespace evald::daemon::cli {
namespace {

using base::Json;

struct ScoreFlags {
  std::string task;
  std::string name;
  std::string data;
  std::string responses;
  std::string shots;
  std::string variant;
  std::string output;
};

int ScoreCommand(CommandContext& context, const ScoreFlags& flags) {
  std::string task_name = flags.task;
  const std::string& responses_path = flags.responses;
  absl::StatusOr<OutputFormat> format =
      ResolveOutput(context.global.json, flags.output);
  if (!format.ok()) {
    context.err << "evalctl score: " << format.status().message() << "\n";
    return kExitInvalidInput;
  }
  auto task = CreateOfflineTask({.task = flags.task,
                                 .name = flags.name,
                                 .data = flags.data,
                                 .shots = flags.shots,
                                 .variant = flags.variant},
                                context.global, &task_name);
  if (!task.ok()) {
    context.err << "evalctl score: " << task.status().message() << "\n";
    return kExitInvalidInput;
  }
  auto records = tasks::ReadJsonl(responses_path);
  if (!records.ok()) {
    context.err << "evalctl score: " << records.status().message() << "\n";
    return kExitInvalidInput;
  }
  const std::vector<std::string> ids = (*task)->DocIds();
  std::map<std::string, size_t> by_id;
  for (size_t i = 0; i < ids.size(); ++i) by_id[ids[i]] = i;
  std::map<std::string, size_t> by_prompt;  // built on first use
  std::vector<bool> seen(ids.size(), false);
  std::map<size_t, std::string> lm_eval_rows;  // doc -> response scored

  std::vector<tasks::SampleResult> samples;
  for (const tasks::JsonlRecord& record : *records) {
    auto fail = [&](const std::string& message) {
      context.err << "evalctl score: " << responses_path << ":" << record.line
                  << ": " << message << "\n";
      return kExitInvalidInput;
    };
    size_t index = 0;
    std::string response_text;
    const Json* lm_eval_id = record.value.Find("doc_id");
    if (lm_eval_id != nullptr && record.value.Find("resps") != nullptr) {
      // A row of lm-eval's samples_<task>_<date>.jsonl: its doc_id and the
      // first response of the first request (generate_until). lm-eval
      // writes one row per filter; a document's later rows are the same
      // generation.
      if (!lm_eval_id->is_int() || lm_eval_id->int_value() < 0)
        return fail("doc_id: expected a non-negative integer");
      const Json* resps = record.value.Find("resps");
      if (!resps->is_array() || resps->array().empty() ||
          !resps->array()[0].is_array() || resps->array()[0].array().empty() ||
          !resps->array()[0].array()[0].is_string()) {
        return fail(
            "resps: expected [[TEXT]] (a generate_until row of lm-eval's "
            "samples file)");
      }
      response_text = resps->array()[0].array()[0].string_value();
      const std::string id = absl::StrCat(lm_eval_id->int_value());
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        return fail(absl::StrCat("doc_id: ", task_name, " has no document \"",
                                 id, "\""));
      }
      index = it->second;
      if (seen[index]) {
        auto first = lm_eval_rows.find(index);
        if (first != lm_eval_rows.end() && first->second == response_text)
          continue;  // the same document's row for another filter
        return fail(absl::StrCat("doc_id: ", ids[index],
                                 " is scored twice with different responses"));
      }
      lm_eval_rows[index] = response_text;
    } else if (const Json* response = record.value.Find("response");
               response == nullptr || !response->is_string()) {
      return fail("response: missing or not a string");
    } else {
      response_text = response->string_value();
    }
    if (lm_eval_id != nullptr && record.value.Find("resps") != nullptr) {
      // Found above.
    } else if (const Json* doc = record.value.Find("doc"); doc != nullptr) {
      std::string id;
      if (doc->is_string()) {
        id = doc->string_value();
      } else if (doc->is_int()) {
        id = absl::StrCat(doc->int_value());
      } else {
        return fail("doc: expected a string or an integer");
      }
      auto it = by_id.find(id);
      if (it == by_id.end())
        return fail(
            absl::StrCat("doc: ", task_name, " has no document \"", id, "\""));
      index = it->second;
    } else if (const Json* prompt = record.value.Find("prompt");
               prompt != nullptr && prompt->is_string()) {
      if (by_prompt.empty()) {
        for (size_t i = 0; i < ids.size(); ++i) {
          auto view = (*task)->BuildPrompt(i);
          if (view.ok()) by_prompt.emplace(view->context, i);
        }
      }
      auto it = by_prompt.find(prompt->string_value());
      if (it == by_prompt.end())
        return fail("prompt: matches no document of the dataset");
      index = it->second;
    } else {
      return fail("expected a \"doc\" or a \"prompt\" field");
    }
    if (seen[index])
      return fail(absl::StrCat("doc: ", ids[index], " is scored twice"));
    seen[index] = true;
    auto sample = (*task)->ScoreResponse(index, response_text);
    if (!sample.ok()) return fail(std::string(sample.status().message()));
    samples.push_back(*std::move(sample));
  }
  const std::vector<tasks::MetricResult> metrics = (*task)->Aggregate(samples);

  if (*format != OutputFormat::kTable) {
    Json out = Json::MakeObject();
    out.Set("task", Json::String(task_name));
    Json samples_json = Json::MakeArray();
    for (const tasks::SampleResult& s : samples) {
      Json item = Json::MakeObject();
      item.Set("doc", Json::String(s.doc_id));
      item.Set("target", Json::String(s.target));
      item.Set("extracted", Json::String(s.extracted));
      Json m = Json::MakeObject();
      for (const auto& [name, value] : s.metrics)
        m.Set(name, Json::Double(value));
      item.Set("metrics", std::move(m));
      if (!s.error.empty()) item.Set("error", Json::String(s.error));
      samples_json.Push(std::move(item));
    }
    out.Set("samples", std::move(samples_json));
    Json metrics_json = Json::MakeArray();
    for (const tasks::MetricResult& m : metrics) {
      Json item = Json::MakeObject();
      item.Set("name", Json::String(m.name));
      item.Set("group", Json::String(m.group));
      item.Set("value", Json::Double(m.value));
      item.Set("stderr", m.stderr_na ? Json::String("N/A")
                                     : Json::Double(m.stderr_value));
      item.Set("count", Json::Int(m.count));
      item.Set("aggregation", Json::String(m.aggregation));
      metrics_json.Push(std::move(item));
    }
    out.Set("metrics", std::move(metrics_json));
    context.out << FormatDocument(*format, out);
    return kExitOk;
  }
  for (const tasks::SampleResult& s : samples) {
    std::vector<std::string> parts;
    for (const auto& [name, value] : s.metrics)
      parts.push_back(absl::StrFormat("%s=%g", name, value));
    context.out << s.doc_id << "\t" << absl::StrJoin(parts, " ") << "\t"
                << s.extracted << (s.error.empty() ? "" : "\terror: " + s.error)
                << "\n";
  }
  context.out << "--- " << task_name << ": " << samples.size() << " of "
              << ids.size() << " documents scored\n";
  for (const tasks::MetricResult& m : metrics) {
    context.out << absl::StrFormat("%-32s %-16s %.4f", m.name,
                                   m.group.empty() ? "(task)" : m.group,
                                   m.value);
    if (m.stderr_na) {
      context.out << " ± N/A";
    } else if (m.stderr_value > 0) {
      context.out << absl::StrFormat(" ± %.4f", m.stderr_value);
    }
    context.out << absl::StrFormat("  n=%d %s\n", m.count, m.aggregation);
  }
  return kExitOk;
}

const bool kRegistered = RegisterCommand({
    .name = "score",
    .summary =
        "score responses produced elsewhere against a task's dataset (offline)",
    .example = "evalctl score ifeval --responses responses.jsonl -o yaml",
    .setup = [](CLI::App& command) -> CommandFn {
      auto flags = std::make_shared<ScoreFlags>();
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
      command
          .add_option(
              "--responses", flags->responses,
              "JSONL: {\"doc\": ID or line number, or \"prompt\": TEXT} with "
              "{\"response\": TEXT} per line, or lm-eval's samples_<task>_"
              "<date>.jsonl ({\"doc_id\": N, \"resps\": [[TEXT]], ...})")
          ->type_name("FILE")
          ->required();
      command
          .add_option(
              "--data", flags->data,
              "the task's dataset (default: DATA_DIR/datasets/<dataset>)")
          ->type_name("PATH");
      command
          .add_option("--shots", flags->shots,
                      "few-shot examples (default: the task's)")
          ->type_name("N");
      command
          .add_option("--variant", flags->variant, "the task's prompt variant")
          ->type_name("V");
      AddOutputFlag(command, &flags->output);
      return [flags](CommandContext& context) {
        return ScoreCommand(context, *flags);
      };
    },
});

}  // namespace
}  // namespace evald::daemon::cli
