// The request parser on its own: the contract on well-formed and malformed
// requests, and a deterministic mutation run (the gtest twin of
// fuzz/http_request_fuzzer.cc, so CI without clang exercises the same entry
// point): thousands of generated and mutated requests must parse the same
// whole, byte by byte and in random pieces, and never break the invariants.
#include "base/http/request_parser.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace evald::base::http {
namespace {

RequestParserOptions Limits(size_t head = 4096, size_t body = 4096) {
  RequestParserOptions o;
  o.max_header_bytes = head;
  o.max_body_bytes = body;
  return o;
}

// What a parse came to, comparable across ways of feeding the bytes.
struct Outcome {
  RequestParser::State state;
  int error_status = 0;
  std::string method, target, path, query, body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = false;
  size_t used = 0;  // bytes consumed when complete

  bool operator==(const Outcome& o) const {
    return state == o.state && error_status == o.error_status &&
           method == o.method && target == o.target && path == o.path &&
           query == o.query && body == o.body && headers == o.headers &&
           keep_alive == o.keep_alive && used == o.used;
  }
};

std::string Describe(const Outcome& o) {
  std::string s =
      absl::StrCat("state ", static_cast<int>(o.state), " error ",
                   o.error_status, " ", o.method, " ", o.target, " body ",
                   o.body.size(), " used ", o.used, " headers");
  for (const auto& [k, v] : o.headers) absl::StrAppend(&s, " ", k, "=", v);
  return s;
}

// Feeds `input` in pieces whose sizes come from `sizes` (cycled; 0 = all
// that is left) and checks the per-call contract on the way.
Outcome Parse(absl::string_view input, const std::vector<size_t>& sizes,
              const RequestParserOptions& options) {
  RequestParser parser(options);
  size_t at = 0, i = 0, used = 0;
  while (at < input.size()) {
    size_t n = sizes.empty() ? 0 : sizes[i++ % sizes.size()];
    if (n == 0 || n > input.size() - at) n = input.size() - at;
    const size_t u = parser.Consume(input.substr(at, n));
    EXPECT_LE(u, n);
    used += u;
    if (parser.state() == RequestParser::State::kComplete ||
        parser.state() == RequestParser::State::kFailed) {
      EXPECT_EQ(parser.Consume(input.substr(at + u)), 0u);
      break;
    }
    EXPECT_EQ(u, n) << "an incomplete request takes every byte";
    at += n;
  }
  Outcome o;
  o.state = parser.state();
  if (o.state == RequestParser::State::kFailed) {
    o.error_status = parser.error().status;
    EXPECT_FALSE(parser.error().message.empty());
    return o;
  }
  const HttpRequest& r = parser.request();
  o.method = r.method;
  o.target = r.target;
  o.path = r.path;
  o.query = r.query;
  o.headers = r.headers;
  o.body = r.body;
  if (o.state == RequestParser::State::kComplete) {
    o.keep_alive = parser.keep_alive();
    o.used = used;
    EXPECT_EQ(r.body.size(), parser.content_length());
    EXPECT_LE(r.body.size(), options.max_body_bytes);
    EXPECT_FALSE(r.method.empty());
    EXPECT_TRUE(r.target == r.path ||
                r.target == absl::StrCat(r.path, "?", r.query))
        << r.target;
  }
  return o;
}

Outcome ParseWhole(absl::string_view input,
                   const RequestParserOptions& options = Limits()) {
  return Parse(input, {}, options);
}

TEST(RequestParserTest, ParsesGetAndPost) {
  Outcome get = ParseWhole("GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(get.state, RequestParser::State::kComplete);
  EXPECT_EQ(get.method, "GET");
  EXPECT_EQ(get.path, "/v1/models");
  EXPECT_EQ(get.query, "x=1");
  EXPECT_TRUE(get.keep_alive);

  const std::string post =
      "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nX-Mixed-Case:  v a l \t"
      "\r\n\r\nhelloGET";
  Outcome p = ParseWhole(post);
  EXPECT_EQ(p.state, RequestParser::State::kComplete);
  EXPECT_EQ(p.body, "hello");
  EXPECT_EQ(p.used, post.size() - 3) << "the next request's bytes are left";
  ASSERT_EQ(p.headers.size(), 2u);
  EXPECT_EQ(p.headers[1].first, "x-mixed-case");
  EXPECT_EQ(p.headers[1].second, "v a l");
  EXPECT_EQ(Parse(post, {1}, Limits()), p) << "byte by byte";
}

TEST(RequestParserTest, KeepAliveExpectAndLineEnds) {
  EXPECT_FALSE(ParseWhole("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(ParseWhole("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                  .keep_alive);
  EXPECT_FALSE(
      ParseWhole("GET / HTTP/1.1\r\nConnection: x, close\r\n\r\n").keep_alive);
  // Bare LF line ends and empty lines before the request line are accepted.
  Outcome lf = ParseWhole("\r\n\nGET / HTTP/1.1\nA: b\n\n");
  EXPECT_EQ(lf.state, RequestParser::State::kComplete);
  EXPECT_EQ(lf.headers.size(), 1u);

  RequestParser parser(Limits());
  parser.Consume(
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n");
  EXPECT_EQ(parser.state(), RequestParser::State::kBody);
  EXPECT_TRUE(parser.expects_continue());
  EXPECT_TRUE(parser.started());
  parser.Consume("abc");
  EXPECT_EQ(parser.state(), RequestParser::State::kComplete);
  parser.Reset();
  EXPECT_FALSE(parser.started());
  EXPECT_EQ(parser.state(), RequestParser::State::kHead);
  EXPECT_TRUE(parser.request().body.empty());
}

TEST(RequestParserTest, RefusesWithTheRightStatus) {
  struct Case {
    std::string input;
    int status;
  };
  const Case cases[] = {
      {"GET /\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTQ/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nName : v\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
      {std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 30), 400},
      {"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
       400},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"GET / HTTP/1.1\r\nX: " + std::string(5000, 'x'), 431},
  };
  for (const Case& c : cases) {
    Outcome o = ParseWhole(c.input);
    EXPECT_EQ(o.state, RequestParser::State::kFailed) << c.input;
    EXPECT_EQ(o.error_status, c.status) << c.input;
    EXPECT_EQ(Parse(c.input, {1}, Limits()), o) << c.input;
  }
  // Equal duplicate lengths are harmless.
  EXPECT_EQ(ParseWhole("POST / HTTP/1.1\r\nContent-Length: 2\r\n"
                       "Content-Length: 2\r\n\r\nab")
                .body,
            "ab");
}

TEST(RequestParserTest, HeaderHookRefusesAtItsLine) {
  RequestParserOptions options = Limits();
  std::vector<std::string> seen;
  options.on_header = [&](absl::string_view name,
                          absl::string_view value) -> std::optional<HttpError> {
    seen.push_back(absl::StrCat(name, "=", value));
    if (name == "authorization" && value != "Bearer ok")
      return HttpError{401, "wrong token"};
    return std::nullopt;
  };
  RequestParser parser(options);
  const std::string head =
      "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer no\r\nAfter: x\r\n";
  const size_t used = parser.Consume(head);
  EXPECT_EQ(parser.state(), RequestParser::State::kFailed);
  EXPECT_EQ(parser.error().status, 401);
  EXPECT_EQ(used, head.find("After:")) << "nothing read past the refused line";
  EXPECT_EQ(seen,
            (std::vector<std::string>{"host=h", "authorization=Bearer no"}));
}

// ---- The deterministic mutation run ----

std::string RandomToken(std::mt19937_64& rng, size_t max_len) {
  static const char kChars[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!";
  std::string s(1 + rng() % max_len, 'a');
  for (char& c : s) c = kChars[rng() % (sizeof(kChars) - 1)];
  return s;
}

struct Generated {
  std::string bytes;
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = true;
};

Generated RandomRequest(std::mt19937_64& rng) {
  static const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE",
                                         "OPTIONS"};
  Generated g;
  g.method = kMethods[rng() % 5];
  g.target = "/" + RandomToken(rng, 20);
  if (rng() % 3 == 0) absl::StrAppend(&g.target, "?", RandomToken(rng, 10));
  const bool http10 = rng() % 4 == 0;
  const bool lf_only = rng() % 8 == 0;
  const std::string eol = lf_only ? "\n" : "\r\n";
  g.bytes = absl::StrCat(g.method, " ", g.target,
                         http10 ? " HTTP/1.0" : " HTTP/1.1", eol);
  g.keep_alive = !http10;
  const int n = static_cast<int>(rng() % 8);
  for (int i = 0; i < n; ++i) {
    std::string name = RandomToken(rng, 12);
    if (absl::AsciiStrToLower(name) == "content-length" ||
        absl::AsciiStrToLower(name) == "transfer-encoding" ||
        absl::AsciiStrToLower(name) == "connection") {
      name = "x-" + name;
    }
    std::string value = rng() % 5 == 0 ? "" : RandomToken(rng, 30);
    absl::StrAppend(&g.bytes, name, ":", rng() % 2 ? " " : "", value, eol);
    g.headers.emplace_back(absl::AsciiStrToLower(name), value);
  }
  if (rng() % 2 == 0) {
    g.body = std::string(rng() % 300, 'b');
    for (char& c : g.body) c = static_cast<char>(rng() % 256);
    absl::StrAppend(&g.bytes, "Content-Length: ", g.body.size(), eol);
    g.headers.emplace_back("content-length", absl::StrCat(g.body.size()));
  }
  absl::StrAppend(&g.bytes, eol, g.body);
  return g;
}

std::string Mutate(std::string s, std::mt19937_64& rng) {
  static const char* const kInserts[] = {"\r\n",
                                         "\n",
                                         "\r",
                                         ":",
                                         " ",
                                         "\t",
                                         "\0",
                                         "Content-Length: 7\r\n",
                                         "Content-Length: 99999999999\r\n",
                                         "Transfer-Encoding: chunked\r\n",
                                         "Expect: 100-continue\r\n",
                                         "Connection: close\r\n",
                                         "\r\n\r\n",
                                         " HTTP/1.1",
                                         "HTTP/1.0",
                                         "\xff\xfe"};
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 5) {
      case 0:  // flip a byte
        if (!s.empty()) s[at % s.size()] = static_cast<char>(rng() % 256);
        break;
      case 1:  // delete a run
        if (!s.empty()) s.erase(at % s.size(), 1 + rng() % 8);
        break;
      case 2: {  // insert a meaningful fragment
        const char* frag =
            kInserts[rng() % (sizeof(kInserts) / sizeof(*kInserts))];
        s.insert(at,
                 frag[0] == '\0' ? std::string(1, '\0') : std::string(frag));
        break;
      }
      case 3:  // truncate
        s.resize(at);
        break;
      case 4:  // duplicate a run
        if (!s.empty()) {
          const size_t from = at % s.size();
          s.insert(from, s.substr(from, 1 + rng() % 16));
        }
        break;
    }
  }
  return s;
}

std::vector<size_t> RandomPieces(std::mt19937_64& rng) {
  std::vector<size_t> sizes(1 + rng() % 6);
  for (size_t& n : sizes) n = 1 + rng() % 40;
  return sizes;
}

TEST(RequestParserTest, GeneratedRequestsParseTheSameHoweverFed) {
  std::mt19937_64 rng(20240611);
  const RequestParserOptions options = Limits(512, 256);
  int complete = 0, failed = 0;
  for (int i = 0; i < 3000; ++i) {
    const Generated g = RandomRequest(rng);
    const Outcome whole = ParseWhole(g.bytes, options);
    if (g.bytes.size() - g.body.size() <= options.max_header_bytes &&
        g.body.size() <= options.max_body_bytes) {
      // Valid and within limits: exactly what was generated.
      ASSERT_EQ(whole.state, RequestParser::State::kComplete)
          << i << ": " << Describe(whole) << "\n"
          << g.bytes;
      EXPECT_EQ(whole.method, g.method);
      EXPECT_EQ(whole.target, g.target);
      EXPECT_EQ(whole.body, g.body);
      EXPECT_EQ(whole.headers, g.headers);
      EXPECT_EQ(whole.keep_alive, g.keep_alive);
      EXPECT_EQ(whole.used, g.bytes.size());
    }
    ASSERT_EQ(Parse(g.bytes, {1}, options), whole) << i;
    ASSERT_EQ(Parse(g.bytes, RandomPieces(rng), options), whole) << i;

    const std::string mutated = Mutate(g.bytes, rng);
    const Outcome m = ParseWhole(mutated, options);
    ASSERT_EQ(Parse(mutated, {1}, options), m) << i << "\n" << mutated;
    ASSERT_EQ(Parse(mutated, RandomPieces(rng), options), m) << i << "\n"
                                                             << mutated;
    if (m.state == RequestParser::State::kFailed) {
      EXPECT_TRUE(m.error_status == 400 || m.error_status == 413 ||
                  m.error_status == 431 || m.error_status == 501 ||
                  m.error_status == 505)
          << m.error_status;
      ++failed;
    } else if (m.state == RequestParser::State::kComplete) {
      ++complete;
    }
  }
  // The mutations reach both sides of the parser.
  EXPECT_GT(complete, 100);
  EXPECT_GT(failed, 100);
}

// Pipelined requests: each Consume stops at the end of its request, Reset
// readies the next, and the sequence is the same however the bytes come.
TEST(RequestParserTest, PipelinedRequestsSplitAtTheirBoundaries) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::vector<Generated> requests;
    std::string stream;
    for (int k = 0; k < 4; ++k) {
      requests.push_back(RandomRequest(rng));
      stream += requests.back().bytes;
    }
    RequestParser parser(Limits(1 << 16, 1 << 16));
    size_t at = 0;
    for (const Generated& g : requests) {
      while (parser.state() != RequestParser::State::kComplete) {
        ASSERT_LT(at, stream.size());
        const size_t n = std::min<size_t>(1 + rng() % 50, stream.size() - at);
        at += parser.Consume(absl::string_view(stream).substr(at, n));
        ASSERT_NE(parser.state(), RequestParser::State::kFailed)
            << parser.error().message;
      }
      EXPECT_EQ(parser.request().target, g.target);
      EXPECT_EQ(parser.request().body, g.body);
      parser.Reset();
    }
    EXPECT_EQ(at, stream.size());
  }
}

}  // namespace
}  // namespace evald::base::http
