// File: tasks/lm_eval/yaml_reader.h
// -----------------------------------------------------------------------------
// The YAML half of the lm-eval task loader, inside tasks/lm_eval only:
// reading a file with a size cap, Python-YAML (PyYAML, YAML 1.1) scalar
// typing for `config_json`, and errors that name file:line:column. yaml-cpp
// throws; everything here catches at the call and returns a Status.
//
// Thread-safety: plain functions.
#ifndef EVALD_TASKS_LM_EVAL_YAML_READER_H_
#define EVALD_TASKS_LM_EVAL_YAML_READER_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/json.h"
#include "tasks/lm_eval/config.h"
#include "yaml-cpp/yaml.h"

namespace evald::tasks::lm_eval {

// A task YAML file is at most this many bytes.
inline constexpr size_t kMaxTaskYamlBytes = size_t{1} << 20;

// Where `node` was written in `file` (1-based line and column).
Origin OriginOf(const std::string& file, const YAML::Node& node);

// InvalidArgument "file:line:col: what".
absl::Status ErrorAt(const std::string& file, const YAML::Node& node,
                     absl::string_view what);

// Parses `text` (the contents of `file`) as one YAML document. Refuses text
// over kMaxTaskYamlBytes, bytes that are not UTF-8, malformed YAML, a top
// level that is not a mapping, and any `!function` or other local tag
// (Python), naming the key it is under.
absl::StatusOr<YAML::Node> ParseTaskYaml(absl::string_view text,
                                         const std::string& file);

// `node` as PyYAML would load it, as JSON: plain scalars typed as YAML 1.1
// does (null, bool, int, float with a dot; others strings), quoted scalars
// strings. Aliases expand; the whole value is capped at `max_nodes`.
absl::StatusOr<base::Json> YamlToJson(const YAML::Node& node,
                                      const std::string& file,
                                      size_t max_nodes = 200000);

// `status` with its message on one line (a newline or carriage return a
// user's text brought into it written as \n, \r).
absl::Status OneLine(const absl::Status& status);

// True for a plain (unquoted) scalar PyYAML reads as null (`~`, `null`,
// empty).
bool IsYamlNull(const YAML::Node& node);

}  // namespace evald::tasks::lm_eval

#endif  // EVALD_TASKS_LM_EVAL_YAML_READER_H_
