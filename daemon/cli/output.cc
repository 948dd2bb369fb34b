#include "daemon/cli/output.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace evald::daemon::cli {
namespace {

// Strings a YAML reader would take for a number, a boolean or null, or that
// lose their exact bytes unquoted (line breaks, edge spaces).
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  double number;
  if (absl::SimpleAtod(s, &number)) return true;
  const std::string lower = absl::AsciiStrToLower(s);
  for (const char* word : {"true", "false", "yes", "no", "on", "off", "y", "n",
                           "null", "~", ".nan", ".inf", "-.inf", "+.inf"}) {
    if (lower == word) return true;
  }
  if (s.front() == ' ' || s.back() == ' ') return true;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

void EmitString(YAML::Emitter& e, const std::string& s) {
  if (NeedsQuotes(s)) e << YAML::DoubleQuoted;
  e << s;
}

// The shortest digits that read back as `v`, as JSON prints them.
std::string NumberText(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  for (int precision = 1; precision <= 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, v);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == v) return text;
  }
  return absl::StrFormat("%.17g", v);
}

void Emit(YAML::Emitter& e, const base::Json& v) {
  switch (v.type()) {
    case base::Json::Type::kNull:
      e << YAML::Null;
      break;
    case base::Json::Type::kBool:
      e << v.bool_value();
      break;
    case base::Json::Type::kNumber:
      if (v.is_int()) {
        e << v.int_value();
      } else {
        e << NumberText(
            v.number_value());  // a plain scalar: reads back as a number
      }
      break;
    case base::Json::Type::kString:
      EmitString(e, v.string_value());
      break;
    case base::Json::Type::kArray:
      if (v.array().empty()) e << YAML::Flow;
      e << YAML::BeginSeq;
      for (const base::Json& item : v.array()) Emit(e, item);
      e << YAML::EndSeq;
      break;
    case base::Json::Type::kObject:
      if (v.object().empty()) e << YAML::Flow;
      e << YAML::BeginMap;
      for (const auto& [key, value] : v.object()) {
        e << YAML::Key;
        EmitString(e, key);
        e << YAML::Value;
        Emit(e, value);
      }
      e << YAML::EndMap;
      break;
  }
}

}  // namespace

void AddOutputFlag(CLI::App& command, std::string* output, bool jsonl) {
  command
      .add_option(
          "-o,--output", *output,
          jsonl
              ? "output format: json (as --json), jsonl (one JSON object per "
                "line, "
                "printed as they arrive), yaml or table (the default)"
              : "output format: json (as --json), yaml or table (the default)")
      ->type_name(jsonl ? "json|jsonl|yaml|table" : "json|yaml|table");
}

absl::StatusOr<OutputFormat> ResolveOutput(bool json, const std::string& output,
                                           bool jsonl) {
  OutputFormat format = json ? OutputFormat::kJson : OutputFormat::kTable;
  if (output.empty()) return format;
  if (output == "json") {
    format = OutputFormat::kJson;
  } else if (output == "yaml") {
    format = OutputFormat::kYaml;
  } else if (output == "table") {
    format = OutputFormat::kTable;
  } else if (output == "jsonl" && jsonl) {
    format = OutputFormat::kJsonLines;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("-o ", output, ": expected json, ", jsonl ? "jsonl, " : "",
                     "yaml or table"));
  }
  if (json && format != OutputFormat::kJson) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--json and -o ", output, " ask for different formats; give one"));
  }
  return format;
}

// yaml-cpp's emitter reports trouble (bytes that are not UTF-8) by state,
// not by exception; JSON is valid YAML, so the same data is printed as JSON
// then.
std::string JsonToYaml(const base::Json& value) {
  YAML::Emitter e;
  Emit(e, value);
  if (!e.good()) return absl::StrCat(value.Dump(), "\n");
  return absl::StrCat(e.c_str(), "\n");
}

std::string YamlSequenceItem(const base::Json& value) {
  YAML::Emitter e;
  e << YAML::BeginSeq;
  Emit(e, value);
  e << YAML::EndSeq;
  if (!e.good()) return absl::StrCat("- ", value.Dump(), "\n");
  return absl::StrCat(e.c_str(), "\n");
}

std::string FormatDocument(OutputFormat format, const base::Json& value) {
  if (format == OutputFormat::kYaml) return JsonToYaml(value);
  return absl::StrCat(value.Dump(), "\n");
}

}  // namespace evald::daemon::cli
