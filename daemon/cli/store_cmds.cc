// evalctl commands for operators of a store: delete, fsck. Both work through
// the daemon, or offline with --data-dir while no daemon holds the store.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/render.h"

namespace evald::cli {
namespace {

int Delete(CommandContext& context) {
  auto args = ParseArgs(context.args, {}, {});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.empty()) {
    return ReportError(context, absl::InvalidArgumentError("usage: delete RUN..."));
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  for (const std::string& run : args->positionals) {
    auto deleted = (*reader)->DeleteRun(run);
    if (!deleted.ok()) return ReportError(context, deleted.status());
    if (context.global.json) {
      context.out << "{\"run_id\":\"" << run << "\",\"deleted\":" << daemon::ToJson(*deleted)
                  << "}\n";
      continue;
    }
    context.out << "deleted run " << run << " (" << deleted->samples() << " samples, "
                << deleted->scores() << " task scores"
                << (deleted->was_queued() ? ", taken off the queue" : "")
                << (deleted->tags().empty()
                        ? std::string()
                        : absl::StrCat(", tags ", absl::StrJoin(deleted->tags(), ", ")))
                << ")\n";
  }
  return kExitOk;
}

int Fsck(CommandContext& context) {
  auto args = ParseArgs(context.args, {}, {"--repair"});
  if (!args.ok()) return ReportError(context, args.status());
  if (!args->positionals.empty()) {
    return ReportError(context, absl::InvalidArgumentError("usage: fsck [--repair]"));
  }
  auto reader = OpenReader(context.global);
  if (!reader.ok()) return ReportError(context, reader.status());
  const bool repair = args->Has("--repair");
  auto report = (*reader)->CheckStore(repair);
  if (!report.ok()) return ReportError(context, report.status());
  if (context.global.json) {
    context.out << daemon::ToJson(*report) << "\n";
  } else {
    for (const v1::StoreProblem& p : report->problems()) {
      context.out << p.record() << ": " << p.problem() << "; "
                  << (report->repaired() ? "repaired: " : "repair: ") << p.repair() << "\n";
    }
    context.out << report->records() << " records checked, " << report->problems_size()
                << " problem(s)"
                << (report->problems_size() == 0 ? ""
                    : report->repaired()         ? ", repaired"
                                                 : "; `evalctl fsck --repair` mends them")
                << "\n";
  }
  // Problems left in place make fsck fail, as fsck(8) does.
  return report->problems_size() > 0 && !report->repaired() ? kExitRunFailed : kExitOk;
}

const bool kRegistered = [] {
  RegisterCommand({"delete", "delete RUN...",
                   "remove runs with their samples, scores and tags (not a running run)",
                   Delete});
  RegisterCommand({"fsck", "fsck [--repair]",
                   "check every stored record; --repair mends or removes damaged ones", Fsck});
  return true;
}();

}  // namespace
}  // namespace evald::cli
