// File: jinja/builtins.h
// -----------------------------------------------------------------------------
// Filters, tests, Python methods and global functions of the Jinja
// interpreter (internal to the renderer). Semantics follow jinja2 and Python
// 3 as Hugging Face's chat-template environment exposes them. Pure functions
// of their arguments; thread-safe.
#ifndef EVALD_JINJA_BUILTINS_H_
#define EVALD_JINJA_BUILTINS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "jinja/value.h"

namespace evald::jinja {

struct BuiltinLimits {
  // Largest string or list a builtin may build.
  size_t max_size = 16 << 20;
};

absl::StatusOr<Value> ApplyFilter(absl::string_view name, const Value& operand,
                                  std::vector<Value> args, KwArgs kwargs,
                                  const BuiltinLimits& limits);
absl::StatusOr<bool> ApplyTest(absl::string_view name, const Value& operand,
                               const std::vector<Value>& args);

// obj.name: dict members (methods first, as Python getattr), namespace
// attributes, bound str/dict methods; undefined when absent.
Value GetAttribute(const Value& obj, const std::string& name,
                   const BuiltinLimits& limits);
// obj[key]; undefined when absent or out of range.
Value GetItem(const Value& obj, const Value& key, const BuiltinLimits& limits);
// obj[start:stop:step] on lists and strings (code points).
absl::StatusOr<Value> GetSlice(const Value& obj, const Value& start,
                               const Value& stop, const Value& step);

// Python `item in container`.
absl::StatusOr<bool> Contains(const Value& container, const Value& item);
// Iteration: list items, dict keys, string characters; undefined is empty.
absl::StatusOr<ValueList> Iterate(const Value& value);
// len(); strings count code points.
absl::StatusOr<int64_t> Length(const Value& value);

// Binary operators + - * / // % ** ~.
absl::StatusOr<Value> BinaryOp(absl::string_view op, const Value& a,
                               const Value& b, const BuiltinLimits& limits);

// Python datetime.strftime for a UTC instant (C locale names).
std::string FormatTime(int64_t unix_seconds, absl::string_view format);

}  // namespace evald::jinja

#endif  // EVALD_JINJA_BUILTINS_H_
