// File: jinja/ast.h
// -----------------------------------------------------------------------------
// The syntax tree of a parsed Jinja template (internal to the renderer). A
// Template owns its tree; nodes own their children through unique_ptr. Every
// node carries the 1-based line and column of its first token so runtime
// errors can point at the template source.
#ifndef EVALD_JINJA_AST_H_
#define EVALD_JINJA_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/value.h"

namespace evald::jinja {

struct Expr {
  enum class Kind {
    kLiteral,  // literal
    kName,     // name
    kGetAttr,  // args[0].name
    kGetItem,  // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]] (entries may be null)
    kCall,     // args[0](args[1:], kwargs)
    kFilter,   // args[0] | name(args[1:], kwargs)
    kTest,     // args[0] is [not] name(args[1:])
    kNeg,      // -args[0]
    kPos,      // +args[0]
    kNot,      // not args[0]
    kBinary,   // args[0] name args[1]  (+ - * / // % ** ~)
    kAnd,      // args[0] and args[1]
    kOr,       // args[0] or args[1]
    kCompare,  // args[0] ops[0] args[1] ops[1] args[2] ...
    kCond,     // args[0] if args[1] else args[2] (args[2] may be null)
    kList,     // [args...]
    kTuple,    // (args...)
    kDict,     // {args[0]: args[1], ...}
  };
  Kind kind = Kind::kLiteral;
  int line = 0;
  int column = 0;
  Value literal;
  std::string name;
  bool negated = false;
  std::vector<std::unique_ptr<Expr>> args;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
  std::vector<std::string> ops;
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum class Kind {
    kText,       // text
    kOutput,     // {{ expr }}
    kIf,         // conditions[i] -> bodies[i]; else_body
    kFor,        // for targets in expr [if filter] body [else else_body]
    kSet,        // set targets = expr | set ns.attr = expr (attr non-empty)
    kSetBlock,   // set targets %}body{% endset (optional filter chain in expr)
    kMacro,      // macro name(params=defaults) body
    kCallBlock,  // call[(caller params)] expr %}body{% endcall
    kFilterBlock,  // filter chain %}body{% endfilter (expr is the chain over a
                   // placeholder)
    kBreak,
    kContinue,
    kScope,  // generation blocks: body rendered in place
  };
  Kind kind = Kind::kText;
  int line = 0;
  int column = 0;
  bool uses_loop = false;  // kFor: the body reads `loop`
  std::string text;        // kText: literal text; kMacro: name; kSet: attribute
  std::unique_ptr<Expr> expr;
  std::unique_ptr<Expr>
      filter;  // kFor: the `if` filter; kSet (attr): the namespace
  std::vector<std::string>
      targets;  // kFor / kSet / kSetBlock: names; kMacro/kCallBlock: params
  std::vector<std::unique_ptr<Expr>>
      defaults;  // kMacro/kCallBlock: one per param (may be null)
  std::vector<std::unique_ptr<Expr>> conditions;  // kIf
  std::vector<Body> bodies;                       // kIf
  Body body;
  Body else_body;
};

}  // namespace evald::jinja

#endif  // EVALD_JINJA_AST_H_
