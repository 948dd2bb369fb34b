// File: daemon/cli/command.h
// -----------------------------------------------------------------------------
// evalctl subcommands register themselves here by name, so a new command is a
// new file (no central switch). evalctl's main parses the global flags, finds
// the command and calls it with the remaining arguments.
//
// Exit codes (documented in the README): 0 success, 1 the run failed,
// 2 invalid input, 3 daemon unreachable, 4 gate inconclusive.
#ifndef EVALD_DAEMON_CLI_COMMAND_H_
#define EVALD_DAEMON_CLI_COMMAND_H_

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace evald::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRunFailed = 1;
inline constexpr int kExitInvalidInput = 2;
inline constexpr int kExitUnreachable = 3;
inline constexpr int kExitInconclusive = 4;

// Global options parsed by evalctl's main before the command name.
struct GlobalOptions {
  std::string addr;      // --addr or EVALD_ADDR; "" = the default socket
  std::string data_dir;  // --data-dir or EVALD_DATA_DIR
  std::string token_file;
  bool json = false;     // --json (also accepted after the command name)
};

struct CommandContext {
  const GlobalOptions& global;
  std::vector<std::string> args;  // arguments after the command name
  std::ostream& out;
  std::ostream& err;
};

using CommandFn = std::function<int(CommandContext& context)>;

struct CommandInfo {
  std::string name;
  std::string usage;    // one line, e.g. "prompt TASK --data PATH --doc ID|all"
  std::string summary;  // one line
  CommandFn fn;
};

// evald's default data dir, $HOME/.local/share/evald, used when neither
// --data-dir nor EVALD_DATA_DIR is given.
std::string DefaultDataDir();

// Where `evalctl datasets fetch` puts a task's dataset: <data_dir>/datasets/
// <dataset>, where a task name extends its dataset's (gsm8k_cot reads gsm8k).
// An empty `data_dir` means DefaultDataDir().
std::string DefaultDatasetPath(const std::string& task, const std::string& data_dir);

// Registers a command (call from a static initializer in the command's file;
// link the command library with WHOLE_ARCHIVE so the registration is kept).
bool RegisterCommand(CommandInfo info);
const CommandInfo* FindCommand(const std::string& name);
std::vector<const CommandInfo*> AllCommands();

}  // namespace evald::cli

#endif  // EVALD_DAEMON_CLI_COMMAND_H_
