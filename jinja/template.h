// File: jinja/template.h
// -----------------------------------------------------------------------------
// A Jinja template compiled once and rendered many times: the subset of
// jinja2 that model chat templates use (if/for/set/macro/call/filter/raw,
// loop variables, namespaces, filters, tests, Python string methods) with the
// environment Hugging Face renders them in (trim_blocks, lstrip_blocks,
// undefined values print empty and are falsy). Model chat templates
// (runners/native/chat_template) and lm-eval task templates (tasks/lm_eval)
// share it.
//
// Errors (syntax, unknown filter or test, raise_exception, type errors) are
// InvalidArgument "line L, column C: ..."; exceeding a RenderOptions limit is
// ResourceExhausted. Hostile templates cannot hang or exhaust memory: loop
// steps, output size and call depth are bounded.
//
// Thread-safety: a Template is immutable after Parse; Render is const and may
// run on many threads at once.
#ifndef EVALD_JINJA_TEMPLATE_H_
#define EVALD_JINJA_TEMPLATE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "base/json.h"

namespace evald::jinja {

struct RenderOptions {
  // Largest rendered output (and largest string built on the way), in bytes.
  size_t max_output_bytes = 16 << 20;
  // Budget of interpreter steps (statements, loop iterations, calls).
  int64_t max_steps = 5'000'000;
  // Deepest macro call nesting.
  int max_call_depth = 64;
  // When set, the template sees `strftime_now(format)` formatting this
  // clock's time in UTC. Borrowed; must outlive the Render call.
  const base::Clock* clock = nullptr;
};

// The jinja2.Environment a template is compiled for. The defaults are
// Hugging Face's chat-template environment; LmEvalTask() is the one
// lm-evaluation-harness renders task templates in (`BaseLoader`,
// `StrictUndefined`, `keep_trailing_newline=True`, no trim/lstrip, and its
// `regex_replace(pattern, repl, count=0)` filter, i.e. Python's re.sub).
struct Environment {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
  // StrictUndefined: using an undefined name, attribute or item in any way
  // but the `defined` / `undefined` tests and the `default` filter is an
  // error naming it. Off: jinja2's default Undefined (prints empty, falsy).
  bool strict_undefined = false;
  bool regex_replace_filter = false;

  static Environment LmEvalTask() {
    Environment env;
    env.trim_blocks = false;
    env.lstrip_blocks = false;
    env.keep_trailing_newline = true;
    env.strict_undefined = true;
    env.regex_replace_filter = true;
    return env;
  }
};

class Template {
 public:
  // Compiles `source` for `env`. Errors carry the line and column of the
  // fault.
  static absl::StatusOr<Template> Parse(absl::string_view source,
                                        const Environment& env = {});

  // Renders with the members of `context` (a JSON object) as variables.
  absl::StatusOr<std::string> Render(const base::Json& context,
                                     const RenderOptions& options = {}) const;

  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;
  ~Template();

 private:
  struct Impl;
  explicit Template(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace evald::jinja

#endif  // EVALD_JINJA_TEMPLATE_H_
