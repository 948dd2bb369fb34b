// File: base/http/request_parser.h
// -----------------------------------------------------------------------------
// An incremental HTTP/1.x request parser with no I/O: bytes go in as they
// arrive, in pieces of any size, and it says when the head and the body are
// complete. The server and the request fuzzer share it, so what is fuzzed is
// what serves. Feeding a request whole or byte by byte gives the same result.
//
// Accepted: HTTP/1.0 and HTTP/1.1 request lines, header lines ending in CRLF
// (or a bare LF), Content-Length bodies. Refused with the status to answer:
// malformed lines (400), a head over max_header_bytes (431), a body over
// max_body_bytes (413), Transfer-Encoding request bodies (501).
//
// Each header line is handed to `on_header` as soon as it is complete, so a
// caller can refuse a request (e.g. a wrong token) before its head ends.
//
// Ownership: owns the request it builds. Thread-compatible (one connection,
// one thread at a time).
#ifndef EVALD_BASE_HTTP_REQUEST_PARSER_H_
#define EVALD_BASE_HTTP_REQUEST_PARSER_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace evald::base::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent, e.g. "/v1/models?x=1"
  std::string path;    // target before '?'
  std::string query;   // target after '?', or empty
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  std::string peer;  // "ip:port" of the client

  // The value of the first header `name` (lowercase), or empty.
  std::string Header(absl::string_view name) const;
};

// Why a request was refused: the status to answer and a message for the
// client.
struct HttpError {
  int status = 400;
  std::string message;
};

struct RequestParserOptions {
  // Request line and header lines together, line ends included.
  size_t max_header_bytes = 64 << 10;
  size_t max_body_bytes = 16 << 20;
  // Called with each header (name lowercased, value trimmed) as soon as its
  // line is complete; an error refuses the request there.
  std::function<std::optional<HttpError>(absl::string_view name,
                                         absl::string_view value)>
      on_header;
};

class RequestParser {
 public:
  enum class State { kHead, kBody, kComplete, kFailed };

  explicit RequestParser(RequestParserOptions options);

  // Parses a prefix of `data` and returns how many bytes it used: all of
  // them while the request is incomplete; fewer when it completes (the rest
  // belongs to the next request) or fails. Returns 0 once complete or
  // failed, until Reset().
  size_t Consume(absl::string_view data);

  State state() const { return state_; }
  // Some byte of this request has arrived.
  bool started() const { return head_bytes_ > 0; }
  bool head_complete() const {
    return state_ == State::kBody || state_ == State::kComplete;
  }
  // REQUIRES: state() == kFailed.
  const HttpError& error() const { return error_; }

  // Filled in as parsing goes; complete when state() == kComplete.
  const HttpRequest& request() const { return request_; }
  HttpRequest& mutable_request() { return request_; }

  // Valid once the head is complete.
  size_t content_length() const { return content_length_; }
  bool keep_alive() const { return keep_alive_; }
  bool expects_continue() const { return expects_continue_; }

  // Forgets the request, ready for the next one on the same connection.
  void Reset();

 private:
  // Handles one complete line (without its line end); false on failure.
  bool HandleLine(absl::string_view line);
  bool HandleRequestLine(absl::string_view line);
  bool HandleHeaderLine(absl::string_view line);
  bool FinishHead();
  bool Fail(int status, std::string message);

  RequestParserOptions options_;
  State state_ = State::kHead;
  HttpError error_;
  HttpRequest request_;
  std::string line_;       // the incomplete line so far
  size_t head_bytes_ = 0;  // bytes of the head so far, line ends included
  bool seen_request_line_ = false;
  bool http10_ = false;
  std::optional<size_t> declared_length_;
  size_t content_length_ = 0;
  bool connection_close_ = false;       // "Connection: close" seen
  bool connection_keep_alive_ = false;  // "Connection: keep-alive" seen
  bool keep_alive_ = true;
  bool expects_continue_ = false;
};

}  // namespace evald::base::http

#endif  // EVALD_BASE_HTTP_REQUEST_PARSER_H_
