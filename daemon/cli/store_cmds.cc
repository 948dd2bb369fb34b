// evalctl commands for operators of a store: delete, fsck. Both work through
// the daemon, or offline with --data-dir while no daemon holds the store.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/cli/output.h"
#include "daemon/render.h"

namespace evald::daemon::cli {
namespace {

int Delete(CommandContext& context, const std::vector<std::string>& runs) {
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  for (const std::string& run : runs) {
    auto deleted = (*reader)->DeleteRun(run);
    if (!deleted.ok()) return ReportError(context, deleted.status());
    if (context.global.json) {
      context.out << "{\"run_id\":\"" << run
                  << "\",\"deleted\":" << daemon::ToJson(*deleted) << "}\n";
      continue;
    }
    context.out << "deleted run " << run << " (" << deleted->samples()
                << " samples, " << deleted->scores() << " task scores"
                << (deleted->was_queued() ? ", taken off the queue" : "")
                << (deleted->tags().empty()
                        ? std::string()
                        : absl::StrCat(", tags ",
                                       absl::StrJoin(deleted->tags(), ", ")))
                << ")\n";
  }
  return kExitOk;
}

struct FsckFlags {
  bool repair = false;
  std::string output;
};

int Fsck(CommandContext& context, const FsckFlags& flags) {
  auto format = ResolveOutput(context.global.json, flags.output);
  if (!format.ok()) return ReportError(context, format.status());
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  const bool repair = flags.repair;
  auto report = (*reader)->CheckStore(repair);
  if (!report.ok()) return ReportError(context, report.status());
  if (*format != OutputFormat::kTable) {
    PrintMessage(context, *format, *report, {});
  } else {
    for (const v1::StoreProblem& p : report->problems()) {
      context.out << p.record() << ": " << p.problem() << "; "
                  << (report->repaired() ? "repaired: " : "repair: ")
                  << p.repair() << "\n";
    }
    context.out << report->records() << " records checked, "
                << report->problems_size() << " problem(s)"
                << (report->problems_size() == 0 ? ""
                    : report->repaired()
                        ? ", repaired"
                        : "; `evalctl fsck --repair` mends them")
                << "\n";
  }
  // Problems left in place make fsck fail, as fsck(8) does.
  return report->problems_size() > 0 && !report->repaired() ? kExitRunFailed
                                                            : kExitOk;
}

const bool kRegistered = [] {
  RegisterCommand({
      .name = "delete",
      .summary =
          "remove runs with their samples, scores and tags (not a running run)",
      .example = "evalctl delete r20261122T084512Z-0007-k3q9x2ma",
      .setup = [](CLI::App& command) -> CommandFn {
        auto runs = std::make_shared<std::vector<std::string>>();
        command.add_option("RUN", *runs, "the run ids")->required();
        return
            [runs](CommandContext& context) { return Delete(context, *runs); };
      },
  });
  RegisterCommand({
      .name = "fsck",
      .summary =
          "check every stored record; --repair mends or removes damaged ones",
      .example = "evalctl fsck --repair --data-dir ~/.local/share/evald",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<FsckFlags>();
        command.add_flag("--repair", flags->repair,
                         "mend what can be mended (escape invalid UTF-8, "
                         "recount) and remove "
                         "records that cannot be read");
        AddOutputFlag(command, &flags->output);
        return
            [flags](CommandContext& context) { return Fsck(context, *flags); };
      },
  });
  return true;
}();

}  // namespace
}  // namespace evald::daemon::cli
