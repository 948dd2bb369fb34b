// File: daemon/cli/plan_cmd.cc
// -----------------------------------------------------------------------------
// evalctl plan: whether a suite's models fit a memory budget
// (daemon/planner.h), offline: no daemon, no weights loaded. Exit 0 fits, 1
// does not fit, 2 bad input.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/cli/output.h"
#include "daemon/cli/parse.h"
#include "daemon/planner.h"
#include "daemon/suite.h"

namespace evald::daemon::cli {
namespace {

struct PlanFlags {
  std::string suite;
  std::string device_memory;
  std::string memory_budget;
  std::vector<std::string> sets;
  std::string max_batch_tokens;
  std::string output;
};

int Plan(CommandContext& context, const PlanFlags& flags) {
  auto format = ResolveOutput(context.global.json, flags.output);
  if (!format.ok()) return ReportError(context, format.status());
  auto spec = daemon::ParseSuiteFile(flags.suite, flags.sets);
  if (!spec.ok()) return ReportError(context, spec.status());
  daemon::PlanOptions options;
  if (const std::string& gpu = flags.device_memory; !gpu.empty()) {
    auto bytes = daemon::ParseByteSize(gpu);
    if (!bytes.ok()) return ReportError(context, bytes.status());
    options.device = daemon::PlanDevice::kGpu;
    options.budget_bytes = *bytes;
  } else if (const std::string& cpu = flags.memory_budget; !cpu.empty()) {
    auto bytes = daemon::ParseByteSize(cpu);
    if (!bytes.ok()) return ReportError(context, bytes.status());
    options.budget_bytes = *bytes;
  } else {
    options.budget_bytes = daemon::DefaultCpuBudget();
  }
  if (const std::string& t = flags.max_batch_tokens; !t.empty()) {
    if (!absl::SimpleAtoi(t, &options.max_batch_tokens) ||
        options.max_batch_tokens <= 0) {
      return ReportError(
          context, absl::InvalidArgumentError(
                       "--max-batch-tokens: expected a positive integer"));
    }
  }
  auto plan = daemon::PlanModels(*spec, options);
  if (!plan.ok()) return ReportError(context, plan.status());
  if (*format != OutputFormat::kTable) {
    base::Json out = base::Json::MakeObject();
    out.Set("device",
            base::Json::String(
                plan->device == daemon::PlanDevice::kGpu ? "gpu" : "cpu"));
    out.Set("budget_bytes", base::Json::Int(plan->budget_bytes));
    out.Set("needed_bytes", base::Json::Int(plan->needed_bytes));
    out.Set("reserve_bytes", base::Json::Int(plan->reserve_bytes));
    out.Set("fits", base::Json::Bool(plan->fits));
    base::Json models = base::Json::MakeArray();
    for (const daemon::ModelPlan& m : plan->models) {
      base::Json j = base::Json::MakeObject();
      j.Set("role", base::Json::String(m.role));
      j.Set("path", base::Json::String(m.path));
      j.Set("format", base::Json::String(m.format));
      j.Set("weight_bytes", base::Json::Int(m.weight_bytes));
      j.Set("kv_bytes_per_token", base::Json::Int(m.kv_bytes_per_token));
      j.Set("workspace_bytes", base::Json::Int(m.workspace_bytes));
      j.Set("min_kv_tokens", base::Json::Int(m.min_kv_tokens));
      j.Set("kv_pool_bytes", base::Json::Int(m.kv_pool_bytes));
      j.Set("kv_tokens", base::Json::Int(m.kv_tokens));
      j.Set("kv_max_tokens", base::Json::Int(m.kv_max_tokens));
      models.Push(std::move(j));
    }
    out.Set("models", std::move(models));
    context.out << FormatDocument(*format, out);
  } else {
    context.out << daemon::FormatPlan(*plan);
  }
  return plan->fits ? kExitOk : kExitRunFailed;
}

const bool kRegistered = RegisterCommand({
    .name = "plan",
    .summary = "whether the suite's models fit in memory, without loading them",
    .example = "evalctl plan suite.yaml --device-memory 80GiB",
    .setup = [](CLI::App& command) -> CommandFn {
      auto flags = std::make_shared<PlanFlags>();
      command
          .add_option("SUITE", flags->suite, "the suite file (docs/suite.md)")
          ->required();
      command
          .add_option("--device-memory", flags->device_memory,
                      "plan for a GPU with this much memory (80GiB, 24000MiB)")
          ->type_name("SIZE");
      command
          .add_option("--memory-budget", flags->memory_budget,
                      "plan for the CPU with this budget (default: 80% of RAM)")
          ->type_name("SIZE");
      AddRepeated(command, "--set", &flags->sets,
                  "override a suite field, as for submit")
          ->type_name("KEY=VALUE");
      command
          .add_option(
              "--max-batch-tokens", flags->max_batch_tokens,
              "tokens one forward step may hold (the workspace estimate)")
          ->type_name("N");
      AddOutputFlag(command, &flags->output);
      return [flags](CommandContext& context) { return Plan(context, *flags); };
    },
});

}  // namespace
}  // namespace evald::daemon::cli
