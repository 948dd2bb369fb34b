// File: base/http/request_parser.cc
#include "base/http/request_parser.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace evald::base::http {
namespace {

// RFC 9110 token characters (methods and header names).
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// Control characters other than tab; they have no place in a header value
// (a bare CR or a NUL there is a classic smuggling trick).
bool HasControlChar(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

absl::string_view TrimOws(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string HttpRequest::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

RequestParser::RequestParser(RequestParserOptions options)
    : options_(std::move(options)) {}

void RequestParser::Reset() {
  state_ = State::kHead;
  error_ = HttpError();
  request_ = HttpRequest();
  line_.clear();
  head_bytes_ = 0;
  seen_request_line_ = false;
  http10_ = false;
  declared_length_.reset();
  content_length_ = 0;
  connection_close_ = false;
  connection_keep_alive_ = false;
  keep_alive_ = true;
  expects_continue_ = false;
}

bool RequestParser::Fail(int status, std::string message) {
  state_ = State::kFailed;
  error_ = HttpError{status, std::move(message)};
  return false;
}

size_t RequestParser::Consume(absl::string_view data) {
  size_t used = 0;
  while (used < data.size()) {
    if (state_ == State::kHead) {
      const absl::string_view rest = data.substr(used);
      const size_t newline = rest.find('\n');
      const size_t take =
          newline == absl::string_view::npos ? rest.size() : newline + 1;
      if (head_bytes_ + take > options_.max_header_bytes) {
        Fail(431, absl::StrCat("request head exceeds the limit of ",
                               options_.max_header_bytes, " bytes"));
        return used;
      }
      line_.append(rest.data(), take);
      head_bytes_ += take;
      used += take;
      if (newline == absl::string_view::npos) return used;
      absl::string_view line = line_;
      line.remove_suffix(1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      const bool ok = HandleLine(line);
      line_.clear();
      if (!ok || state_ == State::kComplete) return used;
    } else if (state_ == State::kBody) {
      const size_t take =
          std::min(content_length_ - request_.body.size(), data.size() - used);
      request_.body.append(data.data() + used, take);
      used += take;
      if (request_.body.size() == content_length_) {
        state_ = State::kComplete;
        return used;
      }
    } else {
      return used;
    }
  }
  return used;
}

bool RequestParser::HandleLine(absl::string_view line) {
  if (!seen_request_line_) {
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    if (line.empty()) return true;
    return HandleRequestLine(line);
  }
  if (line.empty()) return FinishHead();
  return HandleHeaderLine(line);
}

bool RequestParser::HandleRequestLine(absl::string_view line) {
  seen_request_line_ = true;
  std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3) return Fail(400, "malformed request line");
  const absl::string_view method = parts[0], target = parts[1],
                          version = parts[2];
  if (!IsToken(method)) return Fail(400, "malformed method in request line");
  if (target.empty() || HasControlChar(target) ||
      target.find('\t') != absl::string_view::npos) {
    return Fail(400, "malformed target in request line");
  }
  if (version == "HTTP/1.0") {
    http10_ = true;
  } else if (version != "HTTP/1.1") {
    if (absl::StartsWith(version, "HTTP/")) {
      return Fail(505, absl::StrCat("http version '", version,
                                    "' is not supported; use HTTP/1.1"));
    }
    return Fail(400, "malformed http version in request line");
  }
  request_.method = std::string(method);
  request_.target = std::string(target);
  const size_t q = target.find('?');
  request_.path = std::string(target.substr(0, q));
  if (q != absl::string_view::npos)
    request_.query = std::string(target.substr(q + 1));
  return true;
}

bool RequestParser::HandleHeaderLine(absl::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    return Fail(400, "folded header lines are not accepted");
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) {
    return Fail(400, "malformed header line (no ':')");
  }
  const absl::string_view raw_name = line.substr(0, colon);
  if (!IsToken(raw_name)) {
    return Fail(400, "malformed header name");
  }
  std::string name = absl::AsciiStrToLower(raw_name);
  const absl::string_view value = TrimOws(line.substr(colon + 1));
  if (HasControlChar(value)) {
    return Fail(400,
                absl::StrCat("header '", name, "' holds a control character"));
  }
  if (name == "content-length") {
    size_t length = 0;
    // Digits only: SimpleAtoi would also take "+5" or " 5".
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(value, &length)) {
      return Fail(400, "malformed content-length");
    }
    if (declared_length_.has_value() && *declared_length_ != length) {
      return Fail(400, "conflicting content-length headers");
    }
    declared_length_ = length;
  } else if (name == "transfer-encoding") {
    return Fail(501,
                "chunked request bodies are not supported; send "
                "content-length");
  } else if (name == "connection") {
    for (absl::string_view option : absl::StrSplit(value, ',')) {
      option = TrimOws(option);
      if (absl::EqualsIgnoreCase(option, "close")) connection_close_ = true;
      if (absl::EqualsIgnoreCase(option, "keep-alive"))
        connection_keep_alive_ = true;
    }
  } else if (name == "expect") {
    if (absl::EqualsIgnoreCase(value, "100-continue")) expects_continue_ = true;
  }
  if (options_.on_header) {
    if (std::optional<HttpError> refused = options_.on_header(name, value)) {
      return Fail(refused->status, std::move(refused->message));
    }
  }
  request_.headers.emplace_back(std::move(name), std::string(value));
  return true;
}

bool RequestParser::FinishHead() {
  keep_alive_ = !connection_close_ && (!http10_ || connection_keep_alive_);
  content_length_ = declared_length_.value_or(0);
  if (content_length_ > options_.max_body_bytes) {
    return Fail(413, absl::StrCat("request body of ", content_length_,
                                  " bytes exceeds the limit of ",
                                  options_.max_body_bytes));
  }
  if (content_length_ == 0) {
    expects_continue_ = false;
    state_ = State::kComplete;
  } else {
    // A client may announce a large body and send none; reserve modestly.
    request_.body.reserve(std::min<size_t>(content_length_, 64 << 10));
    state_ = State::kBody;
  }
  return true;
}

}  // namespace evald::base::http
