// File: base/json.h
// -----------------------------------------------------------------------------
// A small JSON document model and strict RFC 8259 parser, used for
// config.json, tokenizer.json, safetensors headers, JSONL datasets and
// `--json` output; and JsonReader, which reads their fields with checked types
// and errors that name the field. Objects keep their key order (chat
// templates iterate dicts in file order). Integers that fit int64 are kept
// exactly.
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

#include "absl/status/status.h"
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
  // read untrusted input through JsonReader, or test it with is_* first).
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

// Checked reads of a parsed document's fields, for input that is not trusted
// to have the right shape (config.json, tokenizer.json, request bodies). A
// JsonReader is a view of one value and the path that leads to it; every
// failed read is an InvalidArgument of one line naming the document and the
// field, with what was expected and what was found:
//
//   config.json: field 'rope_scaling.factor': expected a number, got "x"
//   config.json: field 'hidden_size' is missing
//
//   JsonReader r(json, "config.json");
//   ASSIGN_OR_RETURN(int64_t layers, r.Field("num_hidden_layers").Int(1, 1 <<
//   20)); ASSIGN_OR_RETURN(double theta,
//   r.Field("rope_theta").NumberOr(10000.0));
//
// With no `where` (a request body), a field's error starts "field '<path>'",
// so a caller can tell which field it is about.
//
// A member that is absent and one that is null read the same: both are
// missing, and the *Or readers give their fallback for them (Hugging Face's
// and OpenAI's own readers treat null as "not given").
//
// Ownership: a reader borrows the value and `where`; both must outlive it and
// the readers made from it. Thread-safety: const, so as safe as the value.
class JsonReader {
 public:
  // `where` names the document in errors ("config.json"; "" for none);
  // `path` is the value's path within it ("" for the root).
  explicit JsonReader(const Json& value, absl::string_view where = "",
                      std::string path = "");

  // The member `key` of an object (the first, should the key repeat), or the
  // item `index` of an array; absent when there is none, or when this is not
  // a container of that kind (check it with Object() or Array() first, so
  // that its own type is the error). Item(index) of an object is the value of
  // its index-th member, named by its key: it reads members in file order.
  JsonReader Field(absl::string_view key) const;
  JsonReader Item(size_t index) const;

  // False when absent or null.
  bool present() const { return value_ != nullptr; }
  // The value; a null Json when absent.
  const Json& json() const;
  // Items of an array, members of an object; 0 otherwise.
  size_t size() const;
  absl::string_view where() const { return where_; }
  // "rope_scaling.factor", "model.merges[3]", 'vocab["<s>"]'; "" at the root.
  const std::string& path() const { return path_; }

  // Reads of this value; absent is an error ("is missing"). An integer is a
  // number written without fraction or exponent that fits int64 (Json's
  // is_int); a number must be finite (1e999 parses as infinity).
  absl::StatusOr<int64_t> Int() const;
  absl::StatusOr<int64_t> Int(int64_t lo, int64_t hi) const;  // within [lo, hi]
  absl::StatusOr<double> Number() const;
  absl::StatusOr<bool> Bool() const;
  absl::StatusOr<std::string> String() const;
  // This reader, checked to hold an object or an array.
  absl::StatusOr<JsonReader> Object() const;
  absl::StatusOr<JsonReader> Array() const;

  // The same reads with `fallback` when absent; a value of the wrong type or
  // out of range is still an error. The fallback itself is not checked.
  absl::StatusOr<int64_t> IntOr(int64_t fallback) const;
  absl::StatusOr<int64_t> IntOr(int64_t fallback, int64_t lo, int64_t hi) const;
  absl::StatusOr<double> NumberOr(double fallback) const;
  absl::StatusOr<bool> BoolOr(bool fallback) const;
  absl::StatusOr<std::string> StringOr(std::string fallback) const;

  // Errors about this value for the checks a caller makes itself, in the
  // readers' form. Error: "<where>: field '<path>': <what>". Expected:
  // "...: expected <what>, got <the value, abridged>", or "is missing" when
  // absent.
  absl::Status Error(absl::string_view what) const;
  absl::Status Expected(absl::string_view what) const;

 private:
  JsonReader(const Json* value, absl::string_view where, std::string path)
      : value_(value), where_(where), path_(std::move(path)) {}
  // "<where>: field '<path>'" + separator + what.
  absl::Status MakeError(absl::string_view separator,
                         absl::string_view what) const;

  const Json* value_;  // nullptr when absent or null
  absl::string_view where_;
  std::string path_;
};

}  // namespace evald::base

#endif  // EVALD_BASE_JSON_H_
