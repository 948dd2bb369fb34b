// File: daemon/cli/completion.h
// -----------------------------------------------------------------------------
// Shell completion scripts (bash, zsh, fish) generated from a CLI11 command
// tree: its visible commands and subcommands, each one's flags (with those of
// the parents it accepts), and the values a flag or argument takes when its
// value name lists them ("json|yaml|table", "ID|all" offers "all"). Flags
// whose values are not listed complete file names.
//
// Thread-safety: pure functions.
#ifndef EVALD_DAEMON_CLI_COMPLETION_H_
#define EVALD_DAEMON_CLI_COMPLETION_H_

#include <CLI/CLI.hpp>
#include <string>

#include "absl/status/statusor.h"

namespace evald::daemon::cli {

// The script for `shell` ("bash", "zsh" or "fish"); InvalidArgument names
// an unknown shell.
absl::StatusOr<std::string> CompletionScript(const CLI::App& root,
                                             const std::string& shell);

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_COMPLETION_H_
