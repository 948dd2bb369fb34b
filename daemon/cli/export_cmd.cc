// File: daemon/cli/export_cmd.cc
// -----------------------------------------------------------------------------
// evalctl export RUN --format lm-eval --out DIR: a stored run written as
// lm-evaluation-harness writes its output (daemon/lm_eval_files.h), read
// through the daemon or, with --data-dir, straight from the store.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/lm_eval_files.h"

namespace evald::daemon::cli {
namespace {

struct ExportFlags {
  std::string run;
  std::string format = "lm-eval";
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

int Export(CommandContext& context, const ExportFlags& flags) {
  if (flags.format != "lm-eval") {
    return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                    "--format ", flags.format,
                                    ": unknown format (known: lm-eval)")));
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
      .summary = "write a run as lm-evaluation-harness output files",
      .example = "evalctl export r20261122T084512Z-0007-k3q9x2ma --format "
                 "lm-eval --out "
                 "lm-eval-out",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<ExportFlags>();
        command.add_option("RUN", flags->run, "the run id")->required();
        command
            .add_option("--format", flags->format,
                        "the output format (lm-eval: results_<date>.json and "
                        "samples_<task>_<date>.jsonl)")
            ->type_name("lm-eval");
        command
            .add_option("--out", flags->out,
                        "the output folder; files go under "
                        "DIR/<model_name_sanitized>/")
            ->required()
            ->type_name("DIR");
        return [flags](CommandContext& context) {
          return Export(context, *flags);
        };
      },
  });
  return true;
}();

}  // namespace
}  // namespace evald::daemon::cli
