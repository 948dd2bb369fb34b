// File: base/http/bearer_token.h
// -----------------------------------------------------------------------------
// Checks an Authorization header against a bearer token. The comparison
// takes the same time whatever bytes differ, so a client cannot learn the
// token byte by byte from response times. Pure; thread-safe.
#ifndef EVALD_BASE_HTTP_BEARER_TOKEN_H_
#define EVALD_BASE_HTTP_BEARER_TOKEN_H_

#include "absl/strings/string_view.h"

namespace evald::base::http {

// True when `authorization` is "Bearer <token>" (the scheme in any case,
// RFC 9110 §11.1). REQUIRES: `token` is not empty.
bool BearerTokenMatches(absl::string_view authorization,
                        absl::string_view token);

}  // namespace evald::base::http

#endif  // EVALD_BASE_HTTP_BEARER_TOKEN_H_
