// File: jinja/parser.h
// -----------------------------------------------------------------------------
// Lexer and parser for the Jinja subset (internal to the renderer). The
// whitespace rules are those Hugging Face renders chat templates with:
// trim_blocks and lstrip_blocks on, one trailing newline of the template
// dropped, `-` markers stripping whitespace on their side.
//
// Errors are InvalidArgument "line L, column C: ..." pointing into `source`.
// Nesting is bounded (ParseOptions::max_depth) so hostile input cannot
// overflow the stack. Pure functions; thread-safe.
#ifndef EVALD_JINJA_PARSER_H_
#define EVALD_JINJA_PARSER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "jinja/ast.h"

namespace evald::jinja {

struct ParseOptions {
  // Deepest nesting of expressions and block statements.
  int max_depth = 128;
  // jinja2.Environment's whitespace settings (Hugging Face's by default).
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
  // Filters beyond the built-in set that this environment knows (lm-eval
  // adds `regex_replace`).
  bool regex_replace_filter = false;
};

absl::StatusOr<Body> ParseTemplate(absl::string_view source,
                                   const ParseOptions& options);

// Whether a filter / test of that name exists (unknown names fail at parse
// time, as in jinja2). Defined with the builtins.
bool IsKnownFilter(absl::string_view name);
bool IsKnownTest(absl::string_view name);

}  // namespace evald::jinja

#endif  // EVALD_JINJA_PARSER_H_
