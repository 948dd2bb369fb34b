// File: daemon/cli/evalctl_app.h
// -----------------------------------------------------------------------------
// evalctl's command line: the global flags, every registered command as a
// CLI11 subcommand, and the built-in commands `help [COMMAND]`,
// `completion bash|zsh|fish` and the hidden `help-man DIR` (writes the man
// pages; the build runs it).
//
// Thread-safety: one call at a time per stream pair; the registry is only read.
#ifndef EVALD_DAEMON_CLI_EVALCTL_APP_H_
#define EVALD_DAEMON_CLI_EVALCTL_APP_H_

#include <iosfwd>
#include <string>
#include <vector>

#include "daemon/cli/command.h"

namespace evald::daemon::cli {

// Runs evalctl on `args` (argv without argv[0]), starting from `global` (the
// values the environment gave); returns the exit code.
int RunEvalctl(const std::vector<std::string>& args, GlobalOptions global,
               std::ostream& out, std::ostream& err);

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_EVALCTL_APP_H_
