// File: tasks/lm_eval/yaml_reader.cc
// -----------------------------------------------------------------------------
// PyYAML's scalar resolution (YAML 1.1), as lm-eval's loader reads task
// files: `yes`/`on` are booleans, `1e3` is a string (a float needs a dot),
// `0x1f` is an int, `~` is None.
#include "tasks/lm_eval/yaml_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/status_macros.h"
#include "base/utf8.h"

namespace evald::tasks::lm_eval {
namespace {

bool AllOf(absl::string_view s, absl::string_view chars) {
  if (s.empty()) return false;
  for (char c : s) {
    if (chars.find(c) == absl::string_view::npos) return false;
  }
  return true;
}

// PyYAML's int forms: 0b.., 0x.., 0.. (octal), decimal; '_' allowed.
std::optional<base::Json> ResolveInt(absl::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  int base = 10;
  absl::string_view digits = s;
  if (absl::StartsWith(s, "0b")) {
    base = 2;
    digits = s.substr(2);
    if (!AllOf(digits, "01_")) return std::nullopt;
  } else if (absl::StartsWith(s, "0x")) {
    base = 16;
    digits = s.substr(2);
    if (!AllOf(digits, "0123456789abcdefABCDEF_")) return std::nullopt;
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    digits = s.substr(1);
    if (!AllOf(digits, "01234567_")) return std::nullopt;
  } else {
    if (s == "0") return base::Json::Int(0);
    if (s[0] < '1' || s[0] > '9' || !AllOf(s, "0123456789_")) {
      return std::nullopt;
    }
  }
  std::string clean = absl::StrReplaceAll(digits, {{"_", ""}});
  if (clean.empty()) return std::nullopt;
  // Python ints are unbounded; past int64 the value is kept as a double.
  double as_double = 0;
  uint64_t value = 0;
  bool overflow = false;
  for (char c : clean) {
    const int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    as_double = as_double * base + d;
    if (value > (UINT64_MAX - d) / base) overflow = true;
    value = value * base + d;
  }
  if (overflow || value > static_cast<uint64_t>(INT64_MAX)) {
    return base::Json::Double(negative ? -as_double : as_double);
  }
  const int64_t v = static_cast<int64_t>(value);
  return base::Json::Int(negative ? -v : v);
}

// PyYAML's base-60 ints: "1:30" is 90 ([-+]?[1-9][0-9_]*(:[0-5]?[0-9])+).
std::optional<base::Json> ResolveSexagesimal(absl::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  const size_t colon = s.find(':');
  if (colon == absl::string_view::npos || colon == 0 || s[0] == '0') {
    return std::nullopt;
  }
  absl::string_view head = s.substr(0, colon);
  if (!AllOf(head, "0123456789_")) return std::nullopt;
  int64_t value = 0;
  for (char c : head) {
    if (c == '_') continue;
    if (value > (INT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  absl::string_view rest = s.substr(colon);
  while (!rest.empty()) {
    // ":d" or ":dd" with the first of two digits 0-5.
    rest.remove_prefix(1);
    size_t n = 0;
    while (n < rest.size() && n < 3 && rest[n] >= '0' && rest[n] <= '9') ++n;
    if (n == 0 || n > 2 || (n == 2 && rest[0] > '5')) return std::nullopt;
    if (n < rest.size() && rest[n] != ':') return std::nullopt;
    const int part =
        n == 1 ? rest[0] - '0' : (rest[0] - '0') * 10 + rest[1] - '0';
    if (value > (INT64_MAX - 59) / 60) return std::nullopt;
    value = value * 60 + part;
    rest.remove_prefix(n);
  }
  return base::Json::Int(negative ? -value : value);
}

// PyYAML's float forms: a dot is required ("1.", "1.5", ".5", "1.0e+3"),
// the exponent needs a sign; .inf / .nan.
std::optional<base::Json> ResolveFloat(absl::string_view s) {
  absl::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    return base::Json::Double(negative ? -INFINITY : INFINITY);
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return base::Json::Double(NAN);
  const size_t dot = body.find('.');
  if (dot == absl::string_view::npos) return std::nullopt;
  absl::string_view mantissa = body;
  absl::string_view exponent;
  const size_t e = body.find_first_of("eE");
  if (e != absl::string_view::npos) {
    if (e < dot) return std::nullopt;
    mantissa = body.substr(0, e);
    exponent = body.substr(e + 1);
    if (exponent.size() < 2 || (exponent[0] != '+' && exponent[0] != '-') ||
        !AllOf(exponent.substr(1), "0123456789")) {
      return std::nullopt;
    }
  }
  absl::string_view int_part = mantissa.substr(0, dot);
  absl::string_view frac = mantissa.substr(dot + 1);
  if (int_part.empty()) {
    // ".5": at least one digit after the dot.
    if (!AllOf(frac, "0123456789_")) return std::nullopt;
  } else {
    if (int_part[0] < '0' || int_part[0] > '9' ||
        !AllOf(int_part, "0123456789_")) {
      return std::nullopt;
    }
    if (!frac.empty() && !AllOf(frac, "0123456789_")) return std::nullopt;
  }
  std::string clean = absl::StrReplaceAll(body, {{"_", ""}});
  double v = 0;
  if (!absl::SimpleAtod(clean, &v)) return std::nullopt;
  return base::Json::Double(negative ? -v : v);
}

std::optional<base::Json> ResolvePlain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return base::Json::Null();
  }
  static const std::set<std::string>* const kTrue = new std::set<std::string>{
      "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
  static const std::set<std::string>* const kFalse = new std::set<std::string>{
      "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
  if (kTrue->count(s)) return base::Json::Bool(true);
  if (kFalse->count(s)) return base::Json::Bool(false);
  if (auto i = ResolveInt(s)) return i;
  if (auto i = ResolveSexagesimal(s)) return i;
  if (auto f = ResolveFloat(s)) return f;
  return std::nullopt;
}

absl::Status CheckTags(const YAML::Node& node, const std::string& file,
                       const std::string& key, size_t* budget) {
  if (*budget == 0) {
    return ErrorAt(file, node, "too many YAML nodes (aliases expand too far)");
  }
  --*budget;
  const std::string& tag = node.Tag();
  if (tag == "!function") {
    return ErrorAt(file, node,
                   absl::StrCat("key '", key,
                                "' needs Python (!function), which evald "
                                "does not run"));
  }
  if (!tag.empty() && tag != "?" && tag != "!" &&
      !absl::StartsWith(tag, "tag:yaml.org,2002:")) {
    return ErrorAt(file, node,
                   absl::StrCat("key '", key, "': YAML tag '", tag,
                                "' is not supported (it would need Python)"));
  }
  if (node.IsMap()) {
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        return ErrorAt(
            file, it->first,
            absl::StrCat("key under '", key, "' is not a plain name"));
      }
      const std::string name = it->first.Scalar();
      if (!seen.insert(name).second) {
        return ErrorAt(file, it->first,
                       absl::StrCat("key '", name, "' is given twice"));
      }
      RETURN_IF_ERROR(CheckTags(it->first, file, name, budget));
      RETURN_IF_ERROR(CheckTags(it->second, file, name, budget));
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      RETURN_IF_ERROR(
          CheckTags(node[i], file, absl::StrCat(key, "[", i, "]"), budget));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<base::Json> ToJson(const YAML::Node& node,
                                  const std::string& file, size_t* budget) {
  if (*budget == 0) {
    return ErrorAt(file, node, "too many YAML nodes (aliases expand too far)");
  }
  --*budget;
  if (!node.IsDefined() || node.IsNull()) return base::Json::Null();
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    const std::string& tag = node.Tag();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      return base::Json::String(s);
    }
    if (std::optional<base::Json> v = ResolvePlain(s)) return *v;
    return base::Json::String(s);
  }
  if (node.IsSequence()) {
    base::Json out = base::Json::MakeArray();
    for (size_t i = 0; i < node.size(); ++i) {
      ASSIGN_OR_RETURN(base::Json v, ToJson(node[i], file, budget));
      out.Push(std::move(v));
    }
    return out;
  }
  base::Json out = base::Json::MakeObject();
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      return ErrorAt(file, it->first, "a mapping key is not a plain name");
    }
    ASSIGN_OR_RETURN(base::Json v, ToJson(it->second, file, budget));
    out.Set(it->first.Scalar(), std::move(v));
  }
  return out;
}

}  // namespace

Origin OriginOf(const std::string& file, const YAML::Node& node) {
  Origin o;
  o.file = file;
  if (node.IsDefined()) {
    const YAML::Mark mark = node.Mark();
    if (!mark.is_null()) {
      o.line = mark.line + 1;
      o.column = mark.column + 1;
    }
  }
  return o;
}

absl::Status ErrorAt(const std::string& file, const YAML::Node& node,
                     absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(OriginOf(file, node).ToString(), ": ", what));
}

absl::Status OneLine(const absl::Status& status) {
  if (status.ok() ||
      status.message().find_first_of("\r\n") == absl::string_view::npos) {
    return status;
  }
  return absl::Status(
      status.code(),
      absl::StrReplaceAll(status.message(), {{"\n", "\\n"}, {"\r", "\\r"}}));
}

bool IsYamlNull(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return true;
  if (!node.IsScalar() || node.Tag() != "?") return false;
  const std::string& s = node.Scalar();
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

absl::StatusOr<YAML::Node> ParseTaskYaml(absl::string_view text,
                                         const std::string& file) {
  if (text.size() > kMaxTaskYamlBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": ", text.size(), " bytes; a task YAML file is at most ",
        kMaxTaskYamlBytes, " bytes (1 MiB)"));
  }
  if (std::optional<size_t> bad = base::FindInvalidUtf8(text)) {
    const size_t line = 1 + std::count(text.begin(), text.begin() + *bad, '\n');
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", line, ": not valid UTF-8 (byte ", *bad, ")"));
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file,
                       ": expected a mapping of lm-eval task keys "
                       "(task: ..., dataset_path: ...)"));
    }
    size_t budget = 200000;
    RETURN_IF_ERROR(CheckTags(root, file, "", &budget));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": invalid YAML: ", e.msg));
    }
    return absl::InvalidArgumentError(absl::StrCat(file, ":", e.mark.line + 1,
                                                   ":", e.mark.column + 1,
                                                   ": invalid YAML: ", e.msg));
  }
  return root;
}

absl::StatusOr<base::Json> YamlToJson(const YAML::Node& node,
                                      const std::string& file,
                                      size_t max_nodes) {
  size_t budget = max_nodes;
  try {
    return ToJson(node, file, &budget);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", e.msg));
  }
}

}  // namespace evald::tasks::lm_eval
