// File: runners/loglikelihood_split.cc
#include "runners/loglikelihood_split.h"

#include "absl/strings/str_cat.h"
#include "base/utf8.h"

namespace evald::runners {

bool IsPythonSpace(uint32_t cp) {
  // CPython's _PyUnicode_IsWhitespace: bidirectional types WS, B and S, and
  // the Zs category.
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

ContextContinuation SplitContextContinuation(absl::string_view context,
                                             absl::string_view continuation) {
  // Forward decoding finds code point boundaries; the cut is just past the
  // last code point that is not whitespace.
  size_t pos = 0;
  size_t cut = 0;
  while (pos < context.size()) {
    const uint32_t cp = base::DecodeUtf8At(context, &pos);
    if (!IsPythonSpace(cp)) cut = pos;
  }
  return {std::string(context.substr(0, cut)), absl::StrCat(context.substr(cut), continuation)};
}

}  // namespace evald::runners
