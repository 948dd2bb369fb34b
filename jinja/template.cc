#include "jinja/template.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "jinja/ast.h"
#include "jinja/builtins.h"
#include "jinja/parser.h"
#include "jinja/value.h"
#include "py/re.h"

namespace evald::jinja {

struct Template::Impl {
  Body body;
  bool strict_undefined = false;
};

namespace {

// Variables of one scope; lookups walk to the parent.
struct Scope {
  explicit Scope(Scope* parent_scope) : parent(parent_scope) {}
  const Value* Find(const std::string& name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent) {
      for (const auto& [k, v] : s->vars) {
        if (k == name) return &v;
      }
    }
    return nullptr;
  }
  void Set(const std::string& name, Value value) {
    for (auto& [k, v] : vars) {
      if (k == name) {
        v = std::move(value);
        return;
      }
    }
    vars.emplace_back(name, std::move(value));
  }
  std::vector<std::pair<std::string, Value>> vars;
  Scope* parent;
};

enum class Flow { kNormal, kBreak, kContinue };

class Interpreter {
 public:
  Interpreter(const RenderOptions& options, bool strict_undefined)
      : options_(options), strict_(strict_undefined) {
    limits_.max_size = options.max_output_bytes;
  }

  absl::StatusOr<std::string> Run(const Body& body, const base::Json& context) {
    Scope root(nullptr);
    root_ = &root;
    AddGlobals(&root);
    for (const auto& [key, value] : context.object())
      root.Set(key, Value::FromJson(value));
    std::string out;
    out_ = &out;
    ASSIGN_OR_RETURN(Flow flow, ExecBody(body, &root));
    (void)flow;
    return out;
  }

 private:
  static absl::Status At(int line, int column, const absl::Status& status) {
    if (status.ok()) return status;
    if (status.message().rfind("line ", 0) == 0)
      return status;  // already located
    return absl::Status(status.code(),
                        absl::StrCat("line ", line, ", column ", column, ": ",
                                     status.message()));
  }
  template <typename T>
  static absl::Status Located(const T& node, const absl::Status& status) {
    return At(node.line, node.column, status);
  }

  absl::Status Step(int line, int column) {
    if (++steps_ > options_.max_steps) {
      return At(line, column,
                absl::ResourceExhaustedError(absl::StrCat(
                    "template exceeded ", options_.max_steps, " steps")));
    }
    return absl::OkStatus();
  }

  absl::Status Emit(absl::string_view s, int line, int column) {
    if (out_->size() + s.size() > options_.max_output_bytes) {
      return At(line, column,
                absl::ResourceExhaustedError(
                    absl::StrCat("rendered output exceeds ",
                                 options_.max_output_bytes, " bytes")));
    }
    out_->append(s.data(), s.size());
    return absl::OkStatus();
  }

  void AddGlobals(Scope* scope) {
    scope->Set(
        "raise_exception",
        Value::Function("raise_exception", [](std::vector<Value> args, KwArgs) {
          return absl::StatusOr<Value>(absl::InvalidArgumentError(absl::StrCat(
              "raise_exception: ",
              args.empty() ? std::string("error") : args[0].Str())));
        }));
    const int64_t max_steps = options_.max_steps;
    scope->Set("range",
               Value::Function(
                   "range",
                   [max_steps](std::vector<Value> args,
                               KwArgs) -> absl::StatusOr<Value> {
                     int64_t start = 0, stop = 0, step = 1;
                     for (const Value& a : args) {
                       if (!a.is_int())
                         return absl::InvalidArgumentError(
                             "range: arguments must be integers");
                     }
                     if (args.size() == 1) {
                       stop = args[0].int_value();
                     } else if (args.size() == 2 || args.size() == 3) {
                       start = args[0].int_value();
                       stop = args[1].int_value();
                       if (args.size() == 3) step = args[2].int_value();
                     } else {
                       return absl::InvalidArgumentError(
                           "range: expected 1 to 3 arguments");
                     }
                     if (step == 0)
                       return absl::InvalidArgumentError(
                           "range: step must not be zero");
                     ValueList out;
                     for (int64_t i = start; step > 0 ? i < stop : i > stop;
                          i += step) {
                       if (static_cast<int64_t>(out.size()) >= max_steps)
                         return absl::ResourceExhaustedError("range too large");
                       out.push_back(Value::Int(i));
                       if ((step > 0 && i > INT64_MAX - step) ||
                           (step < 0 && i < INT64_MIN - step))
                         break;
                     }
                     return Value::List(std::move(out));
                   }));
    scope->Set(
        "namespace",
        Value::Function(
            "namespace",
            [](std::vector<Value> args,
               KwArgs kwargs) -> absl::StatusOr<Value> {
              ValueDict items;
              for (const Value& a : args) {
                if (!a.is_dict())
                  return absl::InvalidArgumentError(
                      "namespace: positional argument must be a mapping");
                for (const auto& [k, v] : a.dict()) items.emplace_back(k, v);
              }
              for (auto& [k, v] : kwargs)
                items.emplace_back(Value::String(k), std::move(v));
              return Value::Namespace(std::move(items));
            }));
    scope->Set("dict",
               Value::Function(
                   "dict",
                   [](std::vector<Value> args,
                      KwArgs kwargs) -> absl::StatusOr<Value> {
                     Value d = Value::Dict({});
                     for (const Value& a : args) {
                       if (!a.is_dict())
                         return absl::InvalidArgumentError(
                             "dict: positional argument must be a mapping");
                       for (const auto& [k, v] : a.dict())
                         d.mutable_dict().emplace_back(k, v);
                     }
                     for (auto& [k, v] : kwargs) d.Set(k, std::move(v));
                     return d;
                   }));
    if (options_.clock != nullptr) {
      const base::Clock* clock = options_.clock;
      scope->Set(
          "strftime_now",
          Value::Function(
              "strftime_now",
              [clock](std::vector<Value> args,
                      KwArgs) -> absl::StatusOr<Value> {
                if (args.size() != 1 || !args[0].is_string()) {
                  return absl::InvalidArgumentError(
                      "strftime_now: expected one format string");
                }
                const int64_t secs = clock->NowUnixNanos() / 1'000'000'000;
                return Value::String(FormatTime(secs, args[0].string_value()));
              }));
    }
  }

  // ---- statements ----

  absl::StatusOr<Flow> ExecBody(const Body& body, Scope* scope) {
    for (const auto& node : body) {
      ASSIGN_OR_RETURN(Flow flow, Exec(*node, scope));
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> Exec(const Node& node, Scope* scope) {
    RETURN_IF_ERROR(Step(node.line, node.column));
    switch (node.kind) {
      case Node::Kind::kText:
        RETURN_IF_ERROR(Emit(node.text, node.line, node.column));
        return Flow::kNormal;
      case Node::Kind::kOutput: {
        ASSIGN_OR_RETURN(Value v, Eval(*node.expr, scope));
        RETURN_IF_ERROR(Emit(v.Str(), node.line, node.column));
        return Flow::kNormal;
      }
      case Node::Kind::kIf:
        for (size_t i = 0; i < node.conditions.size(); ++i) {
          ASSIGN_OR_RETURN(Value cond, Eval(*node.conditions[i], scope));
          if (cond.Truthy()) return ExecBody(node.bodies[i], scope);
        }
        return ExecBody(node.else_body, scope);
      case Node::Kind::kFor:
        return ExecFor(node, scope);
      case Node::Kind::kSet: {
        ASSIGN_OR_RETURN(Value v, Eval(*node.expr, scope));
        if (node.filter != nullptr) {
          const Value* ns = scope->Find(node.filter->name);
          if (ns == nullptr || !ns->is_namespace()) {
            return Located(
                node, absl::InvalidArgumentError(absl::StrCat(
                          "cannot assign attribute on non-namespace object '",
                          node.filter->name, "'")));
          }
          Value target = *ns;  // shares the namespace's storage
          target.Set(node.text, std::move(v));
          return Flow::kNormal;
        }
        RETURN_IF_ERROR(
            Located(node, Assign(node.targets, std::move(v), scope)));
        return Flow::kNormal;
      }
      case Node::Kind::kSetBlock: {
        ASSIGN_OR_RETURN(std::string text, Capture(node.body, scope));
        Value v = Value::String(std::move(text));
        if (node.expr != nullptr) {
          ASSIGN_OR_RETURN(
              v, EvalWithPlaceholder(*node.expr, std::move(v), scope));
        }
        RETURN_IF_ERROR(
            Located(node, Assign(node.targets, std::move(v), scope)));
        return Flow::kNormal;
      }
      case Node::Kind::kFilterBlock: {
        ASSIGN_OR_RETURN(std::string text, Capture(node.body, scope));
        ASSIGN_OR_RETURN(
            Value v, EvalWithPlaceholder(
                         *node.expr, Value::String(std::move(text)), scope));
        RETURN_IF_ERROR(Emit(v.Str(), node.line, node.column));
        return Flow::kNormal;
      }
      case Node::Kind::kMacro:
        scope->Set(node.text, MakeMacro(node));
        return Flow::kNormal;
      case Node::Kind::kCallBlock: {
        Value caller = MakeMacro(node);
        ASSIGN_OR_RETURN(Value v, EvalCall(*node.expr, scope, &caller));
        RETURN_IF_ERROR(Emit(v.Str(), node.line, node.column));
        return Flow::kNormal;
      }
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
      case Node::Kind::kScope:
        return ExecBody(node.body, scope);
    }
    return Flow::kNormal;
  }

  absl::StatusOr<std::string> Capture(const Body& body, Scope* scope) {
    std::string captured;
    std::string* saved = out_;
    out_ = &captured;
    auto flow = ExecBody(body, scope);
    out_ = saved;
    if (!flow.ok()) return flow.status();
    return captured;
  }

  absl::Status Assign(const std::vector<std::string>& targets, Value v,
                      Scope* scope) {
    if (targets.size() == 1) {
      scope->Set(targets[0], std::move(v));
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    if (items.size() != targets.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot unpack ", items.size(), " values into ",
                       targets.size(), " names"));
    }
    for (size_t i = 0; i < targets.size(); ++i)
      scope->Set(targets[i], std::move(items[i]));
    return absl::OkStatus();
  }

  absl::StatusOr<Flow> ExecFor(const Node& node, Scope* scope) {
    ASSIGN_OR_RETURN(Value iterable, Eval(*node.expr, scope));
    auto items_or = Iterate(iterable);
    if (!items_or.ok()) return Located(*node.expr, items_or.status());
    ValueList items = *std::move(items_or);
    Scope loop_scope(scope);
    if (node.filter != nullptr) {
      ValueList kept;
      for (Value& item : items) {
        RETURN_IF_ERROR(Step(node.line, node.column));
        RETURN_IF_ERROR(Located(node, Assign(node.targets, item, &loop_scope)));
        ASSIGN_OR_RETURN(Value keep, Eval(*node.filter, &loop_scope));
        if (keep.Truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) return ExecBody(node.else_body, scope);
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      RETURN_IF_ERROR(Step(node.line, node.column));
      RETURN_IF_ERROR(
          Located(node, Assign(node.targets, items[i], &loop_scope)));
      if (!node.uses_loop) {
        ASSIGN_OR_RETURN(Flow flow, ExecBody(node.body, &loop_scope));
        if (flow == Flow::kBreak) break;
        continue;
      }
      ValueDict loop;
      loop.emplace_back(Value::String("index"), Value::Int(i + 1));
      loop.emplace_back(Value::String("index0"), Value::Int(i));
      loop.emplace_back(Value::String("revindex"), Value::Int(n - i));
      loop.emplace_back(Value::String("revindex0"), Value::Int(n - i - 1));
      loop.emplace_back(Value::String("first"), Value::Bool(i == 0));
      loop.emplace_back(Value::String("last"), Value::Bool(i == n - 1));
      loop.emplace_back(Value::String("length"), Value::Int(n));
      loop.emplace_back(Value::String("depth"), Value::Int(1));
      loop.emplace_back(Value::String("depth0"), Value::Int(0));
      loop.emplace_back(Value::String("previtem"),
                        i > 0 ? items[i - 1] : Value());
      loop.emplace_back(Value::String("nextitem"),
                        i + 1 < n ? items[i + 1] : Value());
      loop.emplace_back(
          Value::String("cycle"),
          Value::Function(
              "loop.cycle",
              [i](std::vector<Value> args, KwArgs) -> absl::StatusOr<Value> {
                if (args.empty())
                  return absl::InvalidArgumentError("loop.cycle: no items");
                return args[static_cast<size_t>(i) % args.size()];
              }));
      loop_scope.Set("loop", Value::Namespace(std::move(loop)));
      ASSIGN_OR_RETURN(Flow flow, ExecBody(node.body, &loop_scope));
      if (flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  Value MakeMacro(const Node& node) {
    const Node* def = &node;
    return Value::Function(node.text,
                           [this, def](std::vector<Value> args,
                                       KwArgs kwargs) -> absl::StatusOr<Value> {
                             return CallMacro(*def, std::move(args),
                                              std::move(kwargs));
                           });
  }

  absl::StatusOr<Value> CallMacro(const Node& def, std::vector<Value> args,
                                  KwArgs kwargs) {
    if (call_depth_ >= options_.max_call_depth) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "macro calls nested deeper than ", options_.max_call_depth));
    }
    Scope scope(root_);
    if (args.size() > def.targets.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("macro '", def.text, "' takes ", def.targets.size(),
                       " arguments, got ", args.size()));
    }
    for (size_t i = 0; i < def.targets.size(); ++i) {
      Value v;
      if (i < args.size()) {
        v = std::move(args[i]);
      } else {
        bool found = false;
        for (auto& [k, kv] : kwargs) {
          if (k == def.targets[i]) {
            v = kv;
            found = true;
          }
        }
        if (!found && def.defaults[i] != nullptr) {
          ASSIGN_OR_RETURN(v, Eval(*def.defaults[i], &scope));
        }
      }
      scope.Set(def.targets[i], std::move(v));
    }
    for (auto& [k, v] : kwargs) {
      if (k == "caller") scope.Set("caller", v);
    }
    ++call_depth_;
    auto text = Capture(def.body, &scope);
    --call_depth_;
    if (!text.ok()) return text.status();
    return Value::String(*std::move(text));
  }

  // ---- expressions ----

  absl::StatusOr<Value> EvalWithPlaceholder(const Expr& chain, Value value,
                                            Scope* scope) {
    placeholder_ = std::move(value);
    return Eval(chain, scope);
  }

  absl::StatusOr<std::vector<Value>> EvalArgs(const Expr& e, size_t first,
                                              Scope* scope) {
    std::vector<Value> args;
    for (size_t i = first; i < e.args.size(); ++i) {
      ASSIGN_OR_RETURN(Value v, Eval(*e.args[i], scope));
      args.push_back(std::move(v));
    }
    return args;
  }

  absl::StatusOr<KwArgs> EvalKwargs(const Expr& e, Scope* scope) {
    KwArgs kwargs;
    for (const auto& [k, ex] : e.kwargs) {
      ASSIGN_OR_RETURN(Value v, Eval(*ex, scope));
      kwargs.emplace_back(k, std::move(v));
    }
    return kwargs;
  }

  absl::StatusOr<Value> EvalCall(const Expr& e, Scope* scope,
                                 const Value* caller) {
    ASSIGN_OR_RETURN(Value callee, Eval(*e.args[0], scope));
    ASSIGN_OR_RETURN(std::vector<Value> args, EvalArgs(e, 1, scope));
    ASSIGN_OR_RETURN(KwArgs kwargs, EvalKwargs(e, scope));
    if (caller != nullptr) kwargs.emplace_back("caller", *caller);
    if (!callee.is_callable()) {
      std::string what = e.args[0]->kind == Expr::Kind::kName
                             ? absl::StrCat("'", e.args[0]->name, "'")
                             : std::string("value");
      if (e.args[0]->kind == Expr::Kind::kGetAttr)
        what = absl::StrCat("'", e.args[0]->name, "'");
      return Located(
          e, absl::InvalidArgumentError(
                 callee.is_undefined()
                     ? absl::StrCat(what, " is undefined")
                     : absl::StrCat(what, " of type ", callee.TypeName(),
                                    " is not callable")));
    }
    RETURN_IF_ERROR(Step(e.line, e.column));
    auto result = callee.function()(std::move(args), std::move(kwargs));
    if (!result.ok()) return Located(e, result.status());
    return result;
  }

  // Eval with the environment's undefined rule: under StrictUndefined a
  // name, attribute or item that is undefined is an error where it is read.
  absl::StatusOr<Value> Eval(const Expr& e, Scope* scope) {
    ASSIGN_OR_RETURN(Value v, EvalLenient(e, scope));
    if (strict_ && v.is_undefined() &&
        (e.kind == Expr::Kind::kName || e.kind == Expr::Kind::kGetAttr ||
         e.kind == Expr::Kind::kGetItem)) {
      return Located(e, StrictUndefinedError(e));
    }
    return v;
  }

  // An undefined operand is allowed (StrictUndefined too) where jinja2
  // only asks whether it is defined.
  absl::StatusOr<Value> EvalOperand(const Expr& parent, Scope* scope) {
    const bool asks_defined =
        (parent.kind == Expr::Kind::kTest &&
         (parent.name == "defined" || parent.name == "undefined")) ||
        (parent.kind == Expr::Kind::kFilter &&
         (parent.name == "default" || parent.name == "d"));
    return asks_defined ? EvalLenient(*parent.args[0], scope)
                        : Eval(*parent.args[0], scope);
  }

  static absl::Status StrictUndefinedError(const Expr& e) {
    if (e.kind == Expr::Kind::kName) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", e.name, "' is undefined"));
    }
    if (e.kind == Expr::Kind::kGetAttr) {
      return absl::InvalidArgumentError(
          absl::StrCat("object has no attribute '", e.name, "'"));
    }
    return absl::InvalidArgumentError("item is undefined");
  }

  absl::StatusOr<Value> EvalLenient(const Expr& e, Scope* scope) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        if (e.literal.is_undefined())
          return placeholder_;  // filter-block placeholder
        return e.literal;
      case Expr::Kind::kName: {
        const Value* v = scope->Find(e.name);
        return v != nullptr ? *v : Value();
      }
      case Expr::Kind::kGetAttr: {
        ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], scope));
        if (obj.is_undefined()) return Located(e, UndefinedError(*e.args[0]));
        return GetAttribute(obj, e.name, limits_);
      }
      case Expr::Kind::kGetItem: {
        ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], scope));
        if (obj.is_undefined()) return Located(e, UndefinedError(*e.args[0]));
        ASSIGN_OR_RETURN(Value key, Eval(*e.args[1], scope));
        return GetItem(obj, key, limits_);
      }
      case Expr::Kind::kSlice: {
        ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0], scope));
        if (obj.is_undefined()) return Located(e, UndefinedError(*e.args[0]));
        Value parts[3] = {Value::None(), Value::None(), Value::None()};
        for (int i = 0; i < 3; ++i) {
          if (e.args[i + 1] != nullptr) {
            ASSIGN_OR_RETURN(parts[i], Eval(*e.args[i + 1], scope));
          }
        }
        auto r = GetSlice(obj, parts[0], parts[1], parts[2]);
        if (!r.ok()) return Located(e, r.status());
        return r;
      }
      case Expr::Kind::kCall:
        return EvalCall(e, scope, nullptr);
      case Expr::Kind::kFilter: {
        ASSIGN_OR_RETURN(Value operand, EvalOperand(e, scope));
        ASSIGN_OR_RETURN(std::vector<Value> args, EvalArgs(e, 1, scope));
        ASSIGN_OR_RETURN(KwArgs kwargs, EvalKwargs(e, scope));
        RETURN_IF_ERROR(Step(e.line, e.column));
        if (e.name == "regex_replace") {
          auto r = RegexReplace(operand, args, kwargs);
          if (!r.ok()) return Located(e, r.status());
          return r;
        }
        auto r = ApplyFilter(e.name, operand, std::move(args),
                             std::move(kwargs), limits_);
        if (!r.ok()) return Located(e, r.status());
        return r;
      }
      case Expr::Kind::kTest: {
        ASSIGN_OR_RETURN(Value operand, EvalOperand(e, scope));
        ASSIGN_OR_RETURN(std::vector<Value> args, EvalArgs(e, 1, scope));
        auto r = ApplyTest(e.name, operand, args);
        if (!r.ok()) return Located(e, r.status());
        return Value::Bool(*r != e.negated);
      }
      case Expr::Kind::kNeg:
      case Expr::Kind::kPos: {
        ASSIGN_OR_RETURN(Value v, Eval(*e.args[0], scope));
        if (e.kind == Expr::Kind::kPos && v.is_number()) return v;
        auto r = BinaryOp("-", Value::Int(0), v, limits_);
        if (!v.is_number() && !v.is_bool()) {
          return Located(
              e, absl::InvalidArgumentError(absl::StrCat(
                     "bad operand type for unary -: '", v.TypeName(), "'")));
        }
        if (!r.ok()) return Located(e, r.status());
        if (v.is_float()) return Value::Float(-v.float_value());
        return r;
      }
      case Expr::Kind::kNot: {
        ASSIGN_OR_RETURN(Value v, Eval(*e.args[0], scope));
        return Value::Bool(!v.Truthy());
      }
      case Expr::Kind::kAnd: {
        ASSIGN_OR_RETURN(Value a, Eval(*e.args[0], scope));
        if (!a.Truthy()) return a;
        return Eval(*e.args[1], scope);
      }
      case Expr::Kind::kOr: {
        ASSIGN_OR_RETURN(Value a, Eval(*e.args[0], scope));
        if (a.Truthy()) return a;
        return Eval(*e.args[1], scope);
      }
      case Expr::Kind::kBinary: {
        ASSIGN_OR_RETURN(Value a, Eval(*e.args[0], scope));
        ASSIGN_OR_RETURN(Value b, Eval(*e.args[1], scope));
        auto r = BinaryOp(e.name, a, b, limits_);
        if (!r.ok()) return Located(e, r.status());
        return r;
      }
      case Expr::Kind::kCompare: {
        ASSIGN_OR_RETURN(Value left, Eval(*e.args[0], scope));
        for (size_t i = 0; i < e.ops.size(); ++i) {
          ASSIGN_OR_RETURN(Value right, Eval(*e.args[i + 1], scope));
          auto ok = Compare(e.ops[i], left, right);
          if (!ok.ok()) return Located(e, ok.status());
          if (!*ok) return Value::Bool(false);
          left = std::move(right);
        }
        return Value::Bool(true);
      }
      case Expr::Kind::kCond: {
        ASSIGN_OR_RETURN(Value cond, Eval(*e.args[1], scope));
        if (cond.Truthy()) return Eval(*e.args[0], scope);
        if (e.args[2] == nullptr) return Value();
        return Eval(*e.args[2], scope);
      }
      case Expr::Kind::kList: {
        ASSIGN_OR_RETURN(std::vector<Value> items, EvalArgs(e, 0, scope));
        return Value::List(std::move(items));
      }
      case Expr::Kind::kTuple: {
        ASSIGN_OR_RETURN(std::vector<Value> items, EvalArgs(e, 0, scope));
        return Value::Tuple(std::move(items));
      }
      case Expr::Kind::kDict: {
        ValueDict items;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          ASSIGN_OR_RETURN(Value k, Eval(*e.args[i], scope));
          ASSIGN_OR_RETURN(Value v, Eval(*e.args[i + 1], scope));
          bool replaced = false;
          for (auto& [ek, ev] : items) {
            if (ek == k) {
              ev = v;
              replaced = true;
            }
          }
          if (!replaced) items.emplace_back(std::move(k), std::move(v));
        }
        return Value::Dict(std::move(items));
      }
    }
    return Value();
  }

  // jinja2's default Undefined: reading an attribute or item of an undefined
  // value is an error (printing it, testing it and iterating it are not).
  static absl::Status UndefinedError(const Expr& undefined_expr) {
    switch (undefined_expr.kind) {
      case Expr::Kind::kName:
        return absl::InvalidArgumentError(
            absl::StrCat("'", undefined_expr.name, "' is undefined"));
      case Expr::Kind::kGetAttr:
        return absl::InvalidArgumentError(absl::StrCat(
            "object has no attribute '", undefined_expr.name, "'"));
      default:
        return absl::InvalidArgumentError("value is undefined");
    }
  }

  static absl::StatusOr<bool> Compare(const std::string& op, const Value& a,
                                      const Value& b) {
    if (op == "==") return a == b;
    if (op == "!=") return !(a == b);
    if (op == "in") return Contains(b, a);
    if (op == "not in") {
      ASSIGN_OR_RETURN(bool in, Contains(b, a));
      return !in;
    }
    auto c = CompareValues(a, b);
    if (!c.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", op, "' not supported between ", a.TypeName(),
                       " and ", b.TypeName()));
    }
    if (op == "<") return *c < 0;
    if (op == "<=") return *c <= 0;
    if (op == ">") return *c > 0;
    return *c >= 0;
  }

  // lm-eval's regex_replace(string, pattern, repl, count=0): re.sub.
  static absl::StatusOr<Value> RegexReplace(const Value& v,
                                            const std::vector<Value>& args,
                                            const KwArgs& kwargs) {
    std::vector<Value> all = args;
    for (const auto& [k, value] : kwargs) {
      const size_t slot = k == "pattern" ? 0 : k == "repl" ? 1 : 2;
      if (k != "pattern" && k != "repl" && k != "count") {
        return absl::InvalidArgumentError(
            absl::StrCat("regex_replace: unexpected argument '", k, "'"));
      }
      if (all.size() <= slot) all.resize(slot + 1);
      all[slot] = value;
    }
    if (!v.is_string() || all.size() < 2 || !all[0].is_string() ||
        !all[1].is_string()) {
      return absl::InvalidArgumentError(
          "regex_replace: expected a string, a pattern and a replacement");
    }
    if (all.size() > 2 && !(all[2].is_int() && all[2].int_value() == 0)) {
      return absl::InvalidArgumentError(
          "regex_replace: only count=0 (replace all) is supported");
    }
    ASSIGN_OR_RETURN(py::Regex re, py::Regex::Compile(all[0].string_value()));
    return Value::String(re.Sub(v.string_value(), all[1].string_value()));
  }

  const RenderOptions& options_;
  const bool strict_;
  BuiltinLimits limits_;
  std::string* out_ = nullptr;
  Scope* root_ = nullptr;
  Value placeholder_;
  int64_t steps_ = 0;
  int call_depth_ = 0;
};

}  // namespace

Template::Template(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;
Template::~Template() = default;

absl::StatusOr<Template> Template::Parse(absl::string_view source,
                                         const Environment& env) {
  auto impl = std::make_shared<Impl>();
  ParseOptions parse_options;
  parse_options.trim_blocks = env.trim_blocks;
  parse_options.lstrip_blocks = env.lstrip_blocks;
  parse_options.keep_trailing_newline = env.keep_trailing_newline;
  parse_options.regex_replace_filter = env.regex_replace_filter;
  ASSIGN_OR_RETURN(impl->body, ParseTemplate(source, parse_options));
  impl->strict_undefined = env.strict_undefined;
  return Template(std::move(impl));
}

absl::StatusOr<std::string> Template::Render(
    const base::Json& context, const RenderOptions& options) const {
  if (!context.is_object())
    return absl::InvalidArgumentError("template context must be a JSON object");
  Interpreter interpreter(options, impl_->strict_undefined);
  return interpreter.Run(impl_->body, context);
}

}  // namespace evald::jinja
