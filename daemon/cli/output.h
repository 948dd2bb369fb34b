// File: daemon/cli/output.h
// -----------------------------------------------------------------------------
// How evalctl commands print a result for machines: `--json` (one JSON
// document on one line) or `-o json|yaml|table` on the commands that print a
// table (`-o json` is `--json`; YAML carries the same data as the JSON, built
// from it with yaml-cpp's emitter). Commands that print records as they
// arrive (samples) also take `-o jsonl`: one JSON object per line.
//
// Thread-safety: pure functions.
#ifndef EVALD_DAEMON_CLI_OUTPUT_H_
#define EVALD_DAEMON_CLI_OUTPUT_H_

#include <string>

#include "absl/status/statusor.h"
#include "base/json.h"

namespace CLI {
class App;
}  // namespace CLI

namespace evald::daemon::cli {

enum class OutputFormat { kTable, kJson, kYaml, kJsonLines };

// Adds "-o, --output FORMAT" (json|yaml|table, and jsonl when `jsonl`).
void AddOutputFlag(CLI::App& command, std::string* output, bool jsonl = false);

// The format that --json (`json`) and -o (`output`, "" when not given)
// choose. InvalidArgument naming -o for an unknown format or one that
// contradicts --json.
absl::StatusOr<OutputFormat> ResolveOutput(bool json, const std::string& output,
                                           bool jsonl = false);

// A block YAML document of `value`, ending in a newline. Strings YAML would
// read as another type ("12", "true", "null", "") are quoted, so the
// document reads back as the same data.
std::string JsonToYaml(const base::Json& value);

// One element of a block sequence ("- key: value\n  key: value\n"), for
// printing a list element by element.
std::string YamlSequenceItem(const base::Json& value);

// `value` in `format` (JSON: one line; YAML: a document), ending in a
// newline. REQUIRES: format is kJson or kYaml.
std::string FormatDocument(OutputFormat format, const base::Json& value);

}  // namespace evald::daemon::cli

#endif  // EVALD_DAEMON_CLI_OUTPUT_H_
