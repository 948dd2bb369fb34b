// evalctl: the evald command-line client.
//
//   evalctl [--addr ADDR] [--data-dir DIR] [--token-file FILE] [--json] COMMAND
//   [ARGS]
//
// `evalctl --help` lists the commands, `evalctl COMMAND --help` explains one
// (daemon/cli/evalctl_app.h). Environment: EVALD_ADDR, EVALD_DATA_DIR,
// EVALD_TOKEN_FILE. Exit codes: 0 success, 1 the run failed, 2 invalid input,
// 3 daemon unreachable, 4 gate inconclusive.
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_app.h"

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

int main(int argc, char** argv) {
  // Everything evalctl sends or stores is text: refuse bytes that are not
  // UTF-8 here, naming the argument, rather than deep in a request.
  for (int a = 1; a < argc; ++a) {
    if (std::optional<size_t> bad = evald::base::FindInvalidUtf8(argv[a])) {
      std::cerr << "evalctl: argument " << a << " ('"
                << evald::base::EscapeInvalidUtf8(argv[a])
                << "') is not valid UTF-8 (byte " << *bad << ")\n";
      return evald::daemon::cli::kExitInvalidInput;
    }
  }
  evald::daemon::cli::GlobalOptions global;
  global.addr = Env("EVALD_ADDR");
  global.data_dir = Env("EVALD_DATA_DIR");
  global.token_file = Env("EVALD_TOKEN_FILE");
  return evald::daemon::cli::RunEvalctl(
      std::vector<std::string>(argv + 1, argv + argc), global, std::cout,
      std::cerr);
}
