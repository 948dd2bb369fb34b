// File: jinja/value.h
// -----------------------------------------------------------------------------
// The runtime value of the Jinja interpreter, modelled on the Python objects
// that jinja2 templates see when Hugging Face renders a chat template:
// undefined, none, bool, int, float, str, list, dict (ordered), namespace and
// callables. Lists and dicts share their storage between copies (Python
// reference semantics); only namespaces are ever mutated, as in jinja2's
// immutable sandbox.
//
// Thread-safety: a Value is not synchronised; values never leave the render
// call that made them.
#ifndef EVALD_JINJA_VALUE_H_
#define EVALD_JINJA_VALUE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/json.h"

namespace evald::jinja {

class Value;
using ValueList = std::vector<Value>;
using ValueDict = std::vector<std::pair<Value, Value>>;
using KwArgs = std::vector<std::pair<std::string, Value>>;

// A builtin function, bound method or macro. Arguments arrive evaluated.
using NativeFunction = std::function<absl::StatusOr<Value>(
    std::vector<Value> args, KwArgs kwargs)>;

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kCallable
  };

  Value() = default;  // undefined
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double d);
  static Value String(std::string s);
  static Value List(ValueList items);
  // A Python tuple: a list that prints with parentheses and never equals a
  // list.
  static Value Tuple(ValueList items);
  static Value Dict(ValueDict items);
  // A jinja2 namespace(): a dict whose attributes `set ns.x = ...` may assign.
  static Value Namespace(ValueDict items);
  static Value Function(std::string name, NativeFunction fn);
  static Value FromJson(const base::Json& json);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const {
    return kind_ == Kind::kInt || kind_ == Kind::kFloat;
  }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kList && tuple_; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kDict && namespace_; }
  bool is_callable() const { return kind_ == Kind::kCallable; }

  bool bool_value() const { return bool_; }
  int64_t int_value() const { return int_; }
  double float_value() const {
    return kind_ == Kind::kInt ? static_cast<double>(int_) : double_;
  }
  const std::string& string_value() const { return *string_; }
  const ValueList& list() const { return *list_; }
  const ValueDict& dict() const { return *dict_; }
  ValueDict& mutable_dict() { return *dict_; }
  const std::string& function_name() const { return function_->name; }
  const NativeFunction& function() const { return function_->fn; }

  // Dict member lookup by string key; nullptr when absent or not a dict.
  const Value* Find(absl::string_view key) const;
  // Sets a dict member (replacing an existing key). REQUIRES: is_dict().
  void Set(const std::string& key, Value value);

  // Python truthiness (undefined is false).
  bool Truthy() const;
  // str(value) as jinja2 prints it (undefined prints empty).
  std::string Str() const;
  // repr(value), used inside list and dict printing.
  std::string Repr() const;
  // A short type name for error messages ("str", "list", ...).
  const char* TypeName() const;
  // Conversion for tojson; undefined becomes null. Callables are an error.
  absl::StatusOr<base::Json> ToJson() const;

  // Python ==.
  friend bool operator==(const Value& a, const Value& b);

 private:
  struct FunctionHolder {
    std::string name;
    NativeFunction fn;
  };

  Kind kind_ = Kind::kUndefined;
  bool bool_ = false;
  bool namespace_ = false;
  bool tuple_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::shared_ptr<const std::string> string_;
  std::shared_ptr<const ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<const FunctionHolder> function_;
};

// Python-style ordering for sort/min/max and < > comparisons. Errors when the
// kinds are not comparable (a str with an int, ...).
absl::StatusOr<int> CompareValues(const Value& a, const Value& b);

}  // namespace evald::jinja

#endif  // EVALD_JINJA_VALUE_H_
