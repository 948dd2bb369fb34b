// File: daemon/cli/parse.h
// -----------------------------------------------------------------------------
// CLI11 as evald and evalctl use it. Every parse error becomes one line that
// starts with the command's path and names the flag or word at fault (an
// unknown flag or command comes with the nearest known one); help requests are
// a result, not an exception. Flags take `--flag value` and `--flag=value`;
// a flag given twice keeps its last value unless declared repeatable.
//
// Thread-safety: the functions are pure over the App they are given.
#ifndef EVALD_DAEMON_CLI_PARSE_H_
#define EVALD_DAEMON_CLI_PARSE_H_

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace evald::daemon::cli {

// Settings for a root app, inherited by the subcommands added afterwards:
// the root's flags are accepted after a subcommand's name too (fallthrough),
// words that match nothing are collected so Parse can name them, and a
// value flag given twice keeps the last value.
void ConfigureRoot(CLI::App& root);

// A flag (or an option with a value) that ends the parse as soon as it is
// seen, before required flags are checked, so `evald --version` needs no
// --data-dir: Parse returns with `early_exit`, the bound variable set.
CLI::Option* AddEarlyFlag(CLI::App& app, const std::string& name, bool* seen,
                          const std::string& description);
CLI::Option* AddEarlyOption(CLI::App& app, const std::string& name,
                            std::string* value, const std::string& description);

// "--NAME VALUE" that may be given several times, each adding one value (a
// following word is never taken as a second value).
CLI::Option* AddRepeated(CLI::App& app, const std::string& name,
                         std::vector<std::string>* values,
                         const std::string& description);

// A visible subcommand's examples live in its footer, one command line per
// line (shown by --help and the man pages).
void SetExamples(CLI::App& command, const std::vector<std::string>& examples);
std::vector<std::string> Examples(const CLI::App& command);

struct ParseResult {
  // The deepest command named on the line (the root when none).
  CLI::App* command = nullptr;
  bool help = false;        // -h/--help: show `command`'s help, run nothing
  bool early_exit = false;  // an AddEarlyFlag/AddEarlyOption was given
};

// Parses `args` (argv without argv[0]) into the variables bound to `root`.
// InvalidArgument, one line: "evalctl prompt: unknown flag '--dco'; did you
// mean '--doc'?", "evalctl submit: SUITE is required", ...
absl::StatusOr<ParseResult> Parse(CLI::App& root,
                                  const std::vector<std::string>& args);

// "evalctl datasets fetch": the names from the root down to `command`.
std::string CommandPath(const CLI::App& command);

// The visible subcommands of `command`, in name order.
std::vector<const CLI::App*> VisibleSubcommands(const CLI::App& command);
// Every flag name `command` accepts ("--doc", "-o"), its parents' included.
std::vector<std::string> AcceptedFlagNames(const CLI::App& command);

// The candidate nearest to `word` (edit distance, or a prefix of at least
// three characters), or "" when none is near enough to be a likely typo.
std::string Nearest(const std::string& word,
                    const std::vector<std::string>& candidates);

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_PARSE_H_
