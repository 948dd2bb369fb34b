#include "daemon/cli/command.h"

#include <cstdlib>
#include <map>

#include "base/logging.h"
#include "daemon/cli/evalctl_app.h"

namespace evald::daemon::cli {
namespace {

// Function-local so registration from other translation units' static
// initializers never sees it unconstructed.
std::map<std::string, CommandInfo>& Registry() {
  static auto* registry = new std::map<std::string, CommandInfo>();
  return *registry;
}

}  // namespace

bool RegisterCommand(CommandInfo info) {
  CHECK(!info.name.empty()) << "a command needs a name";
  CHECK(info.setup != nullptr)
      << "evalctl command '" << info.name << "' has no setup";
  const std::string name = info.name;
  info.fn = [name](CommandContext& context) {
    std::vector<std::string> args = {name};
    args.insert(args.end(), context.args.begin(), context.args.end());
    return RunEvalctl(args, context.global, context.out, context.err);
  };
  auto [it, inserted] = Registry().emplace(name, std::move(info));
  CHECK(inserted) << "evalctl command '" << it->first << "' registered twice";
  return true;
}

const CommandInfo* FindCommand(const std::string& name) {
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : &it->second;
}

std::vector<const CommandInfo*> AllCommands() {
  std::vector<const CommandInfo*> out;
  for (const auto& [name, info] : Registry()) out.push_back(&info);
  return out;
}

std::string DefaultDataDir() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/share/evald";
}

std::string DefaultDatasetPath(const std::string& task,
                               const std::string& data_dir) {
  const std::string dataset = task.substr(0, task.find('_'));
  return (data_dir.empty() ? DefaultDataDir() : data_dir) + "/datasets/" +
         dataset;
}

}  // namespace evald::daemon::cli
