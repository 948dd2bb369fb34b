#include "runners/native/model/architecture.h"

#include <algorithm>
#include <map>

namespace evald::runners::native::model {
namespace {

std::map<std::string, std::unique_ptr<Architecture>, std::less<>>& Registry() {
  static auto* registry =
      new std::map<std::string, std::unique_ptr<Architecture>, std::less<>>();
  return *registry;
}

}  // namespace

bool RegisterArchitecture(const char* name, ArchitectureFactory factory) {
  Registry()[name] = factory();
  return true;
}

const Architecture* FindArchitecture(absl::string_view name) {
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : it->second.get();
}

std::vector<std::string> RegisteredArchitectures() {
  std::vector<std::string> names;
  for (const auto& [name, arch] : Registry()) names.push_back(name);
  return names;
}

}  // namespace evald::runners::native::model
