// evalctl: the evald command-line client.
//
//   evalctl [--addr ADDR] [--data-dir DIR] [--token-file FILE] [--json] COMMAND [ARGS]
//
// Environment: EVALD_ADDR, EVALD_DATA_DIR, EVALD_TOKEN_FILE. Exit codes: 0
// success, 1 the run failed, 2 invalid input, 3 daemon unreachable,
// 4 gate inconclusive.
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "base/utf8.h"
#include "daemon/cli/command.h"

namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: evalctl [--addr ADDR] [--data-dir DIR] [--token-file FILE] [--json] COMMAND "
         "[ARGS]\n\ncommands:\n";
  for (const evald::cli::CommandInfo* c : evald::cli::AllCommands()) {
    out << "  " << c->usage << "\n      " << c->summary << "\n";
  }
  out << "\nexit codes: 0 ok, 1 run failed, 2 invalid input, 3 daemon unreachable, "
         "4 inconclusive\n";
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

int main(int argc, char** argv) {
  using evald::cli::kExitInvalidInput;
  // Everything evalctl sends or stores is text: refuse bytes that are not
  // UTF-8 here, naming the argument, rather than deep in a request.
  for (int a = 1; a < argc; ++a) {
    if (std::optional<size_t> bad = evald::base::FindInvalidUtf8(argv[a])) {
      std::cerr << "evalctl: argument " << a << " ('" << evald::base::EscapeInvalidUtf8(argv[a])
                << "') is not valid UTF-8 (byte " << *bad << ")\n";
      return kExitInvalidInput;
    }
  }
  evald::cli::GlobalOptions global;
  global.addr = Env("EVALD_ADDR");
  global.data_dir = Env("EVALD_DATA_DIR");
  global.token_file = Env("EVALD_TOKEN_FILE");
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (!absl::StartsWith(arg, "--")) break;
    std::string value;
    bool inline_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    auto take = [&](std::string* out) {
      if (inline_value) {
        *out = value;
        return true;
      }
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    bool ok = true;
    if (arg == "--addr") {
      ok = take(&global.addr);
    } else if (arg == "--data-dir") {
      ok = take(&global.data_dir);
    } else if (arg == "--token-file") {
      ok = take(&global.token_file);
    } else if (arg == "--json") {
      global.json = true;
    } else if (arg == "--help") {
      PrintUsage(std::cout);
      return 0;
    } else {
      std::cerr << "evalctl: unknown option '" << arg << "'\n";
      PrintUsage(std::cerr);
      return kExitInvalidInput;
    }
    if (!ok) {
      std::cerr << "evalctl: " << arg << " needs a value\n";
      return kExitInvalidInput;
    }
  }
  if (i >= argc) {
    PrintUsage(std::cerr);
    return kExitInvalidInput;
  }
  const std::string name = argv[i++];
  if (name == "help") {
    PrintUsage(std::cout);
    return 0;
  }
  const evald::cli::CommandInfo* command = evald::cli::FindCommand(name);
  if (command == nullptr) {
    std::cerr << "evalctl: unknown command '" << name << "' (see evalctl --help)\n";
    return kExitInvalidInput;
  }
  std::vector<std::string> args;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--json") {
      global.json = true;  // accepted after the command name too
    } else {
      args.push_back(std::move(arg));
    }
  }
  evald::cli::CommandContext context{.global = global, .args = std::move(args),
                                     .out = std::cout, .err = std::cerr};
  return command->fn(context);
}
