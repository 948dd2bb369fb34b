// File: daemon/cli/plan_cmd.cc
// -----------------------------------------------------------------------------
// evalctl plan: whether a suite's models fit a memory budget (daemon/planner.h),
// offline: no daemon, no weights loaded. Exit 0 fits, 1 does not fit, 2 bad
// input.
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/planner.h"
#include "daemon/suite.h"

namespace evald::cli {
namespace {

int Plan(CommandContext& context) {
  auto args = ParseArgs(context.args, {"--device-memory", "--memory-budget", "--set",
                                       "--max-batch-tokens"},
                        {"--json"});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.size() != 1) {
    return ReportError(context, absl::InvalidArgumentError(
                                    "usage: plan SUITE [--device-memory 80GiB | --memory-budget "
                                    "SIZE] [--set k=v]... [--json]"));
  }
  auto spec = daemon::ParseSuiteFile(args->positionals[0], args->GetAll("--set"));
  if (!spec.ok()) return ReportError(context, spec.status());
  daemon::PlanOptions options;
  if (const std::string gpu = args->Get("--device-memory"); !gpu.empty()) {
    auto bytes = daemon::ParseByteSize(gpu);
    if (!bytes.ok()) return ReportError(context, bytes.status());
    options.device = daemon::PlanDevice::kGpu;
    options.budget_bytes = *bytes;
  } else if (const std::string cpu = args->Get("--memory-budget"); !cpu.empty()) {
    auto bytes = daemon::ParseByteSize(cpu);
    if (!bytes.ok()) return ReportError(context, bytes.status());
    options.budget_bytes = *bytes;
  } else {
    options.budget_bytes = daemon::DefaultCpuBudget();
  }
  if (const std::string t = args->Get("--max-batch-tokens"); !t.empty()) {
    if (!absl::SimpleAtoi(t, &options.max_batch_tokens) || options.max_batch_tokens <= 0) {
      return ReportError(context, absl::InvalidArgumentError(
                                      "--max-batch-tokens: expected a positive integer"));
    }
  }
  auto plan = daemon::PlanModels(*spec, options);
  if (!plan.ok()) return ReportError(context, plan.status());
  if (context.global.json || args->Has("--json")) {
    base::Json out = base::Json::MakeObject();
    out.Set("device", base::Json::String(plan->device == daemon::PlanDevice::kGpu ? "gpu" : "cpu"));
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
    context.out << out.Dump() << "\n";
  } else {
    context.out << daemon::FormatPlan(*plan);
  }
  return plan->fits ? kExitOk : kExitRunFailed;
}

const bool kRegistered = RegisterCommand(
    {"plan", "plan SUITE [--device-memory 80GiB | --memory-budget SIZE] [--set k=v]... [--json]",
     "whether the suite's models fit in memory, without loading them", Plan});

}  // namespace
}  // namespace evald::cli
