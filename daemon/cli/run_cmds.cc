// evalctl commands about runs: submit, watch, status, list, results, samples,
// cancel, env.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/queries.h"
#include "daemon/render.h"
#include "daemon/suite.h"

namespace evald::cli {
namespace {

using daemon::StateName;
using daemon::ToJson;

int ExitForState(v1::RunState state) {
  return state == v1::SUCCEEDED ? kExitOk : kExitRunFailed;
}

absl::Status ParseInt(const std::string& flag, const std::string& text, int64_t* out) {
  if (!absl::SimpleAtoi(text, out) || *out < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected a non-negative integer, got '", text, "'"));
  }
  return absl::OkStatus();
}

// Streams a run's progress to context.out until it ends; returns the exit
// code for its final state. `quiet` prints nothing (submit --wait --json).
int WatchRun(CommandContext& context, Client& client, const std::string& run_id, bool quiet) {
  grpc::ClientContext call;
  client.Prepare(&call);
  v1::WatchRequest request;
  request.set_run_id(run_id);
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader = client.stub().Watch(&call, request);
  const bool tty = IsTerminal(context.out) && !context.global.json;
  v1::WatchEvent event;
  std::string last_line;
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
  }
  if (tty && !quiet) context.out << "\n";
  absl::Status status = client.Convert(reader->Finish());
  if (!status.ok()) return ReportError(context, status);
  if (!got_any) return ReportError(context, absl::UnavailableError("watch ended without events"));
  if (!quiet && !context.global.json && !event.run().error().empty()) {
    context.err << "evalctl: run " << run_id << " " << StateName(state) << ": "
                << event.run().error() << "\n";
  }
  return ExitForState(state);
}

int Submit(CommandContext& context) {
  auto args = ParseArgs(context.args, {"--set", "--priority"}, {"--allow-drift", "--wait"});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.size() != 1) {
    return ReportError(context, absl::InvalidArgumentError(
                                    "usage: submit SUITE [--set k=v]... [--priority N] "
                                    "[--allow-drift] [--wait]"));
  }
  auto spec = daemon::ParseSuiteFile(args->positionals[0], args->GetAll("--set"));
  if (!spec.ok()) return ReportError(context, spec.status());
  if (args->values.count("--priority") > 0) {
    int priority = 0;
    if (!absl::SimpleAtoi(args->Get("--priority"), &priority)) {
      return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                      "--priority: expected an integer, got '",
                                      args->Get("--priority"), "'")));
    }
    spec->set_priority(priority);
  }
  spec->set_allow_drift(args->Has("--allow-drift"));
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call, 600);
  v1::SubmitRequest request;
  *request.mutable_spec() = std::move(*spec);
  v1::SubmitResponse response;
  absl::Status status = (*client)->Convert((*client)->stub().Submit(&call, request, &response));
  if (!status.ok()) return ReportError(context, status);
  for (const v1::Drift& d : response.drift()) {
    context.err << "evalctl: warning: run marked DRIFTED: " << d.field() << ": expected "
                << d.expected() << ", found " << d.found() << "\n";
  }
  if (!args->Has("--wait")) {
    if (context.global.json) {
      context.out << ToJson(response) << "\n";
    } else {
      context.out << response.run_id() << "\n";
      context.err << "evalctl: run " << response.run_id() << " queued"
                  << (response.queue_position() > 0
                          ? absl::StrCat(" behind ", response.queue_position(), " run(s)")
                          : std::string())
                  << "\n";
    }
    return kExitOk;
  }
  if (!context.global.json) context.err << "evalctl: run " << response.run_id() << " queued\n";
  int code = WatchRun(context, **client, response.run_id(), /*quiet=*/context.global.json);
  if (code == kExitUnreachable || code == kExitInvalidInput) return code;
  grpc::ClientContext results_call;
  (*client)->Prepare(&results_call, 60);
  v1::GetResultsRequest results_request;
  results_request.set_run_id(response.run_id());
  v1::GetResultsResponse results;
  status = (*client)->Convert(
      (*client)->stub().GetResults(&results_call, results_request, &results));
  if (!status.ok()) return ReportError(context, status);
  context.out << (context.global.json ? ToJson(results) + "\n" : daemon::FormatResults(results));
  return ExitForState(results.run().state());
}

int Watch(CommandContext& context) {
  auto args = ParseArgs(context.args, {}, {});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.size() != 1) {
    return ReportError(context, absl::InvalidArgumentError("usage: watch RUN"));
  }
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  return WatchRun(context, **client, args->positionals[0], /*quiet=*/false);
}

int Status(CommandContext& context) {
  auto args = ParseArgs(context.args, {}, {});
  if (!args.ok()) return ReportError(context, args.status());
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call, 30);
  v1::ListRunsRequest request;
  v1::ListRunsResponse runs;
  absl::Status status = (*client)->Convert((*client)->stub().ListRuns(&call, request, &runs));
  if (!status.ok()) return ReportError(context, status);
  v1::ListRunsResponse active;
  for (const v1::RunRecord& r : runs.runs()) {
    if (r.state() == v1::QUEUED || r.state() == v1::RUNNING) *active.add_runs() = r;
  }
  grpc::ClientContext models_call;
  (*client)->Prepare(&models_call, 30);
  v1::ListModelsResponse models;
  status = (*client)->Convert(
      (*client)->stub().ListModels(&models_call, v1::ListModelsRequest(), &models));
  if (!status.ok()) return ReportError(context, status);
  if (context.global.json) {
    context.out << "{\"addr\":\"" << (*client)->addr() << "\",\"active\":" << ToJson(active)
                << ",\"models\":" << ToJson(models) << "}\n";
    return kExitOk;
  }
  context.out << "evald at " << (*client)->addr() << ": " << active.runs_size()
              << " active run(s), " << models.models_size() << " resident model(s)\n";
  if (active.runs_size() > 0) context.out << daemon::FormatRunList(active);
  for (const v1::ResidentModel& m : models.models()) {
    context.out << "  model " << m.path() << " (" << m.options() << ", "
                << m.resident_bytes() / (1024 * 1024) << " MiB)\n";
  }
  return kExitOk;
}

int List(CommandContext& context) {
  auto args = ParseArgs(context.args, {"--label", "--since", "--limit"}, {});
  if (!args.ok()) return ReportError(context, args.status());
  v1::ListRunsRequest request;
  for (const std::string& kv : args->GetAll("--label")) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return ReportError(context, absl::InvalidArgumentError(
                                      absl::StrCat("--label ", kv, ": expected KEY=VALUE")));
    }
    (*request.mutable_labels())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (args->values.count("--since") > 0) {
    auto ms = daemon::ParseSinceMillis(args->Get("--since"));
    if (!ms.ok()) return ReportError(context, ms.status());
    request.set_since_unix_ms(absl::ToUnixMillis(absl::Now()) - *ms);
  }
  if (args->values.count("--limit") > 0) {
    int64_t limit = 0;
    if (absl::Status s = ParseInt("--limit", args->Get("--limit"), &limit); !s.ok()) {
      return ReportError(context, s);
    }
    request.set_limit(static_cast<int32_t>(limit));
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto runs = (*reader)->ListRuns(request);
  if (!runs.ok()) return ReportError(context, runs.status());
  WarnUnreadable(context, runs->unreadable());
  if (context.global.json) {
    for (v1::RunRecord& r : *runs->mutable_runs()) r.clear_fingerprint();
    context.out << ToJson(*runs) << "\n";
  } else {
    context.out << daemon::FormatRunList(*runs);
  }
  return kExitOk;
}

int Results(CommandContext& context) {
  auto args = ParseArgs(context.args, {}, {});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.size() != 1) {
    return ReportError(context, absl::InvalidArgumentError("usage: results RUN"));
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto results = (*reader)->GetResults(args->positionals[0]);
  if (!results.ok()) return ReportError(context, results.status());
  WarnUnreadable(context, results->unreadable());
  context.out << (context.global.json ? ToJson(*results) + "\n" : daemon::FormatResults(*results));
  const v1::RunState state = results->run().state();
  return state == v1::FAILED || state == v1::CANCELLED ? kExitRunFailed : kExitOk;
}

int Samples(CommandContext& context) {
  auto args = ParseArgs(context.args, {"--limit"}, {"--failed"});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.size() != 2) {
    return ReportError(context,
                       absl::InvalidArgumentError("usage: samples RUN TASK [--failed] [--limit N]"));
  }
  v1::ListSamplesRequest request;
  request.set_run_id(args->positionals[0]);
  request.set_task(args->positionals[1]);
  request.set_failed_only(args->Has("--failed"));
  if (args->values.count("--limit") > 0) {
    int64_t limit = 0;
    if (absl::Status s = ParseInt("--limit", args->Get("--limit"), &limit); !s.ok()) {
      return ReportError(context, s);
    }
    request.set_limit(static_cast<int32_t>(limit));
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto samples = (*reader)->ListSamples(request);
  if (!samples.ok()) return ReportError(context, samples.status());
  WarnUnreadable(context, samples->unreadable());
  context.out << (context.global.json ? ToJson(*samples) + "\n" : daemon::FormatSamples(*samples));
  return kExitOk;
}

int Cancel(CommandContext& context) {
  auto args = ParseArgs(context.args, {}, {});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.size() != 1) {
    return ReportError(context, absl::InvalidArgumentError("usage: cancel RUN"));
  }
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call, 30);
  v1::CancelRequest request;
  request.set_run_id(args->positionals[0]);
  v1::CancelResponse response;
  absl::Status status = (*client)->Convert((*client)->stub().Cancel(&call, request, &response));
  if (!status.ok()) return ReportError(context, status);
  if (context.global.json) {
    context.out << ToJson(response) << "\n";
  } else if (response.state() == v1::CANCELLED) {
    context.out << "run " << request.run_id() << " cancelled\n";
  } else {
    context.out << "run " << request.run_id() << " is stopping (samples so far are kept)\n";
  }
  return kExitOk;
}

int Env(CommandContext& context) {
  auto args = ParseArgs(context.args, {}, {});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.size() > 1) {
    return ReportError(context, absl::InvalidArgumentError("usage: env [RUN]"));
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto env = (*reader)->GetEnvironment(args->positionals.empty() ? "" : args->positionals[0]);
  if (!env.ok()) return ReportError(context, env.status());
  WarnUnreadable(context, env->unreadable());
  context.out << (context.global.json ? ToJson(*env) + "\n" : daemon::FormatEnvironment(*env));
  return kExitOk;
}

const bool kRegistered = [] {
  RegisterCommand({"submit", "submit SUITE [--set k=v]... [--priority N] [--allow-drift] [--wait]",
                   "queue a suite.yaml run", Submit});
  RegisterCommand({"watch", "watch RUN", "follow a run's progress until it ends", Watch});
  RegisterCommand({"status", "status", "the daemon's active runs and resident models", Status});
  RegisterCommand({"list", "list [--label k=v]... [--since 7d] [--limit N]", "list runs", List});
  RegisterCommand({"results", "results RUN", "a run's scores with standard errors", Results});
  RegisterCommand({"samples", "samples RUN TASK [--failed] [--limit N]",
                   "a task's per-document samples", Samples});
  RegisterCommand({"cancel", "cancel RUN", "cancel a queued or running run", Cancel});
  RegisterCommand({"env", "env [RUN]", "the environment fingerprint of a run (or the daemon)", Env});
  return true;
}();

}  // namespace
}  // namespace evald::cli
