// Fuzzes the HTTP request parser the server runs: any byte stream must parse
// or be refused with a 4xx/5xx status, never crash; pipelined requests split
// at their boundaries; and feeding the stream whole or in pieces (sizes taken
// from the input's first bytes) must give the same requests and the same
// verdict. A broken property traps, which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "base/http/request_parser.h"

namespace {

using evald::base::http::HttpError;
using evald::base::http::RequestParser;
using evald::base::http::RequestParserOptions;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

RequestParserOptions Options() {
  RequestParserOptions o;
  o.max_header_bytes = 2048;
  o.max_body_bytes = 4096;
  o.on_header = [](absl::string_view name,
                   absl::string_view value) -> std::optional<HttpError> {
    if (name == "authorization" && value != "Bearer t")
      return HttpError{401, "wrong token"};
    return std::nullopt;
  };
  return o;
}

// One entry per request: its fields, or its error status (and how the
// stream ended).
std::vector<std::string> ParseStream(absl::string_view stream,
                                     const std::vector<size_t>& pieces) {
  std::vector<std::string> out;
  RequestParser parser(Options());
  size_t at = 0, next_piece = 0;
  while (at < stream.size() && out.size() < 64) {
    size_t n = pieces.empty() ? stream.size() - at
                              : pieces[next_piece++ % pieces.size()];
    if (n == 0 || n > stream.size() - at) n = stream.size() - at;
    const size_t used = parser.Consume(stream.substr(at, n));
    Check(used <= n);
    at += used;
    switch (parser.state()) {
      case RequestParser::State::kHead:
      case RequestParser::State::kBody:
        Check(used == n);  // an incomplete request takes every byte
        Check(parser.started());
        break;
      case RequestParser::State::kFailed: {
        const int status = parser.error().status;
        Check(status >= 400 && status <= 599 &&
              !parser.error().message.empty());
        Check(parser.Consume(stream.substr(at)) == 0);
        out.push_back("failed " + std::to_string(status));
        return out;
      }
      case RequestParser::State::kComplete: {
        const auto& r = parser.request();
        Check(r.body.size() == parser.content_length());
        Check(r.body.size() <= 4096);
        Check(!r.method.empty() && !r.target.empty());
        Check(r.target == r.path || r.target == r.path + "?" + r.query);
        Check(parser.Consume(stream.substr(at)) == 0);
        std::string entry = r.method + " " + r.target + " " +
                            (parser.keep_alive() ? "k " : "c ") + r.body;
        for (const auto& [k, v] : r.headers) entry += "|" + k + ":" + v;
        out.push_back(entry + " @" + std::to_string(at));
        parser.Reset();
        Check(!parser.started());
        break;
      }
    }
  }
  out.push_back("end " + std::to_string(static_cast<int>(parser.state())));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // The first two bytes choose the piece sizes of the second parse.
  std::vector<size_t> pieces = {static_cast<size_t>(data[0] % 17) + 1,
                                static_cast<size_t>(data[1] % 5) + 1};
  const absl::string_view stream(reinterpret_cast<const char*>(data) + 2,
                                 size - 2);
  const std::vector<std::string> whole = ParseStream(stream, {});
  Check(ParseStream(stream, pieces) == whole);
  Check(ParseStream(stream, {1}) == whole);
  return 0;
}
