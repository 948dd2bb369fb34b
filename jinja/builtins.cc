#include "jinja/builtins.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "jinja/parser.h"
#include "jinja/py_string.h"
#include "py/re.h"
#include "py/str.h"

namespace evald::jinja {
namespace {

using Cps = std::vector<uint32_t>;
using py::Capitalize;
using py::Lower;
using py::Title;
using py::Upper;
using pystr::IsAscii;
using pystr::JinjaTitle;
using pystr::Replace;
using pystr::Split;
using pystr::StartsOrEnds;
using pystr::Strip;

absl::Status TypeError(absl::string_view what) {
  return absl::InvalidArgumentError(what);
}

absl::Status CheckSize(size_t n, const BuiltinLimits& limits) {
  if (n > limits.max_size) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "value of ", n, " bytes exceeds the limit of ", limits.max_size));
  }
  return absl::OkStatus();
}

const Value& Arg(const std::vector<Value>& args, const KwArgs& kwargs,
                 size_t index, absl::string_view name) {
  static const Value* const kUndefined = new Value();
  if (index < args.size()) return args[index];
  for (const auto& [k, v] : kwargs) {
    if (k == name) return v;
  }
  return *kUndefined;
}

Value StringMethod(const std::string& s, const std::string& name,
                   const BuiltinLimits& limits) {
  static const char* const kMethods[] = {
      "strip",      "lstrip",   "rstrip",  "split",   "rsplit",
      "startswith", "endswith", "upper",   "lower",   "title",
      "capitalize", "replace",  "find",    "count",   "join",
      "splitlines", "isdigit",  "isalpha", "isspace", "isalnum",
      "islower",    "isupper",  "format"};
  bool known = false;
  for (const char* m : kMethods) known = known || name == m;
  if (!known) return Value();
  return Value::Function(
      absl::StrCat("str.", name),
      [s, name, limits](std::vector<Value> args,
                        KwArgs kwargs) -> absl::StatusOr<Value> {
        const Value& a0 = Arg(args, kwargs, 0, "");
        if (name == "strip") return Value::String(Strip(s, a0, true, true));
        if (name == "lstrip") return Value::String(Strip(s, a0, true, false));
        if (name == "rstrip") return Value::String(Strip(s, a0, false, true));
        if (name == "split" || name == "rsplit") {
          return Split(s, Arg(args, kwargs, 0, "sep"),
                       Arg(args, kwargs, 1, "maxsplit"));
        }
        if (name == "startswith" || name == "endswith") {
          return Value::Bool(StartsOrEnds(s, a0, name == "endswith"));
        }
        if (name == "upper") return Value::String(Upper(s));
        if (name == "lower") return Value::String(Lower(s));
        if (name == "title") return Value::String(Title(s));
        if (name == "capitalize") return Value::String(Capitalize(s));
        if (name == "replace") {
          const Value& to = Arg(args, kwargs, 1, "");
          if (!a0.is_string() || !to.is_string())
            return TypeError("str.replace: arguments must be strings");
          const Value& count = Arg(args, kwargs, 2, "count");
          ASSIGN_OR_RETURN(std::string out,
                           Replace(s, a0.string_value(), to.string_value(),
                                   count.is_int() ? count.int_value() : -1,
                                   limits.max_size));
          return Value::String(std::move(out));
        }
        if (name == "find" || name == "count") {
          if (!a0.is_string())
            return TypeError(
                absl::StrCat("str.", name, ": argument must be a string"));
          const std::string& n = a0.string_value();
          if (name == "find") {
            const size_t at = s.find(n);
            if (at == std::string::npos) return Value::Int(-1);
            return Value::Int(
                static_cast<int64_t>(base::DecodeUtf8(s.substr(0, at)).size()));
          }
          if (n.empty())
            return Value::Int(static_cast<int64_t>(base::DecodeUtf8(s).size()) +
                              1);
          int64_t c = 0;
          for (size_t at = s.find(n); at != std::string::npos;
               at = s.find(n, at + n.size()))
            ++c;
          return Value::Int(c);
        }
        if (name == "join") {
          ASSIGN_OR_RETURN(ValueList items, Iterate(a0));
          std::string out;
          for (size_t i = 0; i < items.size(); ++i) {
            if (!items[i].is_string())
              return TypeError("str.join: sequence item is not a string");
            if (i > 0) out += s;
            out += items[i].string_value();
            RETURN_IF_ERROR(CheckSize(out.size(), limits));
          }
          return Value::String(std::move(out));
        }
        if (name == "splitlines") {
          ValueList lines;
          for (std::string& line : py::SplitLines(s))
            lines.push_back(Value::String(std::move(line)));
          return Value::List(std::move(lines));
        }
        if (name == "format") return TypeError("str.format is not supported");
        if (name == "isdigit") return Value::Bool(py::IsDigit(s));
        if (name == "isalpha") return Value::Bool(py::IsAlpha(s));
        if (name == "isalnum") return Value::Bool(py::IsAlnum(s));
        if (name == "isspace") return Value::Bool(py::IsSpace(s));
        if (name == "islower") return Value::Bool(py::IsLower(s));
        return Value::Bool(py::IsUpper(s));  // isupper
      });
}

Value DictItems(const Value& d) {
  ValueList items;
  for (const auto& [k, v] : d.dict()) items.push_back(Value::Tuple({k, v}));
  return Value::List(std::move(items));
}

Value DictMethod(const Value& d, const std::string& name) {
  if (name != "items" && name != "keys" && name != "values" && name != "get")
    return Value();
  return Value::Function(absl::StrCat("dict.", name),
                         [d, name](std::vector<Value> args,
                                   KwArgs kwargs) -> absl::StatusOr<Value> {
                           if (name == "items") return DictItems(d);
                           ValueList out;
                           if (name == "get") {
                             const Value& key = Arg(args, kwargs, 0, "key");
                             for (const auto& [k, v] : d.dict()) {
                               if (k == key) return v;
                             }
                             const Value& def = Arg(args, kwargs, 1, "default");
                             return def.is_undefined() ? Value::None() : def;
                           }
                           for (const auto& [k, v] : d.dict())
                             out.push_back(name == "keys" ? k : v);
                           return Value::List(std::move(out));
                         });
}

// Resolves "a.b.0" style attribute paths (filters' attribute= arguments).
Value ResolvePath(const Value& v, const Value& path,
                  const BuiltinLimits& limits) {
  if (path.is_int()) return GetItem(v, path, limits);
  if (!path.is_string()) return Value();
  Value cur = v;
  const std::string& p = path.string_value();
  size_t start = 0;
  while (true) {
    const size_t dot = p.find('.', start);
    const std::string part = p.substr(
        start, dot == std::string::npos ? std::string::npos : dot - start);
    int64_t index;
    if (absl::SimpleAtoi(part, &index)) {
      cur = GetItem(cur, Value::Int(index), limits);
    } else {
      const Value* found = cur.Find(part);
      cur = found != nullptr ? *found : GetAttribute(cur, part, limits);
    }
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

absl::StatusOr<ValueList> SortedItems(ValueList items, bool reverse,
                                      const Value& attribute,
                                      const BuiltinLimits& limits) {
  absl::Status error;
  auto key = [&](const Value& v) {
    return attribute.is_undefined() ? v : ResolvePath(v, attribute, limits);
  };
  std::stable_sort(
      items.begin(), items.end(), [&](const Value& a, const Value& b) {
        if (!error.ok()) return false;
        Value ka = key(a), kb = key(b);
        if (ka.is_string() &&
            kb.is_string()) {  // jinja sorts case-insensitively by default
          ka = Value::String(Lower(ka.string_value()));
          kb = Value::String(Lower(kb.string_value()));
        }
        auto c = CompareValues(ka, kb);
        if (!c.ok()) {
          error = c.status();
          return false;
        }
        return reverse ? *c > 0 : *c < 0;
      });
  RETURN_IF_ERROR(error);
  return items;
}

void SortJsonKeys(base::Json* json) {
  if (json->is_array()) {
    for (base::Json& item : json->mutable_array()) SortJsonKeys(&item);
  } else if (json->is_object()) {
    auto& members = json->mutable_object();
    std::stable_sort(
        members.begin(), members.end(),
        [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [k, item] : members) SortJsonKeys(&item);
  }
}

absl::StatusOr<std::string> ToJsonText(const Value& v, const Value& indent,
                                       bool sort_keys) {
  if (v.is_undefined()) return TypeError("tojson: value is undefined");
  ASSIGN_OR_RETURN(base::Json json, v.ToJson());
  if (sort_keys) SortJsonKeys(&json);
  base::Json::DumpOptions options;
  options.spaced_separators = true;
  if (indent.is_int())
    options.indent =
        static_cast<int>(std::clamp<int64_t>(indent.int_value(), 0, 64));
  return json.Dump(options);
}

absl::StatusOr<Value> ToInt(const Value& v, const Value& def) {
  const Value fallback = def.is_undefined() ? Value::Int(0) : def;
  if (v.is_int()) return v;
  if (v.is_bool()) return Value::Int(v.bool_value());
  if (v.is_float()) {
    const double d = v.float_value();
    if (!std::isfinite(d) || std::fabs(d) > 9.2e18) return fallback;
    return Value::Int(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    std::string s(absl::StripAsciiWhitespace(v.string_value()));
    int64_t i;
    if (absl::SimpleAtoi(s, &i)) return Value::Int(i);
    double d;
    if (absl::SimpleAtod(s, &d) && std::isfinite(d) && std::fabs(d) < 9.2e18) {
      return Value::Int(static_cast<int64_t>(d));
    }
  }
  return fallback;
}

absl::StatusOr<Value> ToFloat(const Value& v, const Value& def) {
  const Value fallback = def.is_undefined() ? Value::Float(0.0) : def;
  if (v.is_number()) return Value::Float(v.float_value());
  if (v.is_bool()) return Value::Float(v.bool_value() ? 1.0 : 0.0);
  if (v.is_string()) {
    double d;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(v.string_value()), &d))
      return Value::Float(d);
  }
  return fallback;
}

}  // namespace

bool IsKnownFilter(absl::string_view name) {
  static const char* const kFilters[] = {
      "abs",        "attr",     "capitalize", "center",    "count", "d",
      "default",    "dictsort", "e",          "escape",    "first", "float",
      "indent",     "int",      "items",      "join",      "last",  "length",
      "list",       "lower",    "map",        "max",       "min",   "reject",
      "rejectattr", "replace",  "reverse",    "round",     "safe",  "select",
      "selectattr", "sort",     "string",     "sum",       "title", "tojson",
      "trim",       "unique",   "upper",      "wordcount", "batch", "striptags",
      "truncate"};
  for (const char* f : kFilters) {
    if (name == f) return true;
  }
  return false;
}

bool IsKnownTest(absl::string_view name) {
  static const char* const kTests[] = {
      "boolean",  "callable",    "defined", "divisibleby", "eq",
      "equalto",  "even",        "false",   "float",       "ge",
      "gt",       "greaterthan", "in",      "integer",     "iterable",
      "le",       "lessthan",    "lower",   "lt",          "mapping",
      "ne",       "none",        "number",  "odd",         "sameas",
      "sequence", "string",      "true",    "undefined",   "upper",
      "filter",   "test",        "escaped"};
  for (const char* t : kTests) {
    if (name == t) return true;
  }
  return false;
}

absl::StatusOr<int64_t> Length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kString:
      return IsAscii(v.string_value())
                 ? static_cast<int64_t>(v.string_value().size())
                 : static_cast<int64_t>(
                       base::DecodeUtf8(v.string_value()).size());
    case Value::Kind::kList:
      return static_cast<int64_t>(v.list().size());
    case Value::Kind::kDict:
      return static_cast<int64_t>(v.dict().size());
    case Value::Kind::kUndefined:
      return 0;
    default:
      return TypeError(
          absl::StrCat("object of type '", v.TypeName(), "' has no len()"));
  }
}

absl::StatusOr<ValueList> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return ValueList();
    case Value::Kind::kList:
      return v.list();
    case Value::Kind::kDict: {
      ValueList keys;
      for (const auto& [k, unused] : v.dict()) keys.push_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      ValueList chars;
      for (uint32_t c : base::DecodeUtf8(v.string_value())) {
        std::string s;
        base::AppendUtf8(c, &s);
        chars.push_back(Value::String(std::move(s)));
      }
      return chars;
    }
    default:
      return TypeError(
          absl::StrCat("'", v.TypeName(), "' object is not iterable"));
  }
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) {
      return TypeError(
          absl::StrCat("'in <string>' requires string as left operand, not ",
                       item.TypeName()));
    }
    return container.string_value().find(item.string_value()) !=
           std::string::npos;
  }
  if (container.is_dict()) {
    for (const auto& [k, unused] : container.dict()) {
      if (k == item) return true;
    }
    return false;
  }
  ASSIGN_OR_RETURN(ValueList items, Iterate(container));
  for (const Value& v : items) {
    if (v == item) return true;
  }
  return false;
}

Value GetAttribute(const Value& obj, const std::string& name,
                   const BuiltinLimits& limits) {
  switch (obj.kind()) {
    case Value::Kind::kDict: {
      if (!obj.is_namespace()) {
        Value method = DictMethod(obj, name);
        if (!method.is_undefined()) return method;
      }
      const Value* found = obj.Find(name);
      return found != nullptr ? *found : Value();
    }
    case Value::Kind::kString:
      return StringMethod(obj.string_value(), name, limits);
    default:
      return Value();
  }
}

Value GetItem(const Value& obj, const Value& key, const BuiltinLimits& limits) {
  if (obj.is_dict()) {
    for (const auto& [k, v] : obj.dict()) {
      if (k == key) return v;
    }
    if (key.is_string() && !obj.is_namespace())
      return DictMethod(obj, key.string_value());
    return Value();
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.is_bool() ? key.bool_value() : key.int_value();
    if (obj.is_list()) {
      const int64_t n = static_cast<int64_t>(obj.list().size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value();
      return obj.list()[static_cast<size_t>(i)];
    }
    Cps cps = base::DecodeUtf8(obj.string_value());
    const int64_t n = static_cast<int64_t>(cps.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value();
    std::string s;
    base::AppendUtf8(cps[static_cast<size_t>(i)], &s);
    return Value::String(std::move(s));
  }
  if (key.is_string()) return GetAttribute(obj, key.string_value(), limits);
  return Value();
}

absl::StatusOr<Value> GetSlice(const Value& obj, const Value& start_v,
                               const Value& stop_v, const Value& step_v) {
  auto as_opt =
      [](const Value& v,
         absl::string_view what) -> absl::StatusOr<std::optional<int64_t>> {
    if (v.is_none()) return std::optional<int64_t>();
    if (v.is_int()) return std::optional<int64_t>(v.int_value());
    if (v.is_bool()) return std::optional<int64_t>(v.bool_value());
    return TypeError(
        absl::StrCat("slice ", what, " must be an integer or none"));
  };
  ASSIGN_OR_RETURN(std::optional<int64_t> start, as_opt(start_v, "start"));
  ASSIGN_OR_RETURN(std::optional<int64_t> stop, as_opt(stop_v, "stop"));
  ASSIGN_OR_RETURN(std::optional<int64_t> step_opt, as_opt(step_v, "step"));
  const int64_t step = step_opt.value_or(1);
  if (step == 0) return TypeError("slice step cannot be zero");
  if (step == std::numeric_limits<int64_t>::min())
    return TypeError("slice step out of range");
  auto indices = [&](int64_t n) {
    // Python's slice.indices().
    int64_t b, e;
    if (step > 0) {
      b = start ? (*start < 0 ? std::max<int64_t>(*start + n, 0)
                              : std::min(*start, n))
                : 0;
      e = stop ? (*stop < 0 ? std::max<int64_t>(*stop + n, 0)
                            : std::min(*stop, n))
               : n;
    } else {
      b = start ? (*start < 0 ? std::max<int64_t>(*start + n, -1)
                              : std::min(*start, n - 1))
                : n - 1;
      e = stop ? (*stop < 0 ? std::max<int64_t>(*stop + n, -1)
                            : std::min(*stop, n - 1))
               : -1;
    }
    std::vector<size_t> out;
    for (int64_t i = b; step > 0 ? i < e : i > e; i += step)
      out.push_back(static_cast<size_t>(i));
    return out;
  };
  if (obj.is_list()) {
    ValueList out;
    for (size_t i : indices(static_cast<int64_t>(obj.list().size())))
      out.push_back(obj.list()[i]);
    return obj.is_tuple() ? Value::Tuple(std::move(out))
                          : Value::List(std::move(out));
  }
  if (obj.is_string()) {
    Cps cps = base::DecodeUtf8(obj.string_value());
    Cps out;
    for (size_t i : indices(static_cast<int64_t>(cps.size())))
      out.push_back(cps[i]);
    return Value::String(base::EncodeUtf8(out));
  }
  return TypeError(
      absl::StrCat("'", obj.TypeName(), "' object is not subscriptable"));
}

absl::StatusOr<Value> BinaryOp(absl::string_view op, const Value& a,
                               const Value& b, const BuiltinLimits& limits) {
  if (op == "~") {
    std::string s = a.Str();
    s += b.Str();
    RETURN_IF_ERROR(CheckSize(s.size(), limits));
    return Value::String(std::move(s));
  }
  const bool a_num = a.is_number() || a.is_bool();
  const bool b_num = b.is_number() || b.is_bool();
  auto unsupported = [&]() {
    return TypeError(absl::StrCat("unsupported operand type(s) for ", op, ": '",
                                  a.TypeName(), "' and '", b.TypeName(), "'"));
  };
  if (a.is_undefined() || b.is_undefined()) {
    return TypeError(absl::StrCat("undefined value used with operator ", op));
  }
  if (a_num && b_num) {
    const bool ints = !a.is_float() && !b.is_float();
    const int64_t x = a.is_bool() ? a.bool_value() : a.int_value();
    const int64_t y = b.is_bool() ? b.bool_value() : b.int_value();
    const double fx = a.is_bool() ? a.bool_value() : a.float_value();
    const double fy = b.is_bool() ? b.bool_value() : b.float_value();
    int64_t r;
    if (op == "+") {
      if (!ints) return Value::Float(fx + fy);
      if (__builtin_add_overflow(x, y, &r))
        return TypeError("integer overflow");
      return Value::Int(r);
    }
    if (op == "-") {
      if (!ints) return Value::Float(fx - fy);
      if (__builtin_sub_overflow(x, y, &r))
        return TypeError("integer overflow");
      return Value::Int(r);
    }
    if (op == "*") {
      if (!ints) return Value::Float(fx * fy);
      if (__builtin_mul_overflow(x, y, &r))
        return TypeError("integer overflow");
      return Value::Int(r);
    }
    if (op == "/") {
      if (fy == 0) return TypeError("division by zero");
      return Value::Float(fx / fy);
    }
    if (op == "//" || op == "%") {
      if (ints) {
        if (y == 0) return TypeError("integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1)
          return TypeError("integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          --q;
          m += y;
        }
        return Value::Int(op == "//" ? q : m);
      }
      if (fy == 0) return TypeError("float division by zero");
      const double q = std::floor(fx / fy);
      if (op == "//") return Value::Float(q);
      double m = std::fmod(fx, fy);
      if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
      return Value::Float(m);
    }
    if (op == "**") {
      if (ints && y >= 0) {
        int64_t result = 1, base = x, e = y;
        while (e > 0) {
          if (e & 1) {
            if (__builtin_mul_overflow(result, base, &result))
              return TypeError("integer overflow");
          }
          e >>= 1;
          if (e > 0 && __builtin_mul_overflow(base, base, &base))
            return TypeError("integer overflow");
        }
        return Value::Int(result);
      }
      return Value::Float(std::pow(fx, fy));
    }
    return unsupported();
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      RETURN_IF_ERROR(
          CheckSize(a.string_value().size() + b.string_value().size(), limits));
      return Value::String(a.string_value() + b.string_value());
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      RETURN_IF_ERROR(CheckSize(a.list().size() + b.list().size(), limits));
      ValueList out = a.list();
      out.insert(out.end(), b.list().begin(), b.list().end());
      return a.is_tuple() ? Value::Tuple(std::move(out))
                          : Value::List(std::move(out));
    }
    return unsupported();
  }
  if (op == "*") {
    const Value& seq = a_num ? b : a;
    const Value& count = a_num ? a : b;
    if ((seq.is_string() || seq.is_list()) &&
        (count.is_int() || count.is_bool())) {
      const int64_t n = std::max<int64_t>(
          0, count.is_bool() ? count.bool_value() : count.int_value());
      const size_t unit =
          seq.is_string() ? seq.string_value().size() : seq.list().size();
      if (unit != 0 && static_cast<uint64_t>(n) > limits.max_size / unit) {
        return absl::ResourceExhaustedError(
            "repetition exceeds the size limit");
      }
      if (seq.is_string()) {
        std::string out;
        for (int64_t i = 0; i < n; ++i) out += seq.string_value();
        return Value::String(std::move(out));
      }
      ValueList out;
      for (int64_t i = 0; i < n; ++i)
        out.insert(out.end(), seq.list().begin(), seq.list().end());
      return seq.is_tuple() ? Value::Tuple(std::move(out))
                            : Value::List(std::move(out));
    }
  }
  return unsupported();
}

absl::StatusOr<bool> ApplyTest(absl::string_view name, const Value& v,
                               const std::vector<Value>& args) {
  const Value arg = args.empty() ? Value() : args[0];
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.bool_value();
  if (name == "false") return v.is_bool() && !v.bool_value();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number() || v.is_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "mapping") return v.is_dict() && !v.is_namespace();
  // An undefined value iterates as empty, so it counts as iterable.
  if (name == "sequence")
    return v.is_list() || v.is_string() || (v.is_dict() && !v.is_namespace()) ||
           v.is_undefined();
  if (name == "iterable")
    return v.is_list() || v.is_string() || v.is_dict() || v.is_undefined();
  if (name == "callable") return v.is_callable();
  if (name == "escaped") return false;
  if (name == "lower" || name == "upper") {
    // Python's str.islower()/isupper() of str(value).
    const std::string text = v.Str();
    return name == "lower" ? py::IsLower(text) : py::IsUpper(text);
  }
  if (name == "filter")
    return arg.is_string() && IsKnownFilter(arg.string_value());
  if (name == "test") return arg.is_string() && IsKnownTest(arg.string_value());
  if ((name == "even" || name == "odd") && v.is_float()) {
    const double m = std::fmod(v.float_value(), 2.0);
    return name == "even" ? m == 0 : (m == 1 || m == -1);
  }
  if (name == "even" || name == "odd" || name == "divisibleby") {
    if (!v.is_int() && !v.is_bool())
      return TypeError(absl::StrCat("test '", name, "' needs a number"));
    const int64_t x = v.is_bool() ? v.bool_value() : v.int_value();
    if (name == "even") return x % 2 == 0;
    if (name == "odd") return x % 2 != 0;
    if (!arg.is_int() || arg.int_value() == 0)
      return TypeError("divisibleby needs a non-zero integer");
    return x % arg.int_value() == 0;
  }
  if (name == "eq" || name == "equalto") return v == arg;
  if (name == "ne") return !(v == arg);
  if (name == "sameas") {
    if (v.is_none() || v.is_bool() || arg.is_none() || arg.is_bool())
      return v.kind() == arg.kind() && v == arg;
    return v == arg;
  }
  if (name == "in") return Contains(arg, v);
  ASSIGN_OR_RETURN(int c, CompareValues(v, arg));
  if (name == "lt" || name == "lessthan") return c < 0;
  if (name == "le") return c <= 0;
  if (name == "gt" || name == "greaterthan") return c > 0;
  if (name == "ge") return c >= 0;
  return TypeError(absl::StrCat("no test named '", name, "'"));
}

absl::StatusOr<Value> ApplyFilter(absl::string_view name, const Value& v,
                                  std::vector<Value> args, KwArgs kwargs,
                                  const BuiltinLimits& limits) {
  const Value& a0 = Arg(args, kwargs, 0, "");
  auto need_string = [&]() -> absl::Status {
    if (v.is_string()) return absl::OkStatus();
    return TypeError(
        absl::StrCat("filter '", name, "' needs a string, got ", v.TypeName()));
  };
  if (name == "safe") return v;
  if (name == "string") return Value::String(v.Str());
  if (name == "trim") {
    if (v.is_undefined()) return Value::String("");
    return Value::String(
        Strip(v.Str(), Arg(args, kwargs, 0, "chars"), true, true));
  }
  if (name == "upper") return Value::String(Upper(v.Str()));
  if (name == "lower") return Value::String(Lower(v.Str()));
  if (name == "title") return Value::String(JinjaTitle(v.Str()));
  if (name == "capitalize") return Value::String(Capitalize(v.Str()));
  if (name == "length" || name == "count") {
    ASSIGN_OR_RETURN(int64_t n, Length(v));
    return Value::Int(n);
  }
  if (name == "default" || name == "d") {
    const bool boolean = Arg(args, kwargs, 1, "boolean").Truthy();
    if (v.is_undefined() || (boolean && !v.Truthy())) {
      return a0.is_undefined() && args.empty()
                 ? Value::String("")
                 : Arg(args, kwargs, 0, "default_value");
    }
    return v;
  }
  if (name == "tojson") {
    ASSIGN_OR_RETURN(std::string text,
                     ToJsonText(v, Arg(args, kwargs, 0, "indent"),
                                Arg(args, kwargs, 3, "sort_keys").Truthy()));
    return Value::String(std::move(text));
  }
  if (name == "replace") {
    const Value& from = Arg(args, kwargs, 0, "old");
    const Value& to = Arg(args, kwargs, 1, "new");
    const Value& count = Arg(args, kwargs, 2, "count");
    ASSIGN_OR_RETURN(
        std::string out,
        Replace(v.Str(), from.Str(), to.Str(),
                count.is_int() ? count.int_value() : -1, limits.max_size));
    return Value::String(std::move(out));
  }
  if (name == "first" || name == "last") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    if (items.empty()) return Value();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    return Value::List(std::move(items));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::List({});
    if (!v.is_dict())
      return TypeError(
          absl::StrCat("filter 'items' needs a mapping, got ", v.TypeName()));
    return DictItems(v);
  }
  if (name == "join") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    const std::string sep = Arg(args, kwargs, 0, "d").Str();
    const Value& attribute = Arg(args, kwargs, 1, "attribute");
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += sep;
      out += attribute.is_undefined()
                 ? items[i].Str()
                 : ResolvePath(items[i], attribute, limits).Str();
      RETURN_IF_ERROR(CheckSize(out.size(), limits));
    }
    return Value::String(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      Cps cps = base::DecodeUtf8(v.string_value());
      std::reverse(cps.begin(), cps.end());
      return Value::String(base::EncodeUtf8(cps));
    }
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    std::reverse(items.begin(), items.end());
    return Value::List(std::move(items));
  }
  if (name == "sort") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    ASSIGN_OR_RETURN(
        items,
        SortedItems(std::move(items), Arg(args, kwargs, 0, "reverse").Truthy(),
                    Arg(args, kwargs, 2, "attribute"), limits));
    return Value::List(std::move(items));
  }
  if (name == "dictsort") {
    if (!v.is_dict()) return TypeError("filter 'dictsort' needs a mapping");
    ValueList pairs = DictItems(v).list();
    ASSIGN_OR_RETURN(
        pairs,
        SortedItems(
            std::move(pairs), Arg(args, kwargs, 2, "reverse").Truthy(),
            Value::Int(Arg(args, kwargs, 1, "by").Str() == "value" ? 1 : 0),
            limits));
    return Value::List(std::move(pairs));
  }
  if (name == "unique") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    ValueList out;
    const Value& attribute = Arg(args, kwargs, 1, "attribute");
    for (const Value& item : items) {
      Value key = attribute.is_undefined()
                      ? item
                      : ResolvePath(item, attribute, limits);
      if (key.is_string()) key = Value::String(Lower(key.string_value()));
      bool seen = false;
      for (const Value& o : out) {
        Value ok =
            attribute.is_undefined() ? o : ResolvePath(o, attribute, limits);
        if (ok.is_string()) ok = Value::String(Lower(ok.string_value()));
        if (ok == key) {
          seen = true;
          break;
        }
      }
      if (!seen) out.push_back(item);
    }
    return Value::List(std::move(out));
  }
  if (name == "min" || name == "max") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    if (items.empty()) return Value();
    ASSIGN_OR_RETURN(items,
                     SortedItems(std::move(items), name == "max",
                                 Arg(args, kwargs, 1, "attribute"), limits));
    return items.front();
  }
  if (name == "sum") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    const Value& attribute = Arg(args, kwargs, 0, "attribute");
    Value total = Arg(args, kwargs, 1, "start");
    if (total.is_undefined()) total = Value::Int(0);
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(total,
                       BinaryOp("+", total,
                                attribute.is_undefined()
                                    ? item
                                    : ResolvePath(item, attribute, limits),
                                limits));
    }
    return total;
  }
  if (name == "abs") {
    if (v.is_bool()) return Value::Int(v.bool_value());
    if (v.is_int()) {
      if (v.int_value() == std::numeric_limits<int64_t>::min())
        return TypeError("integer overflow");
      return Value::Int(v.int_value() < 0 ? -v.int_value() : v.int_value());
    }
    if (v.is_float()) return Value::Float(std::fabs(v.float_value()));
    return TypeError(
        absl::StrCat("bad operand type for abs(): '", v.TypeName(), "'"));
  }
  if (name == "round") {
    if (v.is_bool()) return Value::Int(v.bool_value());
    if (v.is_int()) return v;  // Python's round() keeps ints
    if (!v.is_number()) return TypeError("filter 'round' needs a number");
    const int64_t precision =
        std::clamp<int64_t>(a0.is_int() ? a0.int_value() : 0, -15, 15);
    const std::string method = Arg(args, kwargs, 1, "method").is_string()
                                   ? Arg(args, kwargs, 1, "method").Str()
                                   : "common";
    const double scale = std::pow(10.0, static_cast<double>(precision));
    if (method == "common" && precision >= 0 &&
        std::isfinite(v.float_value())) {
      // Python's round(): correctly rounded, ties to even on the exact value.
      double r = 0;
      (void)absl::SimpleAtod(
          absl::StrFormat("%.*f", static_cast<int>(precision), v.float_value()),
          &r);
      return Value::Float(r);
    }
    double x = v.float_value() * scale;
    x = method == "ceil"    ? std::ceil(x)
        : method == "floor" ? std::floor(x)
                            : std::nearbyint(x);
    return Value::Float(x / scale);
  }
  if ((name == "int" || name == "float") && v.is_undefined()) {
    return TypeError(absl::StrCat("filter '", name, "' of an undefined value"));
  }
  if (name == "int") return ToInt(v, Arg(args, kwargs, 0, "default"));
  if (name == "float") return ToFloat(v, Arg(args, kwargs, 0, "default"));
  if (name == "wordcount") {
    // jinja2: len(re.findall(r"\w+", s)).
    static const py::Regex* const kWord =
        new py::Regex(py::Regex::CompileOrDie("\\w+"));
    return Value::Int(static_cast<int64_t>(kWord->FindIter(v.Str()).size()));
  }
  if (name == "center") {
    const std::string text = v.Str();
    const int64_t width =
        std::min<int64_t>(a0.is_int() ? a0.int_value() : 80, 1 << 16);
    const int64_t len = static_cast<int64_t>(base::DecodeUtf8(text).size());
    if (width <= len) return Value::String(text);
    const int64_t pad = width - len;
    const int64_t left = pad / 2 + (pad & width & 1);
    return Value::String(std::string(left, ' ') + text +
                         std::string(pad - left, ' '));
  }
  if (name == "indent") {
    RETURN_IF_ERROR(need_string());
    const Value& w = Arg(args, kwargs, 0, "width");
    const std::string prefix =
        w.is_string() ? w.string_value()
                      : std::string(std::clamp<int64_t>(
                                        w.is_int() ? w.int_value() : 4, 0, 256),
                                    ' ');
    const bool first = Arg(args, kwargs, 1, "first").Truthy();
    const bool blank = Arg(args, kwargs, 2, "blank").Truthy();
    const std::string s = v.Str();
    std::string out;
    size_t start = 0;
    bool is_first = true;
    while (start <= s.size()) {
      size_t nl = s.find('\n', start);
      const std::string line = s.substr(
          start, nl == std::string::npos ? std::string::npos : nl - start);
      if (!is_first) out += '\n';
      if ((is_first && first) || (!is_first && (blank || !line.empty())))
        out += prefix;
      out += line;
      RETURN_IF_ERROR(CheckSize(out.size(), limits));
      is_first = false;
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    return Value::String(std::move(out));
  }
  if (name == "escape" || name == "e") {
    std::string out;
    for (char c : v.Str()) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&#34;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out.push_back(c);
      }
    }
    return Value::String(std::move(out));
  }
  if (name == "striptags")
    return TypeError("filter 'striptags' is not supported");
  if (name == "truncate")
    return TypeError("filter 'truncate' is not supported");
  if (name == "attr") {
    if (v.is_dict() && !v.is_namespace()) return DictMethod(v, a0.Str());
    return GetAttribute(v, a0.Str(), limits);
  }
  if (name == "batch") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    if (!a0.is_int() || a0.int_value() <= 0)
      return TypeError("filter 'batch' needs a positive size");
    ValueList out, cur;
    for (const Value& item : items) {
      cur.push_back(item);
      if (static_cast<int64_t>(cur.size()) == a0.int_value()) {
        out.push_back(Value::List(std::move(cur)));
        cur.clear();
      }
    }
    if (!cur.empty()) {
      const Value& fill = Arg(args, kwargs, 1, "fill_with");
      if (!fill.is_undefined()) {
        while (static_cast<int64_t>(cur.size()) < a0.int_value())
          cur.push_back(fill);
      }
      out.push_back(Value::List(std::move(cur)));
    }
    return Value::List(std::move(out));
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" ||
      name == "reject") {
    const bool by_attr = name == "selectattr" || name == "rejectattr";
    const bool keep_true = name == "selectattr" || name == "select";
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    const size_t test_index = by_attr ? 1 : 0;
    const Value test = test_index < args.size() ? args[test_index] : Value();
    if (!test.is_undefined() &&
        (!test.is_string() || !IsKnownTest(test.string_value()))) {
      return TypeError(absl::StrCat("no test named '", test.Str(), "'"));
    }
    std::vector<Value> test_args(
        args.begin() + std::min(args.size(), test_index + 1), args.end());
    ValueList out;
    for (const Value& item : items) {
      const Value subject = by_attr ? ResolvePath(item, a0, limits) : item;
      bool ok;
      if (test.is_undefined()) {
        ok = subject.Truthy();
      } else {
        ASSIGN_OR_RETURN(ok,
                         ApplyTest(test.string_value(), subject, test_args));
      }
      if (ok == keep_true) out.push_back(item);
    }
    return Value::List(std::move(out));
  }
  if (name == "map") {
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    ValueList out;
    const Value* attribute = nullptr;
    const Value* def = nullptr;
    for (const auto& [k, val] : kwargs) {
      if (k == "attribute") attribute = &val;
      if (k == "default") def = &val;
    }
    for (const Value& item : items) {
      if (attribute != nullptr) {
        Value r = ResolvePath(item, *attribute, limits);
        if (r.is_undefined() && def != nullptr) r = *def;
        out.push_back(std::move(r));
      } else {
        if (!a0.is_string() || !IsKnownFilter(a0.string_value()) ||
            a0.string_value() == "map") {
          return TypeError(
              absl::StrCat("map: no filter named '", a0.Str(), "'"));
        }
        std::vector<Value> rest(args.begin() + 1, args.end());
        ASSIGN_OR_RETURN(
            Value r, ApplyFilter(a0.string_value(), item, rest, {}, limits));
        out.push_back(std::move(r));
      }
    }
    return Value::List(std::move(out));
  }
  return TypeError(absl::StrCat("no filter named '", name, "'"));
}

std::string FormatTime(int64_t unix_seconds, absl::string_view format) {
  static const char* const kMonths[] = {
      "January", "February", "March",     "April",   "May",      "June",
      "July",    "August",   "September", "October", "November", "December"};
  static const char* const kDays[] = {"Sunday",    "Monday",   "Tuesday",
                                      "Wednesday", "Thursday", "Friday",
                                      "Saturday"};
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out.push_back(format[i]);
      continue;
    }
    const char d = format[++i];
    switch (d) {
      case 'Y':
        absl::StrAppend(&out, tm.tm_year + 1900);
        break;
      case 'y':
        absl::StrAppendFormat(&out, "%02d", tm.tm_year % 100);
        break;
      case 'm':
        absl::StrAppendFormat(&out, "%02d", tm.tm_mon + 1);
        break;
      case 'd':
        absl::StrAppendFormat(&out, "%02d", tm.tm_mday);
        break;
      case 'e':
        absl::StrAppendFormat(&out, "%2d", tm.tm_mday);
        break;
      case 'H':
        absl::StrAppendFormat(&out, "%02d", tm.tm_hour);
        break;
      case 'I':
        absl::StrAppendFormat(&out, "%02d", (tm.tm_hour + 11) % 12 + 1);
        break;
      case 'M':
        absl::StrAppendFormat(&out, "%02d", tm.tm_min);
        break;
      case 'S':
        absl::StrAppendFormat(&out, "%02d", tm.tm_sec);
        break;
      case 'p':
        out += tm.tm_hour < 12 ? "AM" : "PM";
        break;
      case 'j':
        absl::StrAppendFormat(&out, "%03d", tm.tm_yday + 1);
        break;
      case 'b':
        out.append(kMonths[tm.tm_mon], 3);
        break;
      case 'B':
        out += kMonths[tm.tm_mon];
        break;
      case 'a':
        out.append(kDays[tm.tm_wday], 3);
        break;
      case 'A':
        out += kDays[tm.tm_wday];
        break;
      case '%':
        out.push_back('%');
        break;
      default:
        out.push_back('%');
        out.push_back(d);
    }
  }
  return out;
}

}  // namespace evald::jinja
