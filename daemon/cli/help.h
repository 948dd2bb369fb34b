// File: daemon/cli/help.h
// -----------------------------------------------------------------------------
// `--help` text generated from the CLI11 declarations of a command (its
// summary, positionals, flags with their value names and descriptions,
// subcommands and the examples in its footer), so the help and the parser
// cannot disagree.
//
// Thread-safety: pure functions.
#ifndef EVALD_DAEMON_CLI_HELP_H_
#define EVALD_DAEMON_CLI_HELP_H_

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace evald::cli {

// A section a root adds to its help ("exit codes", "environment").
struct HelpSection {
  std::string title;  // lower case
  std::string text;   // paragraphs separated by blank lines
};

// "evalctl prompt TASK --doc ID|all [flags]".
std::string UsageLine(const CLI::App& command);

// usage, summary, arguments, flags, the flags of its parents ("global
// flags"), subcommands, examples and `extra`, for a terminal.
std::string HelpText(const CLI::App& command, const std::vector<HelpSection>& extra = {});

}  // namespace evald::cli

#endif  // EVALD_DAEMON_CLI_HELP_H_
