#include "daemon/cli/evalctl_app.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "daemon/cli/completion.h"
#include "daemon/cli/help.h"
#include "daemon/cli/parse.h"
#include "daemon/version.h"

namespace evald::daemon::cli {
namespace {

std::vector<HelpSection> RootSections() {
  return {
      {"environment",
       "EVALD_ADDR, EVALD_DATA_DIR and EVALD_TOKEN_FILE give --addr, "
       "--data-dir and --token-file "
       "when the flag is not given."},
      {"exit codes",
       "0 ok (gate: PASS), 1 the run failed (gate: FAIL; fsck: damage left in "
       "place), 2 invalid "
       "input or usage, 3 daemon unreachable, 4 gate INCONCLUSIVE."},
  };
}

// Writes evalctl.1 and evalctl-COMMAND.1 for every visible command into
// `dir`.
absl::Status WriteManPages(const CLI::App& root, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("help-man ", dir, ": ", ec.message()));
  const std::string source = absl::StrCat("evald ", daemon::Version());
  ManPageInfo info{.title = "evalctl",
                   .section = 1,
                   .source = source,
                   .extra = RootSections(),
                   .see_also = {"evald(8)"},
                   .commands_have_pages = true};
  if (absl::Status s =
          base::WriteFileAtomically(dir + "/evalctl.1", ManPage(root, info));
      !s.ok()) {
    return s;
  }
  for (const CLI::App* sub : VisibleSubcommands(root)) {
    ManPageInfo page{.title = "evalctl-" + sub->get_name(),
                     .section = 1,
                     .source = source,
                     .see_also = {"evalctl(1)"}};
    const std::string path = absl::StrCat(dir, "/", page.title, ".1");
    if (absl::Status s = base::WriteFileAtomically(path, ManPage(*sub, page));
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

}  // namespace

int RunEvalctl(const std::vector<std::string>& args, GlobalOptions global,
               std::ostream& out, std::ostream& err) {
  CLI::App root(
      "the command-line client of evald, the evaluation daemon for LLM "
      "checkpoints. `evalctl "
      "COMMAND --help` shows a command's flags and an example.",
      "evalctl");
  ConfigureRoot(root);
  root.add_option("--addr", global.addr,
                  "the daemon's address: unix:PATH or HOST:PORT (env "
                  "EVALD_ADDR; default "
                  "unix:DATA_DIR/evald.sock)")
      ->type_name("ADDR");
  root.add_option("--data-dir", global.data_dir,
                  "evald's data dir: read its store offline, no daemon (env "
                  "EVALD_DATA_DIR); also "
                  "where datasets live (default $HOME/.local/share/evald)")
      ->type_name("DIR");
  root.add_option("--token-file", global.token_file,
                  "the bearer token for a TCP daemon (env EVALD_TOKEN_FILE)")
      ->type_name("FILE");
  root.add_flag("--json", global.json,
                "print JSON instead of text (one document on one line)");
  bool version = false;
  AddEarlyFlag(root, "--version", &version,
               "print evald's version, commit and build type");

  std::map<const CLI::App*, CommandFn> runs;
  for (const CommandInfo* info : AllCommands()) {
    CLI::App* sub = root.add_subcommand(info->name, info->summary);
    SetExamples(*sub, {info->example});
    runs[sub] = info->setup(*sub);
  }
  std::vector<std::string> topic;
  CLI::App* help =
      root.add_subcommand("help", "show the help of evalctl or of a command");
  help->add_option("COMMAND", topic, "the command (and subcommand) to explain");
  SetExamples(*help, {"evalctl help datasets fetch"});
  std::string shell;
  CLI::App* completion = root.add_subcommand(
      "completion", "print the shell completion script for bash, zsh or fish");
  completion->add_option("SHELL", shell, "the shell")
      ->required()
      ->type_name("bash|zsh|fish");
  SetExamples(*completion, {"source <(evalctl completion bash)"});
  std::string man_dir;
  CLI::App* man =
      root.add_subcommand("help-man", "write the man pages into DIR");
  man->group("");  // for the build, not for people
  man->add_option("DIR", man_dir, "the folder")->required();

  absl::StatusOr<ParseResult> parsed = Parse(root, args);
  if (!parsed.ok()) {
    err << parsed.status().message() << "\n";
    return kExitInvalidInput;
  }
  if (parsed->help) {
    out << HelpText(*parsed->command, parsed->command == &root
                                          ? RootSections()
                                          : std::vector<HelpSection>{});
    return kExitOk;
  }
  if (parsed->early_exit) {  // --version
    out << daemon::VersionLine() << "\n";
    return kExitOk;
  }
  if (root.get_subcommands().empty()) {
    err << HelpText(root, RootSections());
    return kExitInvalidInput;
  }
  CLI::App* command = root.get_subcommands().front();
  if (command == help) {
    const CLI::App* shown = &root;
    for (const std::string& name : topic) {
      const CLI::App* next = nullptr;
      std::vector<std::string> names;
      for (const CLI::App* sub : VisibleSubcommands(*shown)) {
        if (sub->get_name() == name) next = sub;
        names.push_back(sub->get_name());
      }
      if (next == nullptr) {
        const std::string nearest = Nearest(name, names);
        err << "evalctl help: unknown command '" << name << "'"
            << (nearest.empty() ? " (see evalctl --help)"
                                : "; did you mean '" + nearest + "'?")
            << "\n";
        return kExitInvalidInput;
      }
      shown = next;
    }
    out << HelpText(
        *shown, shown == &root ? RootSections() : std::vector<HelpSection>{});
    return kExitOk;
  }
  if (command == completion) {
    absl::StatusOr<std::string> script = CompletionScript(root, shell);
    if (!script.ok()) {
      err << "evalctl completion: " << script.status().message() << "\n";
      return kExitInvalidInput;
    }
    out << *script;
    return kExitOk;
  }
  if (command == man) {
    if (absl::Status s = WriteManPages(root, man_dir); !s.ok()) {
      err << "evalctl: " << s.message() << "\n";
      return kExitRunFailed;
    }
    return kExitOk;
  }
  // The words after the command's name, as given (for the command's own use).
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == command->get_name()) {
      rest.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                  args.end());
      break;
    }
  }
  CommandContext context{
      .global = global, .args = std::move(rest), .out = out, .err = err};
  return runs[command](context);
}

}  // namespace evald::daemon::cli
