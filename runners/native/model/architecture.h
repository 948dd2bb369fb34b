// File: runners/native/model/architecture.h
// -----------------------------------------------------------------------------
// The architecture registry. Each architecture lives in its own file
// (arch_<name>.cc) and registers itself by its config.json `architectures`
// name with EVALD_REGISTER_ARCHITECTURE; Model::Load looks the name up here.
// There is no central list to edit when adding one.
//
// Thread-safety: registration happens during static initialization; lookups
// afterwards are read-only and safe from any thread.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_ARCHITECTURE_H_
#define EVALD_RUNNERS_NATIVE_MODEL_ARCHITECTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runners/native/model/decoder_weights.h"
#include "runners/native/model/model_config.h"

namespace evald::runners::native::model {

class Architecture {
 public:
  virtual ~Architecture() = default;
  // Applies what the architecture implies but config.json does not say (e.g.
  // Qwen2's q/k/v biases) and rejects settings it cannot run.
  virtual absl::Status FinalizeConfig(ModelConfig* config) const = 0;
  // Maps the checkpoint's tensors into the weights struct, checking shapes.
  virtual absl::StatusOr<DecoderWeights> LoadWeights(
      const ModelConfig& config, WeightLoader* loader) const = 0;
};

using ArchitectureFactory = std::unique_ptr<Architecture> (*)();

// Returns true so it can initialize a namespace-scope constant.
bool RegisterArchitecture(const char* name, ArchitectureFactory factory);
// nullptr when unknown.
const Architecture* FindArchitecture(absl::string_view name);
std::vector<std::string> RegisteredArchitectures();

}  // namespace evald::runners::native::model

#define EVALD_REGISTER_ARCHITECTURE(name, type)                     \
  [[maybe_unused]] static const bool evald_arch_registered_##type = \
      ::evald::runners::native::model::RegisterArchitecture(        \
          name,                                                     \
          []() -> std::unique_ptr<                                  \
                   ::evald::runners::native::model::Architecture> { \
            return std::make_unique<type>();                        \
          })

#endif  // EVALD_RUNNERS_NATIVE_MODEL_ARCHITECTURE_H_
