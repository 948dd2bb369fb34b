// File: daemon/cli/import_cmd.cc
// -----------------------------------------------------------------------------
// evalctl import FILE: evald's run file (`evalctl export`, daemon/
// run_file.h; "-" reads stdin) stored under the run's own id, streamed a
// chunk at a time through the daemon (or, with --data-dir, into the store),
// all or nothing: a truncated or damaged file is named with the byte offset
// and nothing of it stays stored.
//
// evalctl import --format lm-eval PATH: lm-evaluation-harness's output (a
// results_<date>.json and the samples_<task>_<date>.jsonl beside it) stored
// as one finished run, labelled imported=lm-eval, so that compare, gate and
// report can take a baseline measured with lm-eval. The files are read and
// checked here, whole, before anything is sent; the daemon stores the run
// in one write (or, with --data-dir and no daemon, the store directly), so a
// malformed file stores nothing.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/lm_eval_files.h"
#include "daemon/run_file.h"

namespace evald::daemon::cli {
namespace {

namespace fs = std::filesystem;

struct ImportFlags {
  std::string format = "evald";
  std::string path;
};

std::vector<std::string> ListFiles(const std::string& dir,
                                   absl::string_view prefix,
                                   absl::string_view suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && absl::StartsWith(name, prefix) &&
        absl::EndsWith(name, suffix))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The results file PATH names: the file itself, or the one results_*.json in
// the folder or in its one model folder (lm-eval's --output_path layout).
absl::StatusOr<std::string> FindResults(const std::string& path) {
  if (!base::PathExists(path)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or folder"));
  }
  if (!base::IsDirectory(path)) return fs::absolute(path).string();
  std::vector<std::string> found = ListFiles(path, "results_", ".json");
  if (found.empty()) {
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
      if (!e.is_directory(ec)) continue;
      for (std::string& f : ListFiles(e.path().string(), "results_", ".json"))
        found.push_back(std::move(f));
    }
  }
  if (found.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": no results_<date>.json here or in a model folder"));
  }
  if (found.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", found.size(),
                     " results files; name one: ", absl::StrJoin(found, ", ")));
  }
  return fs::absolute(found[0]).string();
}

int ImportRunFile(CommandContext& context, const ImportFlags& flags) {
  std::ifstream file;
  std::istream* in = &std::cin;
  const std::string name = flags.path == "-" ? "stdin" : flags.path;
  if (flags.path != "-") {
    if (base::IsDirectory(flags.path)) {
      return ReportError(
          context, absl::InvalidArgumentError(absl::StrCat(
                       flags.path,
                       ": a folder; an evald run file is one file (lm-eval "
                       "output folders import with --format lm-eval)")));
    }
    file.open(flags.path, std::ios::binary);
    if (!file) {
      return ReportError(
          context, absl::NotFoundError(absl::StrCat(
                       flags.path, ": cannot open: ", std::strerror(errno))));
    }
    in = &file;
  }
  // The header and run are read and checked before anything is sent.
  RunFileReader run_file(in, name);
  auto first = run_file.ReadStart();
  if (!first.ok()) return ReportError(context, first.status());
  const std::string run_id = first->run().id();
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  auto stored = (*reader)->ImportRunChunks(*std::move(first),
                                           [&] { return run_file.Next(); });
  if (!stored.ok()) return ReportError(context, stored.status());
  if (context.global.json) {
    base::Json out = base::Json::MakeObject();
    out.Set("run_id", base::Json::String(stored->run().id()));
    out.Set("samples", base::Json::Int(stored->samples()));
    out.Set("source", base::Json::String(name));
    context.out << out.Dump() << "\n";
  } else {
    context.out << stored->run().id() << "\n";
    context.err << "evalctl: imported run " << stored->run().id() << " from "
                << name << " (" << stored->samples() << " samples)\n";
  }
  return kExitOk;
}

int Import(CommandContext& context, const ImportFlags& flags) {
  if (flags.format == "evald") return ImportRunFile(context, flags);
  if (flags.format != "lm-eval") {
    return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                    "--format ", flags.format,
                                    ": unknown format (known: evald, "
                                    "lm-eval)")));
  }
  auto results_path = FindResults(flags.path);
  if (!results_path.ok()) return ReportError(context, results_path.status());
  auto text = base::ReadFileToString(*results_path);
  if (!text.ok()) return ReportError(context, text.status());
  LmEvalInputFile results{*results_path, *std::move(text)};
  const std::string dir = fs::path(*results_path).parent_path().string();
  const std::string name = fs::path(*results_path).filename().string();
  if (!absl::StartsWith(name, "results_") || !absl::EndsWith(name, ".json") ||
      name.size() <= 8 + 5) {
    return ReportError(
        context, absl::InvalidArgumentError(absl::StrCat(
                     *results_path, ": expected a results_<date>.json file")));
  }
  const std::string date_id = name.substr(8, name.size() - 8 - 5);
  std::vector<LmEvalInputFile> samples;
  for (const std::string& f : ListFiles(dir.empty() ? "." : dir, "samples_",
                                        absl::StrCat("_", date_id, ".jsonl"))) {
    auto content = base::ReadFileToString(f);
    if (!content.ok()) return ReportError(context, content.status());
    samples.push_back({f, *std::move(content)});
  }
  auto parsed =
      ParseLmEval(results, samples, "", absl::ToUnixMillis(absl::Now()));
  if (!parsed.ok()) return ReportError(context, parsed.status());
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  std::vector<std::string> tasks;
  for (const v1::TaskSpec& t : parsed->run.spec().tasks())
    tasks.push_back(t.name());
  auto stored =
      (*reader)->ImportRun(std::move(parsed->run), std::move(parsed->scores),
                           std::move(parsed->samples));
  if (!stored.ok()) return ReportError(context, stored.status());
  if (context.global.json) {
    base::Json out = base::Json::MakeObject();
    out.Set("run_id", base::Json::String(stored->run().id()));
    base::Json names = base::Json::MakeArray();
    for (const std::string& t : tasks) names.Push(base::Json::String(t));
    out.Set("tasks", std::move(names));
    out.Set("samples", base::Json::Int(stored->samples()));
    out.Set("source", base::Json::String(*results_path));
    context.out << out.Dump() << "\n";
  } else {
    context.out << stored->run().id() << "\n";
    context.err << "evalctl: imported " << *results_path << " as run "
                << stored->run().id() << " (" << absl::StrJoin(tasks, ", ")
                << "; " << stored->samples() << " samples)\n";
  }
  return kExitOk;
}

const bool kRegistered = [] {
  RegisterCommand({
      .name = "import",
      .summary =
          "store a run file from export (or lm-eval output files) as a run",
      .example = "evalctl import run.evald\n"
                 "ssh login-node evalctl export RUN | evalctl import -\n"
                 "evalctl import --format lm-eval "
                 "lm-eval-out/meta-llama__Llama-3.1-8B",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<ImportFlags>();
        command
            .add_option("--format", flags->format,
                        "the input format (evald: a run file from `evalctl "
                        "export`, which keeps its run id; lm-eval: "
                        "results_<date>.json with its "
                        "samples_<task>_<date>.jsonl, stored as a new run)")
            ->type_name("evald|lm-eval");
        command
            .add_option("PATH", flags->path,
                        "evald: the run file, or - for stdin; lm-eval: a "
                        "results_<date>.json, or the folder that holds it (or "
                        "its model folder)")
            ->required();
        return [flags](CommandContext& context) {
          return Import(context, *flags);
        };
      },
  });
  return true;
}();

}  // namespace
}  // namespace evald::daemon::cli
