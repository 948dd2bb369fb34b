// File: runners/loglikelihood_split.cc
#include "runners/loglikelihood_split.h"

#include "absl/strings/str_cat.h"
#include "py/str.h"

namespace evald::runners {

ContextContinuation SplitContextContinuation(absl::string_view context,
                                             absl::string_view continuation) {
  const absl::string_view kept = py::RStrip(context);
  return {std::string(kept),
          absl::StrCat(context.substr(kept.size()), continuation)};
}

}  // namespace evald::runners
