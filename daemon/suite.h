// File: daemon/suite.h
// -----------------------------------------------------------------------------
// suite.yaml (schema v1) → RunSpec. The schema is documented in
// docs/suite.md. Parsing is strict: unknown keys, wrong types, duplicate
// keys and missing required fields are InvalidArgument errors of one line,
//   "suite.yaml:LINE:COL: field 'tasks[1].shots': expected an integer, got
//   'five'"
// `--set a.b=c` overrides are applied to the document before validation; an
// error in an overridden value names the override instead of a line.
// Relative paths (model folders, task data) resolve against the folder of the
// suite file, and come out absolute.
//
// Thread-safety: free functions without shared state.
#ifndef EVALD_DAEMON_SUITE_H_
#define EVALD_DAEMON_SUITE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/store.pb.h"
#include "tasks/task.h"

namespace evald::daemon {

struct SuiteSource {
  // The YAML text.
  std::string text;
  // How errors name the file (usually the path as the user typed it).
  std::string display_name = "suite.yaml";
  // Folder that relative paths resolve against; "" = the current directory.
  std::string base_dir;
};

// The largest suite text accepted (it is stored with every run it starts).
inline constexpr size_t kMaxSuiteBytes = 1 << 20;
// Labels are listed and filtered on; they stay short.
inline constexpr size_t kMaxLabelKeyBytes = 128;
inline constexpr size_t kMaxLabelValueBytes = 1024;
inline constexpr int64_t kMaxShards = 4096;  // cluster.slurm.shards

// The checks every run spec passes before it is stored, whether it came from
// ParseSuite or from another gRPC client: sizes within the limits above and
// every string valid UTF-8 (errors name the field). ParseSuite applies them.
absl::Status ValidateSpecBounds(const v1::RunSpec& spec);

// Parses `source` with `overrides` ("a.b=c", "tasks[0].limit=5") applied.
// The returned spec has suite_yaml set to the text; suite_path is left empty.
absl::StatusOr<v1::RunSpec> ParseSuite(const SuiteSource& source,
                                       absl::Span<const std::string> overrides);

// Reads `path` and parses it; suite_path is the absolute path of the file.
absl::StatusOr<v1::RunSpec> ParseSuiteFile(
    const std::string& path, absl::Span<const std::string> overrides);

// The dataset folder name a task reads by default (gsm8k_cot* → gsm8k).
std::string DefaultDatasetName(absl::string_view task_name);

// The options a task of `spec` is created with. A task without `data:` reads
// <data_dir>/datasets/<dataset>.
tasks::TaskOptions TaskOptionsFor(const v1::RunSpec& spec,
                                  const v1::TaskSpec& task,
                                  const std::string& data_dir);

// Creates task `task` of `spec` (TaskOptionsFor); an error is prefixed with
// "task 'NAME': ".
absl::StatusOr<std::unique_ptr<tasks::Task>> CreateSpecTask(
    const v1::RunSpec& spec, const v1::TaskSpec& task,
    const std::string& data_dir);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_SUITE_H_
