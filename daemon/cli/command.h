// File: daemon/cli/command.h
// -----------------------------------------------------------------------------
// evalctl subcommands register themselves here by name, so a new command is a
// new file (no central switch). Each registration brings a setup function that
// declares the command's flags and positionals on its own CLI11 subcommand
// (one parser for every command: help, completion and man pages are generated
// from those declarations) and returns the function that runs the command
// with the values parsed into it.
//
// Exit codes (documented in the README): 0 success, 1 the run failed,
// 2 invalid input (a usage error too), 3 daemon unreachable, 4 gate
// inconclusive.
//
// Thread-safety: registration happens in static initializers, before main;
// afterwards the registry is only read.
#ifndef EVALD_DAEMON_CLI_COMMAND_H_
#define EVALD_DAEMON_CLI_COMMAND_H_

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace evald::daemon::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRunFailed = 1;
inline constexpr int kExitInvalidInput = 2;
inline constexpr int kExitUnreachable = 3;
inline constexpr int kExitInconclusive = 4;

// Global options: before or after the command name, or from the environment.
struct GlobalOptions {
  std::string addr;      // --addr or EVALD_ADDR; "" = the default socket
  std::string data_dir;  // --data-dir or EVALD_DATA_DIR
  std::string token_file;
  bool json = false;  // --json
};

struct CommandContext {
  const GlobalOptions& global;
  std::vector<std::string> args;  // the words after the command name, as given
  std::ostream& out;
  std::ostream& err;
};

using CommandFn = std::function<int(CommandContext& context)>;
// Declares the command's flags and positionals on `command` (bound to storage
// the returned function owns) and returns the function that runs it.
using CommandSetup = std::function<CommandFn(CLI::App& command)>;

struct CommandInfo {
  std::string name;
  std::string summary;  // one line, lower case, for `evalctl --help`
  std::string example;  // one command line shown by --help and the man page
  CommandSetup setup;
  // Set by RegisterCommand: parses context.args as evalctl does (starting
  // from context.global) and runs the command. For callers in process.
  CommandFn fn = nullptr;
};

// evald's default data dir, $HOME/.local/share/evald, used when neither
// --data-dir nor EVALD_DATA_DIR is given.
std::string DefaultDataDir();

// Where `evalctl datasets fetch` puts a task's dataset: <data_dir>/datasets/
// <dataset>, where a task name extends its dataset's (gsm8k_cot reads gsm8k).
// An empty `data_dir` means DefaultDataDir().
std::string DefaultDatasetPath(const std::string& task,
                               const std::string& data_dir);

// Registers a command (call from a static initializer in the command's file;
// link the command library with WHOLE_ARCHIVE so the registration is kept).
bool RegisterCommand(CommandInfo info);
const CommandInfo* FindCommand(const std::string& name);
// In name order.
std::vector<const CommandInfo*> AllCommands();

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_COMMAND_H_
