// File: runners/native/model/config_parser.h
// -----------------------------------------------------------------------------
// config.json -> ModelConfig, with Hugging Face's defaults: head_dim =
// hidden_size / num_attention_heads unless given, num_key_value_heads =
// num_attention_heads unless given, `rope_scaling` read from `rope_type` or
// the older `type`, `eos_token_id` an int or a list. Errors are
// InvalidArgument naming the file and the field.
//
// Thread-safety: stateless functions.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_CONFIG_PARSER_H_
#define EVALD_RUNNERS_NATIVE_MODEL_CONFIG_PARSER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runners/native/model/model_config.h"

namespace evald::runners::native::model {

// `file_name` is used only in error messages.
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text,
                                             absl::string_view file_name);

// Reads `dir`/config.json.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& dir);

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_CONFIG_PARSER_H_
