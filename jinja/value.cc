#include "jinja/value.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace evald::jinja {

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.int_ = i;
  return v;
}

Value Value::Float(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.double_ = d;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.string_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::List(ValueList items) {
  Value v;
  v.kind_ = Kind::kList;
  v.list_ = std::make_shared<const ValueList>(std::move(items));
  return v;
}

Value Value::Tuple(ValueList items) {
  Value v = List(std::move(items));
  v.tuple_ = true;
  return v;
}

Value Value::Dict(ValueDict items) {
  Value v;
  v.kind_ = Kind::kDict;
  v.dict_ = std::make_shared<ValueDict>(std::move(items));
  return v;
}

Value Value::Namespace(ValueDict items) {
  Value v = Dict(std::move(items));
  v.namespace_ = true;
  return v;
}

Value Value::Function(std::string name, NativeFunction fn) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.function_ = std::make_shared<const FunctionHolder>(
      FunctionHolder{std::move(name), std::move(fn)});
  return v;
}

Value Value::FromJson(const base::Json& json) {
  switch (json.type()) {
    case base::Json::Type::kNull:
      return None();
    case base::Json::Type::kBool:
      return Bool(json.bool_value());
    case base::Json::Type::kNumber:
      return json.is_int() ? Int(json.int_value()) : Float(json.number_value());
    case base::Json::Type::kString:
      return String(json.string_value());
    case base::Json::Type::kArray: {
      ValueList items;
      items.reserve(json.array().size());
      for (const base::Json& item : json.array())
        items.push_back(FromJson(item));
      return List(std::move(items));
    }
    case base::Json::Type::kObject: {
      ValueDict items;
      items.reserve(json.object().size());
      for (const auto& [key, item] : json.object())
        items.emplace_back(String(key), FromJson(item));
      return Dict(std::move(items));
    }
  }
  return Value();
}

const Value* Value::Find(absl::string_view key) const {
  if (kind_ != Kind::kDict) return nullptr;
  for (const auto& [k, v] : *dict_) {
    if (k.is_string() && k.string_value() == key) return &v;
  }
  return nullptr;
}

void Value::Set(const std::string& key, Value value) {
  for (auto& [k, v] : *dict_) {
    if (k.is_string() && k.string_value() == key) {
      v = std::move(value);
      return;
    }
  }
  dict_->emplace_back(String(key), std::move(value));
}

bool Value::Truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return bool_;
    case Kind::kInt:
      return int_ != 0;
    case Kind::kFloat:
      return double_ != 0.0;
    case Kind::kString:
      return !string_->empty();
    case Kind::kList:
      return !list_->empty();
    case Kind::kDict:
      return namespace_ || !dict_->empty();
    case Kind::kCallable:
      return true;
  }
  return false;
}

namespace {

void AppendPythonStringRepr(const std::string& s, std::string* out) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  out->push_back(quote);
  for (unsigned char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == static_cast<unsigned char>(quote)) {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c < 0x20 || c == 0x7f) {
      absl::StrAppendFormat(out, "\\x%02x", c);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back(quote);
}

}  // namespace

std::string Value::Str() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "";
    case Kind::kString:
      return *string_;
    default:
      return Repr();
  }
}

std::string Value::Repr() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return bool_ ? "True" : "False";
    case Kind::kInt:
      return absl::StrCat(int_);
    case Kind::kFloat:
      return base::PythonFloatRepr(double_);
    case Kind::kString: {
      std::string out;
      AppendPythonStringRepr(*string_, &out);
      return out;
    }
    case Kind::kList: {
      std::string out = tuple_ ? "(" : "[";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i > 0) out += ", ";
        out += (*list_)[i].Repr();
      }
      if (tuple_ && list_->size() == 1) out += ",";
      return out + (tuple_ ? ")" : "]");
    }
    case Kind::kDict: {
      std::string out = namespace_ ? "<Namespace {" : "{";
      for (size_t i = 0; i < dict_->size(); ++i) {
        if (i > 0) out += ", ";
        out += (*dict_)[i].first.Repr();
        out += ": ";
        out += (*dict_)[i].second.Repr();
      }
      return out + (namespace_ ? "}>" : "}");
    }
    case Kind::kCallable:
      return absl::StrCat("<function ", function_->name, ">");
  }
  return "";
}

const char* Value::TypeName() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNone:
      return "none";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return tuple_ ? "tuple" : "list";
    case Kind::kDict:
      return namespace_ ? "namespace" : "dict";
    case Kind::kCallable:
      return "function";
  }
  return "?";
}

absl::StatusOr<base::Json> Value::ToJson() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return base::Json::Null();
    case Kind::kBool:
      return base::Json::Bool(bool_);
    case Kind::kInt:
      return base::Json::Int(int_);
    case Kind::kFloat:
      return base::Json::Double(double_);
    case Kind::kString:
      return base::Json::String(*string_);
    case Kind::kList: {
      base::Json out = base::Json::MakeArray();
      for (const Value& item : *list_) {
        ASSIGN_OR_RETURN(base::Json j, item.ToJson());
        out.Push(std::move(j));
      }
      return out;
    }
    case Kind::kDict: {
      base::Json out = base::Json::MakeObject();
      for (const auto& [k, v] : *dict_) {
        ASSIGN_OR_RETURN(base::Json j, v.ToJson());
        out.mutable_object().emplace_back(k.Str(), std::move(j));
      }
      return out;
    }
    case Kind::kCallable:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "tojson: object of type ", TypeName(), " is not JSON serializable"));
}

bool operator==(const Value& a, const Value& b) {
  using Kind = Value::Kind;
  const bool a_num = a.is_number() || a.is_bool();
  const bool b_num = b.is_number() || b.is_bool();
  if (a_num && b_num) {
    if (a.is_float() || b.is_float()) return a.float_value() == b.float_value();
    const int64_t x = a.is_bool() ? a.bool_value() : a.int_value();
    const int64_t y = b.is_bool() ? b.bool_value() : b.int_value();
    return x == y;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.string_value() == b.string_value();
    case Kind::kList: {
      if (a.is_tuple() != b.is_tuple()) return false;
      if (a.list().size() != b.list().size()) return false;
      for (size_t i = 0; i < a.list().size(); ++i) {
        if (!(a.list()[i] == b.list()[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      if (a.dict_ == b.dict_) return true;
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, v] : a.dict()) {
        bool found = false;
        for (const auto& [k2, v2] : b.dict()) {
          if (k == k2) {
            found = v == v2;
            break;
          }
        }
        if (!found) return false;
      }
      return true;
    }
    case Kind::kCallable:
      return a.function_ == b.function_;
    default:
      return false;
  }
}

absl::StatusOr<int> CompareValues(const Value& a, const Value& b) {
  const bool a_num = a.is_number() || a.is_bool();
  const bool b_num = b.is_number() || b.is_bool();
  if (a_num && b_num) {
    if (a.is_float() || b.is_float()) {
      const double x = a.float_value(), y = b.float_value();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const int64_t x = a.is_bool() ? a.bool_value() : a.int_value();
    const int64_t y = b.is_bool() ? b.bool_value() : b.int_value();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.string_value().compare(b.string_value());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list()) {
    const size_t n = std::min(a.list().size(), b.list().size());
    for (size_t i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(int c, CompareValues(a.list()[i], b.list()[i]));
      if (c != 0) return c;
    }
    return a.list().size() < b.list().size()
               ? -1
               : (a.list().size() > b.list().size() ? 1 : 0);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot compare ", a.TypeName(), " with ", b.TypeName()));
}

}  // namespace evald::jinja
