#include "runners/native/model/model.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "runners/native/model/architecture.h"
#include "runners/native/model/config_parser.h"
#include "runners/native/model/decoder_model.h"
#include "runners/native/model/safetensors.h"

namespace evald::engine {

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& dir,
                                                   const LoadOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  const Architecture* arch = FindArchitecture(config.architecture);
  if (arch == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, "/config.json: unknown architecture '", config.architecture,
        "' (known: ", absl::StrJoin(RegisteredArchitectures(), ", "), ")"));
  }
  RETURN_IF_ERROR(arch->FinalizeConfig(&config));
  ASSIGN_OR_RETURN(std::unique_ptr<TensorStore> store, TensorStore::Open(dir));
  WeightLoader loader(store.get());
  absl::StatusOr<DecoderWeights> weights = arch->LoadWeights(config, &loader);
  if (!weights.ok()) {
    return absl::Status(weights.status().code(),
                        absl::StrCat(dir, ": ", weights.status().message()));
  }
  return CreateDecoderModel(std::move(config), std::move(store), *std::move(weights), options);
}

}  // namespace evald::engine
