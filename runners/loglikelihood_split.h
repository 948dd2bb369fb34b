// File: runners/loglikelihood_split.h
// -----------------------------------------------------------------------------
// The one rule that divides a loglikelihood request's text between what
// conditions the model and what it scores, as lm-evaluation-harness does
// (`context.rstrip()`): the context's trailing whitespace moves to the front
// of the continuation. Whitespace is Python's str.isspace (py::IsSpace), so
// U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
// U+3000 and \x1c-\x1f count as well as ASCII whitespace. Every runner splits
// through here, so one request scores the same text whichever runner serves it.
//
// Thread-safety: pure functions.
#ifndef EVALD_RUNNERS_LOGLIKELIHOOD_SPLIT_H_
#define EVALD_RUNNERS_LOGLIKELIHOOD_SPLIT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace evald::runners {

struct ContextContinuation {
  std::string context;  // the request's context without trailing whitespace
  std::string continuation;  // that whitespace + the request's continuation
};

// Bytes that are not valid UTF-8 are never whitespace, so they stay where
// they are (the runners refuse such requests anyway).
ContextContinuation SplitContextContinuation(absl::string_view context,
                                             absl::string_view continuation);

}  // namespace evald::runners

#endif  // EVALD_RUNNERS_LOGLIKELIHOOD_SPLIT_H_
