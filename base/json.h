// File: base/json.h
// -----------------------------------------------------------------------------
// A small JSON document model and strict RFC 8259 parser, used for
// config.json, tokenizer.json, safetensors headers, JSONL datasets and
// `--json` output. Objects keep their key order (chat templates iterate dicts
// in file order). Integers that fit int64 are kept exactly.
//
// Parse errors carry the line and column of the fault. Parsing is bounded in
// nesting depth so hostile input cannot overflow the stack.
//
// Thread-safety: a Json value is a plain value type; const access from many
// threads is safe.
#ifndef EVALD_BASE_JSON_H_
#define EVALD_BASE_JSON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::base {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;  // null
  static Json Null() { return Json(); }
  static Json Bool(bool b);
  static Json Int(int64_t v);
  static Json Double(double v);
  static Json String(std::string s);
  static Json MakeArray(Array a = {});
  static Json MakeObject(Object o = {});

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  // True when the number was written (or made) as an integer that fits int64.
  bool is_int() const { return type_ == Type::kNumber && is_int_; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors. REQUIRES: the matching type (checked; wrong type aborts, so
  // validate user input with the is_* predicates first).
  bool bool_value() const;
  int64_t int_value() const;  // REQUIRES: is_int()
  double number_value() const;
  const std::string& string_value() const;
  const Array& array() const;
  Array& mutable_array();
  const Object& object() const;
  Object& mutable_object();

  // Object member lookup (linear; first match). nullptr if absent or not an
  // object.
  const Json* Find(absl::string_view key) const;
  // Sets or replaces a member. REQUIRES: is_object().
  void Set(std::string key, Json value);
  // Appends to an array. REQUIRES: is_array().
  void Push(Json value);

  struct DumpOptions {
    // Indentation per level; negative means a single line.
    int indent = -1;
    // Python json.dumps default separators (", " and ": ") instead of the
    // compact "," and ":" (only when indent < 0).
    bool spaced_separators = false;
    // Escape every non-ASCII character as \uXXXX (Python's ensure_ascii).
    bool ensure_ascii = false;
  };
  std::string Dump() const { return Dump(DumpOptions()); }
  std::string Dump(const DumpOptions& options) const;

  friend bool operator==(const Json& a, const Json& b);

 private:
  void DumpTo(std::string* out, const DumpOptions& options, int depth) const;

  Type type_ = Type::kNull;
  bool bool_ = false;
  bool is_int_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  // Held by pointer because Json is incomplete here; the copy constructor
  // copies them deeply, so values never share state.
  std::shared_ptr<Array> array_;
  std::shared_ptr<Object> object_;

 public:
  Json(const Json& other);
  Json& operator=(const Json& other);
  Json(Json&&) noexcept = default;
  Json& operator=(Json&&) noexcept = default;
};

struct JsonParseOptions {
  // Maximum nesting depth of arrays and objects.
  int max_depth = 512;
  // Accept a lone UTF-16 surrogate escape (\ud800) by encoding it as WTF-8,
  // as Python's json.loads does; otherwise it is an error.
  bool allow_lone_surrogates = false;
  // Accept NaN, Infinity and -Infinity literals (Python's json.loads does).
  bool allow_nan_literals = false;
};

// Parses one JSON document (surrounding whitespace allowed). Errors read
// "line L, column C: <what>".
absl::StatusOr<Json> ParseJson(absl::string_view text,
                               const JsonParseOptions& options = {});

// Appends `s` as a JSON string literal (with quotes) to `out`.
void AppendJsonString(absl::string_view s, bool ensure_ascii, std::string* out);

// Formats a double as Python's repr() does (shortest round-trip digits,
// "1e+16" style exponents, "1.0" for integral values, "nan"/"inf").
std::string PythonFloatRepr(double v);

}  // namespace evald::base

#endif  // EVALD_BASE_JSON_H_
