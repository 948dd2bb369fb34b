#include "jinja/parser.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "jinja/lexer.h"

namespace evald::jinja {
namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, const Positions& positions,
         const ParseOptions& options)
      : toks_(std::move(tokens)), pos_(positions), options_(options) {}

  absl::StatusOr<Body> Run() {
    ASSIGN_OR_RETURN(Body body, ParseBody({}));
    if (Cur().type != Tok::kEof) return Error(Cur(), "unexpected tag");
    return body;
  }

 private:
  const Token& Cur() const { return toks_[i_]; }
  const Token& Peek(size_t n = 1) const {
    return toks_[std::min(i_ + n, toks_.size() - 1)];
  }
  bool IsOp(absl::string_view op) const {
    return Cur().type == Tok::kOp && Cur().value == op;
  }
  bool IsName(absl::string_view name) const {
    return Cur().type == Tok::kName && Cur().value == name;
  }

  absl::Status Error(const Token& t, absl::string_view what) const {
    std::string found;
    switch (t.type) {
      case Tok::kEof:
        found = "end of template";
        break;
      case Tok::kBlockEnd:
        found = "'%}'";
        break;
      case Tok::kVarEnd:
        found = "'}}'";
        break;
      case Tok::kBlockBegin:
        found = "'{%'";
        break;
      case Tok::kVarBegin:
        found = "'{{'";
        break;
      case Tok::kText:
        found = "text";
        break;
      default:
        found = absl::StrCat("'", t.value, "'");
    }
    return pos_.Error(t.offset, absl::StrCat(what, " (found ", found, ")"));
  }

  absl::Status Expect(Tok type, absl::string_view what) {
    if (Cur().type != type)
      return Error(Cur(), absl::StrCat("expected ", what));
    ++i_;
    return absl::OkStatus();
  }
  absl::Status ExpectOp(absl::string_view op) {
    if (!IsOp(op)) return Error(Cur(), absl::StrCat("expected '", op, "'"));
    ++i_;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Cur().type != Tok::kName) return Error(Cur(), "expected a name");
    return toks_[i_++].value;
  }

  template <typename T>
  void Place(T* node, const Token& t) {
    auto [line, column] = pos_.At(t.offset);
    node->line = line;
    node->column = column;
  }

  class DepthGuard {
   public:
    explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
    ~DepthGuard() { --*depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    int* depth_;
  };
  absl::Status CheckDepth() const {
    if (depth_ > options_.max_depth)
      return Error(Cur(), "template nested too deeply");
    return absl::OkStatus();
  }

  // Parses nodes until a {% <end> %} whose name is in `ends` (left unconsumed:
  // the cursor stays on the tag's name) or the end of input.
  absl::StatusOr<Body> ParseBody(const std::vector<absl::string_view>& ends) {
    DepthGuard guard(&depth_);
    RETURN_IF_ERROR(CheckDepth());
    Body body;
    while (true) {
      const Token& t = Cur();
      if (t.type == Tok::kEof) {
        if (!ends.empty()) {
          return Error(t, absl::StrCat("unexpected end of template, expected '",
                                       absl::StrJoin(ends, "' or '"), "'"));
        }
        return body;
      }
      if (t.type == Tok::kText) {
        auto node = std::make_unique<Node>();
        node->kind = Node::Kind::kText;
        Place(node.get(), t);
        node->text = t.value;
        body.push_back(std::move(node));
        ++i_;
        continue;
      }
      if (t.type == Tok::kVarBegin) {
        auto node = std::make_unique<Node>();
        node->kind = Node::Kind::kOutput;
        Place(node.get(), t);
        ++i_;
        ASSIGN_OR_RETURN(node->expr, ParseTupleOrExpr());
        RETURN_IF_ERROR(Expect(Tok::kVarEnd, "'}}'"));
        body.push_back(std::move(node));
        continue;
      }
      if (t.type != Tok::kBlockBegin) return Error(t, "unexpected token");
      const Token& name = Peek();
      if (name.type == Tok::kName) {
        for (absl::string_view end : ends) {
          if (name.value == end) {
            ++i_;
            return body;
          }
        }
      }
      ++i_;
      ASSIGN_OR_RETURN(std::unique_ptr<Node> node, ParseStatement(t));
      body.push_back(std::move(node));
    }
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseStatement(const Token& begin) {
    if (Cur().type != Tok::kName)
      return Error(Cur(), "expected a statement name");
    const std::string keyword = Cur().value;
    auto node = std::make_unique<Node>();
    Place(node.get(), begin);
    ++i_;
    if (keyword == "if") return ParseIf(std::move(node));
    if (keyword == "for") return ParseFor(std::move(node));
    if (keyword == "set") return ParseSet(std::move(node));
    if (keyword == "macro") return ParseMacro(std::move(node));
    if (keyword == "call") return ParseCallBlock(std::move(node));
    if (keyword == "filter") return ParseFilterBlock(std::move(node));
    if (keyword == "break" || keyword == "continue") {
      node->kind =
          keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      if (loop_depth_ == 0)
        return Error(toks_[i_ - 1],
                     absl::StrCat("'", keyword, "' outside a loop"));
      RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
      return node;
    }
    if (keyword == "generation") {
      node->kind = Node::Kind::kScope;
      RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
      ASSIGN_OR_RETURN(node->body, ParseBody({"endgeneration"}));
      return EndTag(std::move(node));
    }
    return Error(toks_[i_ - 1],
                 absl::StrCat("unknown statement '", keyword, "'"));
  }

  // Consumes the end tag's name and '%}'.
  absl::StatusOr<std::unique_ptr<Node>> EndTag(std::unique_ptr<Node> node) {
    ++i_;
    RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
    return node;
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseIf(std::unique_ptr<Node> node) {
    node->kind = Node::Kind::kIf;
    while (true) {
      // As jinja2: an if/elif test takes no bare conditional expression.
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> cond,
                       ParseTupleOrExpr(/*with_condexpr=*/false));
      RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
      ASSIGN_OR_RETURN(Body body, ParseBody({"elif", "else", "endif"}));
      node->conditions.push_back(std::move(cond));
      node->bodies.push_back(std::move(body));
      const std::string tag = Cur().value;
      ++i_;
      if (tag == "elif") continue;
      if (tag == "else") {
        RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
        ASSIGN_OR_RETURN(node->else_body, ParseBody({"endif"}));
        ++i_;
      }
      RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
      return node;
    }
  }

  absl::StatusOr<std::vector<std::string>> ParseTargets() {
    std::vector<std::string> targets;
    const bool paren = IsOp("(");
    if (paren) ++i_;
    while (true) {
      ASSIGN_OR_RETURN(std::string name, ExpectName());
      targets.push_back(std::move(name));
      if (!IsOp(",")) break;
      ++i_;
      if (Cur().type != Tok::kName) break;
    }
    if (paren) RETURN_IF_ERROR(ExpectOp(")"));
    return targets;
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseFor(std::unique_ptr<Node> node) {
    node->kind = Node::Kind::kFor;
    ASSIGN_OR_RETURN(node->targets, ParseTargets());
    if (!IsName("in")) return Error(Cur(), "expected 'in'");
    ++i_;
    ASSIGN_OR_RETURN(node->expr, ParseTupleOrExpr(/*with_condexpr=*/false));
    if (IsName("if")) {
      ++i_;
      ASSIGN_OR_RETURN(node->filter, ParseExpression());
    }
    if (IsName("recursive"))
      return Error(Cur(), "recursive loops are not supported");
    RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
    ++loop_depth_;
    const int refs_before = loop_refs_;
    auto body = ParseBody({"else", "endfor"});
    node->uses_loop = loop_refs_ > refs_before;
    --loop_depth_;
    if (!body.ok()) return body.status();
    node->body = *std::move(body);
    if (Cur().value == "else") {
      ++i_;
      RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
      ASSIGN_OR_RETURN(node->else_body, ParseBody({"endfor"}));
    }
    return EndTag(std::move(node));
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseSet(std::unique_ptr<Node> node) {
    node->kind = Node::Kind::kSet;
    if (Cur().type == Tok::kName && Peek().type == Tok::kOp &&
        Peek().value == ".") {
      auto ns = std::make_unique<Expr>();
      ns->kind = Expr::Kind::kName;
      Place(ns.get(), Cur());
      ns->name = Cur().value;
      i_ += 2;
      ASSIGN_OR_RETURN(node->text, ExpectName());
      node->filter = std::move(ns);
    } else {
      ASSIGN_OR_RETURN(node->targets, ParseTargets());
    }
    if (IsOp("=")) {
      ++i_;
      ASSIGN_OR_RETURN(node->expr, ParseTupleOrExpr());
      RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
      return node;
    }
    if (node->filter != nullptr) return Error(Cur(), "expected '='");
    node->kind = Node::Kind::kSetBlock;
    if (IsOp("|")) {
      auto placeholder = std::make_unique<Expr>();
      placeholder->kind = Expr::Kind::kLiteral;
      ASSIGN_OR_RETURN(node->expr, ParseFilterChain(std::move(placeholder)));
    }
    RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
    ASSIGN_OR_RETURN(node->body, ParseBody({"endset"}));
    return EndTag(std::move(node));
  }

  absl::Status ParseParams(Node* node) {
    RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      ASSIGN_OR_RETURN(std::string name, ExpectName());
      node->targets.push_back(std::move(name));
      std::unique_ptr<Expr> def;
      if (IsOp("=")) {
        ++i_;
        ASSIGN_OR_RETURN(def, ParseExpression());
      }
      node->defaults.push_back(std::move(def));
      if (!IsOp(",")) break;
      ++i_;
    }
    return ExpectOp(")");
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseMacro(std::unique_ptr<Node> node) {
    node->kind = Node::Kind::kMacro;
    ASSIGN_OR_RETURN(node->text, ExpectName());
    RETURN_IF_ERROR(ParseParams(node.get()));
    RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
    const int saved = loop_depth_;
    loop_depth_ = 0;
    auto body = ParseBody({"endmacro"});
    loop_depth_ = saved;
    if (!body.ok()) return body.status();
    node->body = *std::move(body);
    return EndTag(std::move(node));
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseCallBlock(
      std::unique_ptr<Node> node) {
    node->kind = Node::Kind::kCallBlock;
    if (IsOp("(")) RETURN_IF_ERROR(ParseParams(node.get()));
    ASSIGN_OR_RETURN(node->expr, ParseExpression());
    if (node->expr->kind != Expr::Kind::kCall)
      return Error(Cur(), "expected a call in 'call' block");
    RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
    ASSIGN_OR_RETURN(node->body, ParseBody({"endcall"}));
    return EndTag(std::move(node));
  }

  absl::StatusOr<std::unique_ptr<Node>> ParseFilterBlock(
      std::unique_ptr<Node> node) {
    node->kind = Node::Kind::kFilterBlock;
    auto placeholder = std::make_unique<Expr>();
    placeholder->kind = Expr::Kind::kLiteral;
    --i_;  // ParseFilterChain expects to sit on the '|' or the filter name.
    toks_[i_] = Token{Tok::kOp, "|", 0, 0, toks_[i_].offset};
    ASSIGN_OR_RETURN(node->expr, ParseFilterChain(std::move(placeholder)));
    RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "'%}'"));
    ASSIGN_OR_RETURN(node->body, ParseBody({"endfilter"}));
    return EndTag(std::move(node));
  }

  // ---- expressions (jinja2's precedence) ----

  absl::StatusOr<std::unique_ptr<Expr>> ParseTupleOrExpr(
      bool with_condexpr = true) {
    const Token& start = Cur();
    std::unique_ptr<Expr> first;
    if (with_condexpr) {
      ASSIGN_OR_RETURN(first, ParseExpression());
    } else {
      ASSIGN_OR_RETURN(first, ParseOr());
    }
    if (!IsOp(",")) return first;
    auto tuple = std::make_unique<Expr>();
    tuple->kind = Expr::Kind::kTuple;
    Place(tuple.get(), start);
    tuple->args.push_back(std::move(first));
    while (IsOp(",")) {
      ++i_;
      if (Cur().type == Tok::kBlockEnd || Cur().type == Tok::kVarEnd) break;
      std::unique_ptr<Expr> next;
      if (with_condexpr) {
        ASSIGN_OR_RETURN(next, ParseExpression());
      } else {
        ASSIGN_OR_RETURN(next, ParseOr());
      }
      tuple->args.push_back(std::move(next));
    }
    return tuple;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseExpression() {
    DepthGuard guard(&depth_);
    RETURN_IF_ERROR(CheckDepth());
    const Token& start = Cur();
    ASSIGN_OR_RETURN(std::unique_ptr<Expr> expr, ParseOr());
    while (IsName("if")) {
      ++i_;
      auto cond = std::make_unique<Expr>();
      cond->kind = Expr::Kind::kCond;
      Place(cond.get(), start);
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> test, ParseOr());
      std::unique_ptr<Expr> otherwise;
      if (IsName("else")) {
        ++i_;
        ASSIGN_OR_RETURN(otherwise, ParseExpression());
      }
      cond->args.push_back(std::move(expr));
      cond->args.push_back(std::move(test));
      cond->args.push_back(std::move(otherwise));
      expr = std::move(cond);
    }
    return expr;
  }

  std::unique_ptr<Expr> MakeBinary(Expr::Kind kind, std::string op,
                                   const Token& at, std::unique_ptr<Expr> a,
                                   std::unique_ptr<Expr> b) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->name = std::move(op);
    Place(e.get(), at);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseOr() {
    ASSIGN_OR_RETURN(std::unique_ptr<Expr> left, ParseAnd());
    while (IsName("or")) {
      const Token& at = Cur();
      ++i_;
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> right, ParseAnd());
      left = MakeBinary(Expr::Kind::kOr, "or", at, std::move(left),
                        std::move(right));
    }
    return left;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseAnd() {
    ASSIGN_OR_RETURN(std::unique_ptr<Expr> left, ParseNot());
    while (IsName("and")) {
      const Token& at = Cur();
      ++i_;
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> right, ParseNot());
      left = MakeBinary(Expr::Kind::kAnd, "and", at, std::move(left),
                        std::move(right));
    }
    return left;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseNot() {
    if (IsName("not")) {
      DepthGuard guard(&depth_);
      RETURN_IF_ERROR(CheckDepth());
      auto e = std::make_unique<Expr>();
      e->kind = Expr::Kind::kNot;
      Place(e.get(), Cur());
      ++i_;
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> operand, ParseNot());
      e->args.push_back(std::move(operand));
      return e;
    }
    return ParseCompare();
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseCompare() {
    const Token& start = Cur();
    ASSIGN_OR_RETURN(std::unique_ptr<Expr> first, ParseMath1());
    std::unique_ptr<Expr> cmp;
    while (true) {
      std::string op;
      if (Cur().type == Tok::kOp &&
          (Cur().value == "==" || Cur().value == "!=" || Cur().value == "<" ||
           Cur().value == "<=" || Cur().value == ">" || Cur().value == ">=")) {
        op = Cur().value;
        ++i_;
      } else if (IsName("in")) {
        op = "in";
        ++i_;
      } else if (IsName("not") && Peek().type == Tok::kName &&
                 Peek().value == "in") {
        op = "not in";
        i_ += 2;
      } else {
        break;
      }
      if (cmp == nullptr) {
        cmp = std::make_unique<Expr>();
        cmp->kind = Expr::Kind::kCompare;
        Place(cmp.get(), start);
        cmp->args.push_back(std::move(first));
      }
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> next, ParseMath1());
      cmp->ops.push_back(std::move(op));
      cmp->args.push_back(std::move(next));
    }
    if (cmp != nullptr) return cmp;
    return first;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseMath1() {
    ASSIGN_OR_RETURN(std::unique_ptr<Expr> left, ParseConcat());
    while (IsOp("+") || IsOp("-")) {
      const Token& at = Cur();
      ++i_;
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> right, ParseConcat());
      left = MakeBinary(Expr::Kind::kBinary, at.value, at, std::move(left),
                        std::move(right));
    }
    return left;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseConcat() {
    ASSIGN_OR_RETURN(std::unique_ptr<Expr> left, ParseMath2());
    while (IsOp("~")) {
      const Token& at = Cur();
      ++i_;
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> right, ParseMath2());
      left = MakeBinary(Expr::Kind::kBinary, "~", at, std::move(left),
                        std::move(right));
    }
    return left;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseMath2() {
    ASSIGN_OR_RETURN(std::unique_ptr<Expr> left, ParsePow());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const Token& at = Cur();
      ++i_;
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> right, ParsePow());
      left = MakeBinary(Expr::Kind::kBinary, at.value, at, std::move(left),
                        std::move(right));
    }
    return left;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParsePow() {
    ASSIGN_OR_RETURN(std::unique_ptr<Expr> left, ParseUnary(true));
    while (IsOp("**")) {
      const Token& at = Cur();
      ++i_;
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> right, ParseUnary(true));
      left = MakeBinary(Expr::Kind::kBinary, "**", at, std::move(left),
                        std::move(right));
    }
    return left;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseUnary(bool with_filter) {
    DepthGuard guard(&depth_);
    RETURN_IF_ERROR(CheckDepth());
    std::unique_ptr<Expr> node;
    if (IsOp("-") || IsOp("+")) {
      auto e = std::make_unique<Expr>();
      e->kind = IsOp("-") ? Expr::Kind::kNeg : Expr::Kind::kPos;
      Place(e.get(), Cur());
      ++i_;
      ASSIGN_OR_RETURN(std::unique_ptr<Expr> operand, ParseUnary(false));
      e->args.push_back(std::move(operand));
      node = std::move(e);
    } else {
      ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) return ParseFilterChain(std::move(node));
    return node;
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParsePrimary() {
    const Token& t = Cur();
    auto e = std::make_unique<Expr>();
    Place(e.get(), t);
    switch (t.type) {
      case Tok::kName:
        ++i_;
        if (t.value == "true" || t.value == "True") {
          e->literal = Value::Bool(true);
        } else if (t.value == "false" || t.value == "False") {
          e->literal = Value::Bool(false);
        } else if (t.value == "none" || t.value == "None") {
          e->literal = Value::None();
        } else {
          e->kind = Expr::Kind::kName;
          e->name = t.value;
          if (t.value == "loop") ++loop_refs_;
        }
        return e;
      case Tok::kString: {
        std::string s = t.value;
        ++i_;
        while (Cur().type == Tok::kString) {  // adjacent literals concatenate
          s += Cur().value;
          ++i_;
        }
        e->literal = Value::String(std::move(s));
        return e;
      }
      case Tok::kInt:
        ++i_;
        e->literal = Value::Int(t.int_value);
        return e;
      case Tok::kFloat:
        ++i_;
        e->literal = Value::Float(t.float_value);
        return e;
      case Tok::kOp:
        if (t.value == "(") {
          ++i_;
          if (IsOp(")")) {
            ++i_;
            e->kind = Expr::Kind::kTuple;
            return e;
          }
          ASSIGN_OR_RETURN(std::unique_ptr<Expr> inner, ParseExpression());
          if (IsOp(",")) {
            e->kind = Expr::Kind::kTuple;
            e->args.push_back(std::move(inner));
            while (IsOp(",")) {
              ++i_;
              if (IsOp(")")) break;
              ASSIGN_OR_RETURN(std::unique_ptr<Expr> item, ParseExpression());
              e->args.push_back(std::move(item));
            }
            RETURN_IF_ERROR(ExpectOp(")"));
            return e;
          }
          RETURN_IF_ERROR(ExpectOp(")"));
          return inner;
        }
        if (t.value == "[") {
          ++i_;
          e->kind = Expr::Kind::kList;
          while (!IsOp("]")) {
            ASSIGN_OR_RETURN(std::unique_ptr<Expr> item, ParseExpression());
            e->args.push_back(std::move(item));
            if (!IsOp(",")) break;
            ++i_;
          }
          RETURN_IF_ERROR(ExpectOp("]"));
          return e;
        }
        if (t.value == "{") {
          ++i_;
          e->kind = Expr::Kind::kDict;
          while (!IsOp("}")) {
            ASSIGN_OR_RETURN(std::unique_ptr<Expr> key, ParseExpression());
            RETURN_IF_ERROR(ExpectOp(":"));
            ASSIGN_OR_RETURN(std::unique_ptr<Expr> value, ParseExpression());
            e->args.push_back(std::move(key));
            e->args.push_back(std::move(value));
            if (!IsOp(",")) break;
            ++i_;
          }
          RETURN_IF_ERROR(ExpectOp("}"));
          return e;
        }
        break;
      default:
        break;
    }
    return Error(t, "expected an expression");
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParsePostfix(
      std::unique_ptr<Expr> node) {
    while (true) {
      const Token& t = Cur();
      if (IsOp(".")) {
        ++i_;
        auto e = std::make_unique<Expr>();
        Place(e.get(), t);
        if (Cur().type == Tok::kName) {
          e->kind = Expr::Kind::kGetAttr;
          e->name = Cur().value;
        } else if (Cur().type == Tok::kInt) {
          e->kind = Expr::Kind::kGetItem;
          auto index = std::make_unique<Expr>();
          index->literal = Value::Int(Cur().int_value);
          e->args.push_back(std::move(node));
          e->args.push_back(std::move(index));
          ++i_;
          node = std::move(e);
          continue;
        } else {
          return Error(Cur(), "expected an attribute name after '.'");
        }
        ++i_;
        e->args.push_back(std::move(node));
        node = std::move(e);
      } else if (IsOp("[")) {
        ++i_;
        ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node), t));
      } else if (IsOp("(")) {
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kCall;
        e->line = node->line;
        e->column = node->column;
        e->args.push_back(std::move(node));
        RETURN_IF_ERROR(ParseCallArgs(e.get()));
        node = std::move(e);
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseSubscript(
      std::unique_ptr<Expr> node, const Token& at) {
    std::unique_ptr<Expr> parts[3];
    int colons = 0;
    while (!IsOp("]")) {
      if (IsOp(":")) {
        if (++colons > 2) return Error(Cur(), "too many ':' in slice");
        ++i_;
        continue;
      }
      if (parts[colons] != nullptr) return Error(Cur(), "expected ']'");
      ASSIGN_OR_RETURN(parts[colons], ParseExpression());
    }
    ++i_;
    auto e = std::make_unique<Expr>();
    Place(e.get(), at);
    e->args.push_back(std::move(node));
    if (colons == 0) {
      if (parts[0] == nullptr)
        return Error(toks_[i_ - 1], "expected a subscript");
      e->kind = Expr::Kind::kGetItem;
      e->args.push_back(std::move(parts[0]));
    } else {
      e->kind = Expr::Kind::kSlice;
      for (auto& p : parts) e->args.push_back(std::move(p));
    }
    return e;
  }

  absl::Status ParseCallArgs(Expr* e) {
    RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (Cur().type == Tok::kName && Peek().type == Tok::kOp &&
          Peek().value == "=") {
        std::string key = Cur().value;
        i_ += 2;
        ASSIGN_OR_RETURN(std::unique_ptr<Expr> value, ParseExpression());
        e->kwargs.emplace_back(std::move(key), std::move(value));
      } else {
        if (!e->kwargs.empty())
          return Error(Cur(), "positional argument after keyword argument");
        ASSIGN_OR_RETURN(std::unique_ptr<Expr> value, ParseExpression());
        e->args.push_back(std::move(value));
      }
      if (!IsOp(",")) break;
      ++i_;
    }
    return ExpectOp(")");
  }

  absl::StatusOr<std::unique_ptr<Expr>> ParseFilterChain(
      std::unique_ptr<Expr> node) {
    while (true) {
      if (IsOp("|")) {
        ++i_;
        const Token& name_tok = Cur();
        ASSIGN_OR_RETURN(std::string name, ExpectName());
        while (IsOp(".") && Peek().type == Tok::kName) {  // dotted filter names
          name += "." + Peek().value;
          i_ += 2;
        }
        if (!IsKnownFilter(name) &&
            !(name == "regex_replace" && options_.regex_replace_filter))
          return pos_.Error(name_tok.offset,
                            absl::StrCat("no filter named '", name, "'"));
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kFilter;
        e->name = std::move(name);
        Place(e.get(), name_tok);
        e->args.push_back(std::move(node));
        if (IsOp("(")) RETURN_IF_ERROR(ParseCallArgs(e.get()));
        node = std::move(e);
      } else if (IsName("is")) {
        ++i_;
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kTest;
        if (IsName("not")) {
          e->negated = true;
          ++i_;
        }
        const Token& name_tok = Cur();
        Place(e.get(), name_tok);
        ASSIGN_OR_RETURN(e->name, ExpectName());
        if (!IsKnownTest(e->name))
          return pos_.Error(name_tok.offset,
                            absl::StrCat("no test named '", e->name, "'"));
        e->args.push_back(std::move(node));
        if (IsOp("(")) {
          RETURN_IF_ERROR(ParseCallArgs(e.get()));
        } else if ((Cur().type == Tok::kName || Cur().type == Tok::kString ||
                    Cur().type == Tok::kInt || Cur().type == Tok::kFloat ||
                    IsOp("[") || IsOp("{")) &&
                   !IsName("else") && !IsName("or") && !IsName("and") &&
                   !IsName("if") && !IsName("in") && !IsName("not") &&
                   !IsName("is")) {
          ASSIGN_OR_RETURN(std::unique_ptr<Expr> arg, ParsePrimary());
          ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
          e->args.push_back(std::move(arg));
        }
        node = std::move(e);
      } else if (IsOp("(")) {
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kCall;
        Place(e.get(), Cur());
        e->args.push_back(std::move(node));
        RETURN_IF_ERROR(ParseCallArgs(e.get()));
        node = std::move(e);
      } else {
        return node;
      }
    }
  }

  std::vector<Token> toks_;
  const Positions& pos_;
  const ParseOptions& options_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  int loop_refs_ = 0;
};

}  // namespace

absl::StatusOr<Body> ParseTemplate(absl::string_view raw_source,
                                   const ParseOptions& options) {
  // jinja2 reads "\r\n" and "\r" as "\n", then drops one trailing newline
  // unless keep_trailing_newline is on.
  std::string normalized;
  normalized.reserve(raw_source.size());
  for (size_t i = 0; i < raw_source.size(); ++i) {
    if (raw_source[i] == '\r') {
      normalized.push_back('\n');
      if (i + 1 < raw_source.size() && raw_source[i + 1] == '\n') ++i;
    } else {
      normalized.push_back(raw_source[i]);
    }
  }
  absl::string_view source = normalized;
  if (!options.keep_trailing_newline && !source.empty() &&
      source.back() == '\n')
    source.remove_suffix(1);
  Positions positions(source);
  LexOptions lex_options;
  lex_options.trim_blocks = options.trim_blocks;
  lex_options.lstrip_blocks = options.lstrip_blocks;
  ASSIGN_OR_RETURN(std::vector<Token> tokens,
                   Tokenize(source, positions, lex_options));
  Parser parser(std::move(tokens), positions, options);
  return parser.Run();
}

}  // namespace evald::jinja
