// File: daemon/cli/help.h
// -----------------------------------------------------------------------------
// `--help` text and man pages, both generated from the CLI11 declarations of
// a command (its summary, positionals, flags with their value names and
// descriptions, subcommands and the examples in its footer), so the help, the
// man pages and the parser cannot disagree.
//
// Thread-safety: pure functions.
#ifndef EVALD_DAEMON_CLI_HELP_H_
#define EVALD_DAEMON_CLI_HELP_H_

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace evald::daemon::cli {

// A section a root adds to its help and man page ("exit codes", "environment").
struct HelpSection {
  std::string title;  // lower case; the man page upper-cases it
  std::string text;   // paragraphs separated by blank lines
};

// "evalctl prompt TASK --doc ID|all [flags]".
std::string UsageLine(const CLI::App& command);

// usage, summary, arguments, flags, the flags of its parents ("global
// flags"), subcommands, examples and `extra`, for a terminal.
std::string HelpText(const CLI::App& command,
                     const std::vector<HelpSection>& extra = {});

// The same as a man page in roff: NAME, SYNOPSIS, DESCRIPTION, ... with one
// section per visible subcommand of a non-root command (`datasets fetch`).
// `title` names the page ("evalctl-prompt"), `see_also` other pages
// ("evalctl(1)").
struct ManPageInfo {
  std::string title;
  int section = 1;
  std::string source;  // "evald 0.1.0"
  std::vector<HelpSection> extra = {};
  std::vector<std::string> see_also = {};
  // For a root whose commands have their own pages: "see evalctl-NAME(1)".
  bool commands_have_pages = false;
};
std::string ManPage(const CLI::App& command, const ManPageInfo& info);

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_HELP_H_
