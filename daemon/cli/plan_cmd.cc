// File: daemon/cli/plan_cmd.cc
// -----------------------------------------------------------------------------
// evalctl plan: whether a suite's models fit a memory budget
// (daemon/planner.h), offline: no daemon, no weights loaded. Exit 0 fits, 1
// does not fit, 2 bad input. With --slurm: the batch script the coordinator
// would submit for a sharded suite (daemon/cluster/slurm.h) and how each
// task's documents split over its shards (daemon/cluster/shards.h).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/cli/output.h"
#include "daemon/cli/parse.h"
#include "daemon/cluster/shards.h"
#include "daemon/cluster/slurm.h"
#include "daemon/planner.h"
#include "daemon/suite.h"
#include "tasks/task.h"

namespace evald::daemon::cli {
namespace {

struct PlanFlags {
  std::string suite;
  bool slurm = false;
  std::string device_memory;
  std::string memory_budget;
  std::vector<std::string> sets;
  std::string max_batch_tokens;
  std::string output;
};

// Stands for the run id, which exists only once the daemon stores the run.
constexpr char kRunIdPlaceholder[] = "RUN_ID";

struct TaskSplit {
  std::string task;
  int64_t documents = 0;
};

// Each task's document count, from the task the daemon would create
// (CreateSpecTask).
absl::StatusOr<std::vector<TaskSplit>> CountDocuments(
    const v1::RunSpec& spec, const std::string& data_dir) {
  std::vector<TaskSplit> splits;
  for (const v1::TaskSpec& t : spec.tasks()) {
    auto task = daemon::CreateSpecTask(spec, t, data_dir);
    if (!task.ok()) return task.status();
    splits.push_back(
        TaskSplit{t.name(), static_cast<int64_t>((*task)->DocIds().size())});
  }
  return splits;
}

// "0:[0,16) 1:[16,32) ..." for `documents` over `shards`.
std::string SplitLine(int64_t documents, int32_t shards) {
  std::vector<std::string> parts;
  for (int32_t i = 0; i < shards; ++i) {
    const cluster::DocRange r = cluster::ShardRange(documents, shards, i);
    parts.push_back(absl::StrCat(i, ":[", r.first, ",", r.end, ")"));
  }
  return absl::StrJoin(parts, " ");
}

int PlanSlurm(CommandContext& context, OutputFormat format,
              const v1::RunSpec& spec) {
  if (!spec.has_cluster() || spec.cluster().slurm().shards() < 1) {
    return ReportError(
        context, absl::InvalidArgumentError(
                     absl::StrCat("plan --slurm: suite ", spec.name(),
                                  " has no cluster.slurm section (add cluster: "
                                  "{slurm: {shards: N, ...}}, or --set "
                                  "cluster.slurm.shards=N)")));
  }
  const v1::SlurmSpec& slurm = spec.cluster().slurm();
  const bool files = slurm.transport() == "files";
  const std::string data_dir = context.global.data_dir.empty()
                                   ? DefaultDataDir()
                                   : context.global.data_dir;
  auto splits = CountDocuments(spec, data_dir);
  if (!splits.ok()) return ReportError(context, splits.status());

  // The job as Coordinator::JobFor fills it; what only the daemon knows
  // stays a placeholder, explained in the comments above the script.
  cluster::WorkerJob job;
  job.run_id = kRunIdPlaceholder;
  job.evald = slurm.evald().empty() ? "EVALD" : slurm.evald();
  if (!files) {
    job.coordinator =
        slurm.coordinator().empty() ? "HOST:PORT" : slurm.coordinator();
    job.token_file = "TOKEN_FILE";
  } else {
    job.shared_dir = slurm.shared_dir();
  }
  job.log_dir = slurm.log_dir().empty()
                    ? absl::StrCat("DATA_DIR/cluster/", kRunIdPlaceholder)
                    : slurm.log_dir();
  std::vector<int32_t> all;
  for (int32_t i = 0; i < slurm.shards(); ++i) all.push_back(i);
  std::vector<std::string> sbatch = {
      "sbatch", "--parsable",
      absl::StrCat("--array=", cluster::ArrayExpression(all))};
  sbatch.insert(sbatch.end(), slurm.extra_args().begin(),
                slurm.extra_args().end());
  sbatch.push_back(
      absl::StrCat(job.log_dir, "/", kRunIdPlaceholder, ".sbatch"));

  std::vector<std::string> notes = {
      absl::StrCat("The batch script evald submits for suite ", spec.name(),
                   " (", slurm.shards(),
                   " shard(s)), as: ", absl::StrJoin(sbatch, " ")),
      absl::StrCat(kRunIdPlaceholder,
                   ": the run id the daemon gives the run at submit.")};
  if (slurm.evald().empty()) {
    notes.push_back(
        "EVALD: cluster.slurm.evald is not set; the daemon puts its own "
        "binary's path (it must be valid on the compute nodes).");
  }
  if (!files && slurm.coordinator().empty()) {
    notes.push_back(
        "HOST:PORT: cluster.slurm.coordinator is not set; the daemon puts its "
        "--cluster-address, else its --listen-tcp address as bound.");
  }
  if (!files) {
    notes.push_back(
        "TOKEN_FILE: the daemon's --token-file as an absolute path; the token "
        "itself is never in the script.");
  }
  if (slurm.log_dir().empty()) {
    notes.push_back(
        "DATA_DIR: cluster.slurm.log_dir is not set; the jobs' output goes "
        "under the daemon's --data-dir.");
  }
  std::string script = cluster::RenderBatchScript(slurm, job);
  std::string header;
  for (const std::string& note : notes)
    absl::StrAppend(&header, "# ", note, "\n");
  // After the #! line: sbatch reads #SBATCH lines past comments.
  script.insert(script.find('\n') + 1, header);

  if (format != OutputFormat::kTable) {
    base::Json out = base::Json::MakeObject();
    out.Set("script", base::Json::String(script));
    base::Json argv = base::Json::MakeArray();
    for (const std::string& a : sbatch) argv.Push(base::Json::String(a));
    out.Set("sbatch", std::move(argv));
    base::Json tasks = base::Json::MakeArray();
    for (const TaskSplit& t : *splits) {
      base::Json j = base::Json::MakeObject();
      j.Set("task", base::Json::String(t.task));
      j.Set("documents", base::Json::Int(t.documents));
      base::Json shards = base::Json::MakeArray();
      for (int32_t i = 0; i < slurm.shards(); ++i) {
        const cluster::DocRange r =
            cluster::ShardRange(t.documents, slurm.shards(), i);
        base::Json s = base::Json::MakeObject();
        s.Set("shard", base::Json::Int(i));
        s.Set("first", base::Json::Int(r.first));
        s.Set("end", base::Json::Int(r.end));
        shards.Push(std::move(s));
      }
      j.Set("shards", std::move(shards));
      tasks.Push(std::move(j));
    }
    out.Set("tasks", std::move(tasks));
    context.out << FormatDocument(format, out);
    return kExitOk;
  }
  context.out << script;
  // The split, as comments, so the whole output stays a valid script.
  for (const TaskSplit& t : *splits) {
    context.out << "# task " << t.task << ": " << t.documents
                << " documents over " << slurm.shards()
                << " shards [first,end): "
                << SplitLine(t.documents, slurm.shards()) << "\n";
  }
  return kExitOk;
}

int Plan(CommandContext& context, const PlanFlags& flags) {
  auto format = ResolveOutput(context.global.json, flags.output);
  if (!format.ok()) return ReportError(context, format.status());
  auto spec = daemon::ParseSuiteFile(flags.suite, flags.sets);
  if (!spec.ok()) return ReportError(context, spec.status());
  if (flags.slurm) return PlanSlurm(context, *format, *spec);
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
    .summary = "whether a suite fits in memory (--slurm: its batch script)",
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
      command.add_flag("--slurm", flags->slurm,
                       "print the Slurm batch script a sharded suite "
                       "(cluster.slurm) is submitted with, and how each "
                       "task's documents split over the shards");
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
