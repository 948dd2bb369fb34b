// evalctl commands about runs: submit, watch, status, list, results, samples,
// cancel, env. Each declares its flags on its CLI11 subcommand (command.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/cli/output.h"
#include "daemon/cli/parse.h"
#include "daemon/queries.h"
#include "daemon/render.h"
#include "daemon/suite.h"

namespace evald::daemon::cli {
namespace {

using daemon::StateName;
using daemon::ToJson;

int ExitForState(v1::RunState state) {
  return state == v1::SUCCEEDED ? kExitOk : kExitRunFailed;
}

absl::Status ParseInt(const std::string& flag, const std::string& text,
                      int64_t* out) {
  if (!absl::SimpleAtoi(text, out) || *out < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": expected a non-negative integer, got '", text, "'"));
  }
  return absl::OkStatus();
}

// Streams a run's progress to context.out until it ends; returns the exit
// code for its final state. `quiet` prints nothing (submit --wait --json).
int WatchRun(CommandContext& context, Client& client, const std::string& run_id,
             bool quiet) {
  grpc::ClientContext call;
  client.Prepare(&call);
  v1::WatchRequest request;
  request.set_run_id(run_id);
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader =
      client.stub().Watch(&call, request);
  const bool tty = IsTerminal(context.out) && !context.global.json;
  v1::WatchEvent event;
  std::string last_line;
  std::string last_shards;
  bool got_any = false;
  v1::RunState state = v1::RUN_STATE_UNSPECIFIED;
  while (reader->Read(&event)) {
    got_any = true;
    state = event.run().state();
    if (quiet) continue;
    if (context.global.json) {
      context.out << ToJson(event) << "\n" << std::flush;
      continue;
    }
    std::string line = daemon::FormatProgressLine(event, tty ? 24 : 0);
    if (tty) {
      // One live line, redrawn in place.
      context.out << "\r\033[K" << line << std::flush;
    } else if (line != last_line) {
      context.out << line << "\n" << std::flush;
    }
    last_line = line;
    // A sharded run's shards, whenever one of them changes.
    if (!tty) {
      std::string shards = daemon::FormatShards(event.run());
      if (shards != last_shards) context.out << shards << std::flush;
      last_shards = std::move(shards);
    }
  }
  if (tty && !quiet) {
    context.out << "\n" << daemon::FormatShards(event.run());
  }
  absl::Status status = client.Convert(reader->Finish());
  if (!status.ok()) return ReportError(context, status);
  if (!got_any)
    return ReportError(context,
                       absl::UnavailableError("watch ended without events"));
  if (!quiet && !context.global.json && !event.run().error().empty()) {
    context.err << "evalctl: run " << run_id << " " << StateName(state) << ": "
                << event.run().error() << "\n";
  }
  return ExitForState(state);
}

struct SubmitFlags {
  std::string suite;
  std::vector<std::string> sets;
  std::string priority;
  bool allow_drift = false;
  bool wait = false;
};

int Submit(CommandContext& context, const SubmitFlags& flags) {
  auto spec = daemon::ParseSuiteFile(flags.suite, flags.sets);
  if (!spec.ok()) return ReportError(context, spec.status());
  if (!flags.priority.empty()) {
    int priority = 0;
    if (!absl::SimpleAtoi(flags.priority, &priority)) {
      return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                      "--priority: expected an integer, got '",
                                      flags.priority, "'")));
    }
    spec->set_priority(priority);
  }
  spec->set_allow_drift(flags.allow_drift);
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call, 600);
  v1::SubmitRequest request;
  *request.mutable_spec() = std::move(*spec);
  v1::SubmitResponse response;
  absl::Status status =
      (*client)->Convert((*client)->stub().Submit(&call, request, &response));
  if (!status.ok()) return ReportError(context, status);
  for (const v1::Drift& d : response.drift()) {
    context.err << "evalctl: warning: run marked DRIFTED: " << d.field()
                << ": expected " << d.expected() << ", found " << d.found()
                << "\n";
  }
  if (!flags.wait) {
    if (context.global.json) {
      context.out << ToJson(response) << "\n";
    } else {
      context.out << response.run_id() << "\n";
      context.err << "evalctl: run " << response.run_id() << " queued"
                  << (response.queue_position() > 0
                          ? absl::StrCat(" behind ", response.queue_position(),
                                         " run(s)")
                          : std::string())
                  << "\n";
    }
    return kExitOk;
  }
  if (!context.global.json)
    context.err << "evalctl: run " << response.run_id() << " queued\n";
  int code = WatchRun(context, **client, response.run_id(),
                      /*quiet=*/context.global.json);
  if (code == kExitUnreachable || code == kExitInvalidInput) return code;
  grpc::ClientContext results_call;
  (*client)->Prepare(&results_call, 60);
  v1::GetResultsRequest results_request;
  results_request.set_run_id(response.run_id());
  v1::GetResultsResponse results;
  status = (*client)->Convert(
      (*client)->stub().GetResults(&results_call, results_request, &results));
  if (!status.ok()) return ReportError(context, status);
  context.out << (context.global.json ? ToJson(results) + "\n"
                                      : daemon::FormatResults(results));
  return ExitForState(results.run().state());
}

int Watch(CommandContext& context, const std::string& run) {
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  return WatchRun(context, **client, run, /*quiet=*/false);
}

int Status(CommandContext& context, const std::string& output) {
  auto format = ResolveOutput(context.global.json, output);
  if (!format.ok()) return ReportError(context, format.status());
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call, 30);
  v1::ListRunsRequest request;
  v1::ListRunsResponse runs;
  absl::Status status =
      (*client)->Convert((*client)->stub().ListRuns(&call, request, &runs));
  if (!status.ok()) return ReportError(context, status);
  v1::ListRunsResponse active;
  for (const v1::RunRecord& r : runs.runs()) {
    if (r.state() == v1::QUEUED || r.state() == v1::RUNNING)
      *active.add_runs() = r;
  }
  grpc::ClientContext models_call;
  (*client)->Prepare(&models_call, 30);
  v1::ListModelsResponse models;
  status = (*client)->Convert((*client)->stub().ListModels(
      &models_call, v1::ListModelsRequest(), &models));
  if (!status.ok()) return ReportError(context, status);
  if (*format == OutputFormat::kJson) {
    std::string addr;
    base::AppendJsonString((*client)->addr(), /*ensure_ascii=*/false, &addr);
    context.out << "{\"addr\":" << addr << ",\"active\":" << ToJson(active)
                << ",\"models\":" << ToJson(models) << "}\n";
    return kExitOk;
  }
  if (*format == OutputFormat::kYaml) {
    base::Json doc = base::Json::MakeObject();
    doc.Set("addr", base::Json::String((*client)->addr()));
    doc.Set("active", MessageJson(active));
    doc.Set("models", MessageJson(models));
    context.out << JsonToYaml(doc);
    return kExitOk;
  }
  context.out << "evald at " << (*client)->addr() << ": " << active.runs_size()
              << " active run(s), " << models.models_size()
              << " resident model(s)\n";
  if (active.runs_size() > 0) context.out << daemon::FormatRunList(active);
  for (const v1::RunRecord& r : active.runs()) {
    if (r.shards_size() == 0) continue;
    context.out << "run " << r.id() << ", " << r.shards_size()
                << " shards on Slurm (jobs "
                << absl::StrJoin(r.slurm_jobs(), ", ") << "):\n"
                << daemon::FormatShards(r);
  }
  for (const v1::ResidentModel& m : models.models()) {
    context.out << "  model " << m.path() << " (" << m.options() << ", "
                << m.resident_bytes() / (1024 * 1024) << " MiB)\n";
  }
  return kExitOk;
}

struct ListFlags {
  std::vector<std::string> labels;
  std::string since;
  std::string limit;
  std::string output;
};

int List(CommandContext& context, const ListFlags& flags) {
  auto format = ResolveOutput(context.global.json, flags.output);
  if (!format.ok()) return ReportError(context, format.status());
  v1::ListRunsRequest request;
  for (const std::string& kv : flags.labels) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                      "--label ", kv, ": expected KEY=VALUE")));
    }
    (*request.mutable_labels())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!flags.since.empty()) {
    auto ms = daemon::ParseSinceMillis(flags.since);
    if (!ms.ok()) return ReportError(context, ms.status());
    request.set_since_unix_ms(absl::ToUnixMillis(absl::Now()) - *ms);
  }
  if (!flags.limit.empty()) {
    int64_t limit = 0;
    if (absl::Status s = ParseInt("--limit", flags.limit, &limit); !s.ok()) {
      return ReportError(context, s);
    }
    request.set_limit(static_cast<int32_t>(limit));
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto runs = (*reader)->ListRuns(request);
  if (!runs.ok()) return ReportError(context, runs.status());
  WarnUnreadable(context, runs->unreadable());
  // The fingerprint is long and `env RUN` shows it; a listing leaves it out.
  for (v1::RunRecord& r : *runs->mutable_runs()) r.clear_fingerprint();
  PrintMessage(context, *format, *runs,
               [&] { return daemon::FormatRunList(*runs); });
  return kExitOk;
}

int Results(CommandContext& context, const std::string& run,
            const std::string& output) {
  auto format = ResolveOutput(context.global.json, output);
  if (!format.ok()) return ReportError(context, format.status());
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto results = (*reader)->GetResults(run);
  if (!results.ok()) return ReportError(context, results.status());
  WarnUnreadable(context, results->unreadable());
  PrintMessage(context, *format, *results,
               [&] { return daemon::FormatResults(*results); });
  const v1::RunState state = results->run().state();
  return state == v1::FAILED || state == v1::CANCELLED ? kExitRunFailed
                                                       : kExitOk;
}

struct SamplesFlags {
  std::string run;
  std::string task;
  bool failed = false;
  std::string limit;
  std::string output;
};

int Samples(CommandContext& context, const SamplesFlags& flags) {
  auto format =
      ResolveOutput(context.global.json, flags.output, /*jsonl=*/true);
  if (!format.ok()) return ReportError(context, format.status());
  v1::ListSamplesRequest request;
  request.set_run_id(flags.run);
  request.set_task(flags.task);
  request.set_failed_only(flags.failed);
  if (!flags.limit.empty()) {
    int64_t limit = 0;
    if (absl::Status s = ParseInt("--limit", flags.limit, &limit); !s.ok()) {
      return ReportError(context, s);
    }
    request.set_limit(static_cast<int32_t>(limit));
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  // Printed as the chunks arrive: a task of thousands of documents is never
  // held whole. JSON keeps the shape of ListSamplesResponse:
  // {"samples":[...],"unreadable":[...]}, written element by element.
  int64_t printed = 0;
  std::vector<std::string> unreadable;
  absl::Status status =
      (*reader)->StreamSamples(request, [&](const v1::SampleChunk& chunk) {
        WarnUnreadable(context, chunk.unreadable());
        unreadable.insert(unreadable.end(), chunk.unreadable().begin(),
                          chunk.unreadable().end());
        for (const v1::SampleRecord& s : chunk.samples()) {
          switch (*format) {
            case OutputFormat::kJson:
              context.out << (printed == 0 ? "{\"samples\":[" : ",")
                          << ToJson(s);
              break;
            case OutputFormat::kJsonLines:
              context.out << ToJson(s) << "\n";
              break;
            case OutputFormat::kYaml:
              context.out << (printed == 0 ? "samples:\n" : "")
                          << YamlSequenceItem(MessageJson(s));
              break;
            case OutputFormat::kTable:
              context.out << daemon::FormatSample(s);
              break;
          }
          ++printed;
        }
        context.out.flush();
        return absl::OkStatus();
      });
  if (!status.ok()) {
    if (printed > 0)
      context.out << "\n";  // end a partial line before the error
    return ReportError(context, status);
  }
  base::Json unreadable_json = base::Json::MakeArray();
  for (const std::string& u : unreadable)
    unreadable_json.Push(base::Json::String(u));
  switch (*format) {
    case OutputFormat::kJson:
      context.out << (printed == 0 ? "{\"samples\":[" : "")
                  << "],\"unreadable\":" << unreadable_json.Dump() << "}\n";
      break;
    case OutputFormat::kYaml: {
      base::Json tail = base::Json::MakeObject();
      if (printed == 0) tail.Set("samples", base::Json::MakeArray());
      tail.Set("unreadable", std::move(unreadable_json));
      context.out << JsonToYaml(tail);
      break;
    }
    case OutputFormat::kTable:
      if (printed == 0) context.out << "no samples\n";
      break;
    case OutputFormat::kJsonLines:
      break;
  }
  return kExitOk;
}

int Cancel(CommandContext& context, const std::string& run) {
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call, 30);
  v1::CancelRequest request;
  request.set_run_id(run);
  v1::CancelResponse response;
  absl::Status status =
      (*client)->Convert((*client)->stub().Cancel(&call, request, &response));
  if (!status.ok()) return ReportError(context, status);
  if (context.global.json) {
    context.out << ToJson(response) << "\n";
  } else if (response.state() == v1::CANCELLED) {
    context.out << "run " << request.run_id() << " cancelled\n";
  } else {
    context.out << "run " << request.run_id()
                << " is stopping (samples so far are kept)\n";
  }
  return kExitOk;
}

int Env(CommandContext& context, const std::string& run,
        const std::string& output) {
  auto format = ResolveOutput(context.global.json, output);
  if (!format.ok()) return ReportError(context, format.status());
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto env = (*reader)->GetEnvironment(run);
  if (!env.ok()) return ReportError(context, env.status());
  WarnUnreadable(context, env->unreadable());
  PrintMessage(context, *format, *env,
               [&] { return daemon::FormatEnvironment(*env); });
  return kExitOk;
}

// A command whose only input is one RUN argument (and maybe -o).
struct RunFlags {
  std::string run;
  std::string output;
};

const bool kRegistered = [] {
  RegisterCommand({
      .name = "submit",
      .summary = "queue a suite.yaml run",
      .example =
          "evalctl submit suite.yaml --set candidate.model=/ckpt/1200 --wait",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<SubmitFlags>();
        command
            .add_option("SUITE", flags->suite, "the suite file (docs/suite.md)")
            ->required();
        AddRepeated(
            command, "--set", &flags->sets,
            "override a suite field, e.g. --set candidate.model=/ckpt/1200")
            ->type_name("KEY=VALUE");
        command
            .add_option("--priority", flags->priority,
                        "queue priority, higher first (default 0)")
            ->type_name("N");
        command.add_flag(
            "--allow-drift", flags->allow_drift,
            "run even where the environment differs from the suite's pins, "
            "marking the run DRIFTED");
        command.add_flag("--wait", flags->wait,
                         "follow the run until it ends, then print its results "
                         "(exit 1 if it "
                         "failed)");
        return [flags](CommandContext& context) {
          return Submit(context, *flags);
        };
      },
  });
  RegisterCommand({
      .name = "watch",
      .summary = "follow a run's progress until it ends",
      .example = "evalctl watch r20261122T084512Z-0007",
      .setup = [](CLI::App& command) -> CommandFn {
        auto run = std::make_shared<std::string>();
        command.add_option("RUN", *run, "the run id")->required();
        return [run](CommandContext& context) { return Watch(context, *run); };
      },
  });
  RegisterCommand({
      .name = "status",
      .summary = "the daemon's active runs and resident models",
      .example = "evalctl status -o yaml",
      .setup = [](CLI::App& command) -> CommandFn {
        auto output = std::make_shared<std::string>();
        AddOutputFlag(command, output.get());
        return [output](CommandContext& context) {
          return Status(context, *output);
        };
      },
  });
  RegisterCommand({
      .name = "list",
      .summary = "list runs, newest first",
      .example = "evalctl list --label checkpoint=1200 --since 7d",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<ListFlags>();
        AddRepeated(command, "--label", &flags->labels,
                    "only runs with this label")
            ->type_name("KEY=VALUE");
        command
            .add_option("--since", flags->since,
                        "only runs created in this window (7d, 12h, 30m)")
            ->type_name("DURATION");
        command.add_option("--limit", flags->limit, "at most N runs")
            ->type_name("N");
        AddOutputFlag(command, &flags->output);
        return
            [flags](CommandContext& context) { return List(context, *flags); };
      },
  });
  RegisterCommand({
      .name = "results",
      .summary = "a run's scores with standard errors",
      .example = "evalctl results r20261122T084512Z-0007 -o yaml",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<RunFlags>();
        command.add_option("RUN", flags->run, "the run id")->required();
        AddOutputFlag(command, &flags->output);
        return [flags](CommandContext& context) {
          return Results(context, flags->run, flags->output);
        };
      },
  });
  RegisterCommand({
      .name = "samples",
      .summary = "a task's per-document samples",
      .example =
          "evalctl samples r20261122T084512Z-0007 gsm8k --failed --limit 5",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<SamplesFlags>();
        command.add_option("RUN", flags->run, "the run id")->required();
        command
            .add_option("TASK", flags->task, "the task, as the suite names it")
            ->required();
        command.add_flag("--failed", flags->failed,
                         "only samples with an error or a metric equal to 0");
        command.add_option("--limit", flags->limit, "at most N samples")
            ->type_name("N");
        AddOutputFlag(command, &flags->output, /*jsonl=*/true);
        return [flags](CommandContext& context) {
          return Samples(context, *flags);
        };
      },
  });
  RegisterCommand({
      .name = "cancel",
      .summary = "cancel a queued or running run",
      .example = "evalctl cancel r20261122T084512Z-0007",
      .setup = [](CLI::App& command) -> CommandFn {
        auto run = std::make_shared<std::string>();
        command.add_option("RUN", *run, "the run id")->required();
        return [run](CommandContext& context) { return Cancel(context, *run); };
      },
  });
  RegisterCommand({
      .name = "env",
      .summary = "the environment fingerprint of a run (or the daemon)",
      .example = "evalctl env r20261122T084512Z-0007",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<RunFlags>();
        command.add_option("RUN", flags->run,
                           "the run id (default: the daemon's own host)");
        AddOutputFlag(command, &flags->output);
        return [flags](CommandContext& context) {
          return Env(context, flags->run, flags->output);
        };
      },
  });
  return true;
}();

}  // namespace
}  // namespace evald::daemon::cli
