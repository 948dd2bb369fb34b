// File: base/http/bearer_token.cc
#include "base/http/bearer_token.h"

#include <cstddef>

#include "absl/strings/match.h"

namespace evald::base::http {

bool BearerTokenMatches(absl::string_view authorization,
                        absl::string_view token) {
  constexpr absl::string_view kScheme = "Bearer ";
  if (token.empty() || authorization.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kScheme.size()),
                              kScheme)) {
    return false;
  }
  const absl::string_view sent = authorization.substr(kScheme.size());
  // Every byte of the token is looked at whatever the input, and the
  // differences are OR-ed, never branched on; only the token's length sets
  // the time taken.
  unsigned char diff = sent.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char s =
        i < sent.size() ? static_cast<unsigned char>(sent[i]) : 0;
    diff |=
        static_cast<unsigned char>(s ^ static_cast<unsigned char>(token[i]));
  }
  return diff == 0;
}

}  // namespace evald::base::http
