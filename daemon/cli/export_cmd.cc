// File: daemon/cli/export_cmd.cc
// -----------------------------------------------------------------------------
// evalctl export RUN [--out FILE]: a finished run whole (record, fingerprint,
// every sample and score) as evald's run file (daemon/run_file.h), to stdout
// or to FILE (written beside it and renamed into place), for `evalctl
// import` into another store. --format lm-eval --out DIR: the run written as
// lm-evaluation-harness writes its output (daemon/lm_eval_files.h). Read
// through the daemon or, with --data-dir, straight from the store; samples
// stream through a task at a time in bounded memory.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/lm_eval_files.h"
#include "daemon/run_file.h"

namespace evald::daemon::cli {
namespace {

struct ExportFlags {
  std::string run;
  std::string format = "evald";
  std::string out;
};

absl::Status MakeDirs(const std::string& path) {
  std::string prefix;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') continue;
    prefix = path.substr(0, i);
    if (prefix.empty()) continue;
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InvalidArgumentError(
          absl::StrCat("--out ", path, ": cannot create ", prefix, ": ",
                       std::strerror(errno)));
    }
  }
  if (!base::IsDirectory(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--out ", path, ": not a directory"));
  }
  return absl::OkStatus();
}

bool Finished(v1::RunState state) {
  return state != v1::QUEUED && state != v1::RUNNING &&
         state != v1::RUN_STATE_UNSPECIFIED;
}

// Writes the run file of `run_id` to `out`; returns the samples written.
absl::StatusOr<int64_t> WriteRunFile(CommandContext& context, RunReader& reader,
                                     const std::string& run_id,
                                     std::ostream& out,
                                     const std::string& name) {
  ASSIGN_OR_RETURN(v1::GetResultsResponse results, reader.GetResults(run_id));
  // A run file is the run whole: a record the store cannot read would be
  // missing from it, so it is refused rather than warned about.
  auto refuse_unreadable =
      [&](const google::protobuf::RepeatedPtrField<std::string>& unreadable)
      -> absl::Status {
    if (unreadable.empty()) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(
        "export ", run_id, ": ", unreadable[0],
        unreadable.size() > 1
            ? absl::StrCat(" (and ", unreadable.size() - 1, " more)")
            : ""));
  };
  RETURN_IF_ERROR(refuse_unreadable(results.unreadable()));
  if (!Finished(results.run().state())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "export ", run_id, ": the run is ",
        v1::RunState_Name(results.run().state()),
        "; only a finished run is exported (wait for it, or cancel it)"));
  }
  ASSIGN_OR_RETURN(v1::GetEnvironmentResponse env,
                   reader.GetEnvironment(run_id));
  RETURN_IF_ERROR(refuse_unreadable(env.unreadable()));
  v1::RunRecord run = results.run();
  *run.mutable_fingerprint() = env.fingerprint();
  RunFileWriter writer(&out, name);
  RETURN_IF_ERROR(writer.Begin(run, results.scores()));
  for (const v1::TaskSpec& task : run.spec().tasks()) {
    v1::ListSamplesRequest request;
    request.set_run_id(run.id());
    request.set_task(task.name());
    RETURN_IF_ERROR(
        reader.StreamSamples(request, [&](const v1::SampleChunk& chunk) {
          RETURN_IF_ERROR(refuse_unreadable(chunk.unreadable()));
          for (const v1::SampleRecord& s : chunk.samples())
            RETURN_IF_ERROR(writer.AddSample(s));
          return absl::OkStatus();
        }));
  }
  RETURN_IF_ERROR(writer.Finish());
  return writer.samples();
}

int ExportRunFile(CommandContext& context, const ExportFlags& flags) {
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  if (flags.out.empty()) {
    if (context.global.json) {
      return ReportError(context,
                         absl::InvalidArgumentError(
                             "export: --json needs --out FILE (without it, "
                             "stdout is the run file)"));
    }
    if (IsTerminal(context.out)) {
      return ReportError(context,
                         absl::InvalidArgumentError(
                             "export: stdout is a terminal; redirect it to a "
                             "file or use --out FILE"));
    }
    auto written =
        WriteRunFile(context, **reader, flags.run, context.out, "stdout");
    if (!written.ok()) return ReportError(context, written.status());
    context.err << "evalctl: exported run " << flags.run << " (" << *written
                << " samples)\n";
    return kExitOk;
  }
  // Written beside the target and renamed into place: a failed export
  // leaves no partial file under the name.
  const std::string tmp = absl::StrCat(flags.out, ".tmp-", getpid());
  absl::StatusOr<int64_t> written;
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    if (!file) {
      return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                      "--out ", flags.out, ": cannot write ",
                                      tmp, ": ", std::strerror(errno))));
    }
    written = WriteRunFile(context, **reader, flags.run, file, flags.out);
  }
  if (written.ok() && std::rename(tmp.c_str(), flags.out.c_str()) != 0) {
    written = absl::InvalidArgumentError(
        absl::StrCat("--out ", flags.out, ": cannot rename ", tmp, ": ",
                     std::strerror(errno)));
  }
  if (!written.ok()) {
    std::remove(tmp.c_str());
    return ReportError(context, written.status());
  }
  if (context.global.json) {
    base::Json out = base::Json::MakeObject();
    out.Set("run_id", base::Json::String(flags.run));
    out.Set("file", base::Json::String(flags.out));
    out.Set("samples", base::Json::Int(*written));
    context.out << out.Dump() << "\n";
  } else {
    context.out << flags.out << "\n";
    context.err << "evalctl: exported run " << flags.run << " (" << *written
                << " samples)\n";
  }
  return kExitOk;
}

int Export(CommandContext& context, const ExportFlags& flags) {
  if (flags.format == "evald") return ExportRunFile(context, flags);
  if (flags.format != "lm-eval") {
    return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                    "--format ", flags.format,
                                    ": unknown format (known: evald, "
                                    "lm-eval)")));
  }
  if (flags.out.empty()) {
    return ReportError(context, absl::InvalidArgumentError(
                                    "--format lm-eval needs --out DIR"));
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto results = (*reader)->GetResults(flags.run);
  if (!results.ok()) return ReportError(context, results.status());
  WarnUnreadable(context, results->unreadable());
  // `results` leaves the fingerprint out; `env` has it (with each task's
  // lm-eval configuration).
  auto env = (*reader)->GetEnvironment(flags.run);
  if (!env.ok()) return ReportError(context, env.status());
  WarnUnreadable(context, env->unreadable());
  v1::RunRecord run = results->run();
  *run.mutable_fingerprint() = env->fingerprint();
  std::map<std::string, std::vector<v1::SampleRecord>> samples;
  for (const v1::TaskSpec& task : run.spec().tasks()) {
    v1::ListSamplesRequest request;
    request.set_run_id(run.id());
    request.set_task(task.name());
    std::vector<v1::SampleRecord>& into = samples[task.name()];
    absl::Status status =
        (*reader)->StreamSamples(request, [&](const v1::SampleChunk& chunk) {
          WarnUnreadable(context, chunk.unreadable());
          for (const v1::SampleRecord& s : chunk.samples()) into.push_back(s);
          return absl::OkStatus();
        });
    if (!status.ok()) return ReportError(context, status);
  }
  std::vector<v1::TaskScores> scores(results->scores().begin(),
                                     results->scores().end());
  auto files = ExportLmEval(run, scores, samples);
  if (!files.ok()) return ReportError(context, files.status());
  if (run.state() != v1::SUCCEEDED) {
    context.err << "evalctl: warning: run " << run.id()
                << " has not succeeded; exporting what is stored\n";
  }
  for (const std::string& w : files->warnings)
    context.err << "evalctl: warning: " << w << "\n";
  base::Json written = base::Json::MakeArray();
  for (const LmEvalFile& file : files->files) {
    const std::string path = absl::StrCat(flags.out, "/", file.path);
    const std::string dir = path.substr(0, path.rfind('/'));
    if (absl::Status s = MakeDirs(dir); !s.ok()) return ReportError(context, s);
    if (absl::Status s = base::WriteFileAtomically(path, file.content);
        !s.ok()) {
      return ReportError(context, s);
    }
    written.Push(base::Json::String(path));
    if (!context.global.json) context.out << path << "\n";
  }
  if (context.global.json) {
    base::Json out = base::Json::MakeObject();
    out.Set("run_id", base::Json::String(run.id()));
    out.Set("files", std::move(written));
    base::Json warnings = base::Json::MakeArray();
    for (const std::string& w : files->warnings)
      warnings.Push(base::Json::String(w));
    out.Set("warnings", std::move(warnings));
    context.out << out.Dump() << "\n";
  }
  return kExitOk;
}

const bool kRegistered = [] {
  RegisterCommand({
      .name = "export",
      .summary = "write a finished run to a file to import elsewhere (or "
                 "lm-eval files)",
      .example = "evalctl export r20261122T084512Z-0007-k3q9x2ma --out "
                 "run.evald\n"
                 "evalctl export r20261122T084512Z-0007-k3q9x2ma --format "
                 "lm-eval --out lm-eval-out",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<ExportFlags>();
        command.add_option("RUN", flags->run, "the run id")->required();
        command
            .add_option("--format", flags->format,
                        "the output format (evald: one run file for `evalctl "
                        "import`; lm-eval: results_<date>.json and "
                        "samples_<task>_<date>.jsonl)")
            ->type_name("evald|lm-eval");
        command
            .add_option("--out", flags->out,
                        "evald: the file to write (default stdout); lm-eval: "
                        "the output folder, files go under "
                        "DIR/<model_name_sanitized>/")
            ->type_name("FILE|DIR");
        return [flags](CommandContext& context) {
          return Export(context, *flags);
        };
      },
  });
  return true;
}();

}  // namespace
}  // namespace evald::daemon::cli
