// File: runners/native/tokenizer/json_util.h
// -----------------------------------------------------------------------------
// Checked access to tokenizer.json / tokenizer_config.json fields: every
// failure is an InvalidArgument "<file>: <json path>: <what>" instead of the
// abort base::Json gives on a wrong-type access. Header-only, pure.
#ifndef EVALD_RUNNERS_NATIVE_TOKENIZER_JSON_UTIL_H_
#define EVALD_RUNNERS_NATIVE_TOKENIZER_JSON_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/json.h"

namespace evald::engine::tokenizer_internal {

inline absl::Status JsonError(absl::string_view file, absl::string_view path,
                              absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": ", path, ": ", what));
}

inline std::string JoinPath(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}
inline std::string IndexPath(absl::string_view parent, size_t i) {
  return absl::StrCat(parent, "[", i, "]");
}

// A present, non-null member, or nullptr.
inline const base::Json* Member(const base::Json& obj, absl::string_view key) {
  const base::Json* j = obj.Find(key);
  return (j == nullptr || j->is_null()) ? nullptr : j;
}

inline absl::StatusOr<std::string> StringMember(const base::Json& obj, absl::string_view key,
                                                absl::string_view file, absl::string_view path,
                                                const std::string* default_value = nullptr) {
  const base::Json* j = Member(obj, key);
  if (j == nullptr) {
    if (default_value != nullptr) return *default_value;
    return JsonError(file, JoinPath(path, key), "missing");
  }
  if (!j->is_string()) return JsonError(file, JoinPath(path, key), "expected a string");
  return j->string_value();
}

inline absl::StatusOr<bool> BoolMember(const base::Json& obj, absl::string_view key,
                                       bool default_value, absl::string_view file,
                                       absl::string_view path) {
  const base::Json* j = Member(obj, key);
  if (j == nullptr) return default_value;
  if (!j->is_bool()) return JsonError(file, JoinPath(path, key), "expected true or false");
  return j->bool_value();
}

inline absl::StatusOr<int64_t> IntMember(const base::Json& obj, absl::string_view key,
                                         int64_t default_value, absl::string_view file,
                                         absl::string_view path) {
  const base::Json* j = Member(obj, key);
  if (j == nullptr) return default_value;
  if (!j->is_int()) return JsonError(file, JoinPath(path, key), "expected an integer");
  return j->int_value();
}

}  // namespace evald::engine::tokenizer_internal

#endif  // EVALD_RUNNERS_NATIVE_TOKENIZER_JSON_UTIL_H_
