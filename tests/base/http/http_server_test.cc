// Real sockets: an HttpServer on a loopback port, driven with libcurl and
// with raw sockets where a test needs to misbehave (trickle bytes, hold
// connections, stop half-way through a head). Raw clients bind to other
// loopback addresses (127.0.0.2, ...) to appear as distinct clients.
#include "base/http/http_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace evald::base::http {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Reply {
  long status = 0;
  std::string body;
  long connects = 0;  // new connections curl made for this request
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One curl handle reused across calls, so keep-alive can be observed.
class Client {
 public:
  Client() : curl_(curl_easy_init()) {}
  ~Client() { curl_easy_cleanup(curl_); }
  Reply Do(const std::string& url, const std::string* post_body,
           const std::string& token = "") {
    Reply reply;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 20000L);
    curl_slist* headers = nullptr;
    if (!token.empty()) {
      headers = curl_slist_append(
          headers, absl::StrCat("Authorization: Bearer ", token).c_str());
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    if (post_body != nullptr) {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, post_body->data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(post_body->size()));
    } else {
      curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(curl_);
    EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &reply.connects);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    return reply;
  }

 private:
  CURL* curl_;
};

// A raw TCP client socket from `source_ip` to 127.0.0.1:`port`; closed by
// the destructor.
class RawConn {
 public:
  RawConn(const std::string& source_ip, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source_ip.c_str(), &src.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
      ADD_FAILURE() << "bind " << source_ip << ": " << std::strerror(errno);
    }
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    connected_ =
        ::connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) == 0;
    EXPECT_TRUE(connected_)
        << "connect from " << source_ip << ": " << std::strerror(errno);
  }
  ~RawConn() { ::close(fd_); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool Send(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads until the server closes the connection or `timeout_s` passes;
  // `closed` tells which.
  std::string ReadUntilClose(double timeout_s, bool* closed = nullptr) {
    std::string out;
    const auto start = Clock::now();
    bool eof = false;
    while (!eof && SecondsSince(start) < timeout_s) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        eof = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    if (closed != nullptr) *closed = eof;
    return out;
  }

  // Reads until `out` holds `marker` (or the connection ends or `timeout_s`
  // passes).
  std::string ReadUntil(absl::string_view marker, double timeout_s) {
    std::string out;
    const auto start = Clock::now();
    while (!absl::StrContains(out, marker) && SecondsSince(start) < timeout_s) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  // True while the server has neither answered nor closed the connection.
  bool StillOpenAndSilent() {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  bool connected() const { return connected_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

void Handle(const HttpRequest& request, ResponseWriter& writer) {
  if (request.path == "/echo") {
    writer.Send(200, "text/plain",
                absl::StrCat(request.method, " ", request.body.size(), " ",
                             request.body.substr(0, 16)));
  } else if (request.path == "/stream") {
    writer.StartChunked(200, "text/event-stream");
    for (int i = 0; i < 5; ++i)
      writer.WriteChunk(absl::StrCat("data: ", i, "\n\n"));
    writer.EndChunked();
  } else {
    writer.Send(404, "text/plain", "no such path");
  }
}

std::unique_ptr<HttpServer> StartServer(const HttpServerOptions& options) {
  auto server = HttpServer::Start(options, Handle);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(HttpServerTest, ServesGetPostChunkedAndKeepsAlive) {
  HttpServerOptions options;
  options.max_body_bytes = 1 << 20;
  auto server = HttpServer::Start(options, Handle);
  ASSERT_TRUE(server.ok()) << server.status();
  std::string base = absl::StrCat("http://127.0.0.1:", (*server)->port());
  Client client;

  Reply get = client.Do(base + "/echo", nullptr);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "GET 0 ");
  EXPECT_EQ(get.connects, 1);

  std::string body(5000, 'x');
  body[0] = 'a';
  Reply post = client.Do(base + "/echo", &body);
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, absl::StrCat("POST 5000 a", std::string(15, 'x')));
  EXPECT_EQ(post.connects, 0) << "keep-alive: the connection should be reused";

  Reply stream = client.Do(base + "/stream", nullptr);
  EXPECT_EQ(stream.status, 200);
  EXPECT_EQ(stream.body,
            "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
  EXPECT_EQ(stream.connects, 0);

  EXPECT_EQ(client.Do(base + "/nope", nullptr).status, 404);
}

TEST(HttpServerTest, RejectsBodyOverLimitWith413) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  auto server = HttpServer::Start(options, Handle);
  ASSERT_TRUE(server.ok()) << server.status();
  std::string base = absl::StrCat("http://127.0.0.1:", (*server)->port());
  Client client;
  std::string small(1000, 'y');
  EXPECT_EQ(client.Do(base + "/echo", &small).status, 200);
  std::string big(3 << 20, 'z');
  EXPECT_EQ(client.Do(base + "/echo", &big).status, 413);
}

TEST(HttpServerTest, ConcurrentClientsAndCleanShutdown) {
  HttpServerOptions options;
  options.threads = 2;
  options.queue = 64;
  auto server = HttpServer::Start(options, Handle);
  ASSERT_TRUE(server.ok()) << server.status();
  std::string base = absl::StrCat("http://127.0.0.1:", (*server)->port());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      Client client;
      for (int i = 0; i < 10; ++i) {
        std::string b = absl::StrCat("req", i);
        Reply r = client.Do(base + "/echo", &b);
        if (r.status == 200 &&
            r.body == absl::StrCat("POST ", b.size(), " ", b))
          ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  (*server)->Shutdown();
  (*server)->Shutdown();  // idempotent
}

TEST(HttpServerTest, BindFailureNamesAddress) {
  HttpServerOptions options;
  options.host = "not-an-ip";
  auto server = HttpServer::Start(options, Handle);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("not-an-ip"), std::string::npos);
}

// 200 connections that trickle a header byte now and then (slowloris) hold
// no worker: an authorised request is answered at once while they are all
// still open. Half of them have even sent the right token first.
TEST(HttpServerTest, SlowlorisConnectionsDoNotDelayAuthorisedRequest) {
  HttpServerOptions options;
  options.bearer_token = "tok";
  options.header_timeout_ms = 60000;  // the trickle must outlast the test
  options.max_connections_per_client = 32;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  constexpr int kHeld = 200;
  std::vector<std::unique_ptr<RawConn>> held;
  for (int i = 0; i < kHeld; ++i) {
    // 20 per source address, under the per-client cap.
    held.push_back(
        std::make_unique<RawConn>(absl::StrCat("127.0.0.", 2 + i / 20), port));
    ASSERT_TRUE(held.back()->connected());
    std::string start = "POST /echo HTTP/1.1\r\nHost: x\r\n";
    if (i % 2 == 0) absl::StrAppend(&start, "Authorization: Bearer tok\r\n");
    ASSERT_TRUE(held.back()->Send(start));
  }
  // One header byte per connection every 2 s.
  std::atomic<bool> stop{false};
  std::atomic<int> send_failures{0};
  std::thread trickler([&] {
    const std::string line = "X-Slow: 1234567890\r\n";
    size_t at = 0;
    while (!stop.load()) {
      for (auto& c : held) {
        if (!c->Send(line.substr(at % line.size(), 1))) ++send_failures;
      }
      ++at;
      for (int i = 0; i < 100 && !stop.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  });
  // Let the trickle run past a few rounds first.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));

  const auto start = Clock::now();
  Client client;
  std::string body = "hello";
  Reply r =
      client.Do(absl::StrCat("http://127.0.0.1:", port, "/echo"), &body, "tok");
  const double seconds = SecondsSince(start);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "POST 5 hello");
  EXPECT_LT(seconds, 3.0) << "the authorised request waited behind slowloris";

  int still_held = 0;
  for (auto& c : held) still_held += c->StillOpenAndSilent() ? 1 : 0;
  stop.store(true);
  trickler.join();
  EXPECT_EQ(still_held, kHeld) << "the trickling connections were dropped, "
                                  "so they were not held during the request";
  EXPECT_EQ(send_failures.load(), 0);
}

// However steadily bytes trickle in, a head that is not complete by the
// deadline is answered with 408 and the connection closed.
TEST(HttpServerTest, HeadDeadlineIsAbsolute) {
  HttpServerOptions options;
  options.header_timeout_ms = 600;
  options.idle_timeout_ms = 30000;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConn conn("127.0.0.1", server->port());
  const auto start = Clock::now();
  const std::string head =
      "GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 'a');
  std::string got;
  bool closed = false;
  for (size_t i = 0; i < head.size() && SecondsSince(start) < 4.0; ++i) {
    if (!conn.Send(head.substr(i, 1))) break;
    got += conn.ReadUntilClose(0.05, &closed);
    if (closed || !got.empty()) break;
  }
  if (!closed) got += conn.ReadUntilClose(1.0, &closed);
  const double seconds = SecondsSince(start);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 408 ")) << got;
  EXPECT_TRUE(closed);
  EXPECT_GE(seconds, 0.5);
  EXPECT_LT(seconds, 2.5) << "the deadline was extended by the trickle";
}

// A kept-alive connection that sends nothing more is closed after the idle
// timeout, without a response.
TEST(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  HttpServerOptions options;
  options.idle_timeout_ms = 300;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConn conn("127.0.0.1", server->port());
  ASSERT_TRUE(conn.Send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string reply = conn.ReadUntil("GET 0 ", 2.0);
  EXPECT_TRUE(absl::StartsWith(reply, "HTTP/1.1 200 OK\r\n")) << reply;
  EXPECT_TRUE(absl::StrContains(reply, "Connection: keep-alive")) << reply;
  const auto start = Clock::now();
  bool closed = false;
  EXPECT_EQ(conn.ReadUntilClose(3.0, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_LT(SecondsSince(start), 2.0);
}

// The token is checked when its header line is complete: a wrong one gets
// 401 and a closed connection although the head never ends.
TEST(HttpServerTest, WrongTokenIsRejectedBeforeTheHeadEnds) {
  HttpServerOptions options;
  options.bearer_token = "right-token";
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  {
    RawConn conn("127.0.0.1", port);
    ASSERT_TRUE(conn.Send(
        "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"));
    bool closed = false;
    std::string got = conn.ReadUntilClose(2.0, &closed);
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 401 ")) << got;
    EXPECT_TRUE(closed);
  }
  {
    // A token that is a prefix of the right one is wrong too.
    RawConn conn("127.0.0.1", port);
    ASSERT_TRUE(
        conn.Send("GET /echo HTTP/1.1\r\nAuthorization: Bearer right-tok\r\n"));
    EXPECT_TRUE(absl::StartsWith(conn.ReadUntilClose(2.0), "HTTP/1.1 401 "));
  }
  {
    // A head that ends without the header.
    RawConn conn("127.0.0.1", port);
    ASSERT_TRUE(conn.Send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(absl::StartsWith(conn.ReadUntilClose(2.0), "HTTP/1.1 401 "));
  }
  // The right token, in any case of the scheme, is served.
  std::string base = absl::StrCat("http://127.0.0.1:", port);
  Client client;
  EXPECT_EQ(client.Do(base + "/echo", nullptr, "right-token").status, 200);
  {
    RawConn conn("127.0.0.1", port);
    ASSERT_TRUE(
        conn.Send("GET /echo HTTP/1.1\r\nauthorization: bearer right-token\r\n"
                  "Connection: close\r\n\r\n"));
    EXPECT_TRUE(absl::StartsWith(conn.ReadUntilClose(2.0), "HTTP/1.1 200 "));
  }
}

// A client (one source address) may hold max_connections_per_client
// connections; the next one is refused with 429 while other clients are
// served, and a slot frees when one of its connections closes.
TEST(HttpServerTest, CapsConnectionsPerClient) {
  HttpServerOptions options;
  options.max_connections_per_client = 4;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  std::vector<std::unique_ptr<RawConn>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<RawConn>("127.0.0.3", port));
    ASSERT_TRUE(held.back()->Send("GET /echo HTTP/1.1\r\n"));
  }
  {
    RawConn over("127.0.0.3", port);
    over.Send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    bool closed = false;
    std::string got = over.ReadUntilClose(2.0, &closed);
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 429 ")) << got;
    EXPECT_TRUE(closed);
  }
  {
    RawConn other("127.0.0.4", port);
    other.Send("GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(absl::StartsWith(other.ReadUntilClose(2.0), "HTTP/1.1 200 "));
  }
  for (auto& c : held) EXPECT_TRUE(c->StillOpenAndSilent());
  held.pop_back();
  // The server notices the close on its own time: retry for a while.
  std::string got;
  const auto start = Clock::now();
  while (SecondsSince(start) < 3.0) {
    RawConn again("127.0.0.3", port);
    again.Send("GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
    got = again.ReadUntilClose(2.0);
    if (absl::StartsWith(got, "HTTP/1.1 200 ")) break;
  }
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 ")) << got;
}

// Past max_connections in all, a new connection gets 503.
TEST(HttpServerTest, CapsConnectionsGlobally) {
  HttpServerOptions options;
  options.max_connections = 6;
  options.max_connections_per_client = 100;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  std::vector<std::unique_ptr<RawConn>> held;
  for (int i = 0; i < 6; ++i) {
    held.push_back(
        std::make_unique<RawConn>(absl::StrCat("127.0.0.", 10 + i), port));
    ASSERT_TRUE(held.back()->Send("GET /echo HTTP/1.1\r\n"));
  }
  RawConn over("127.0.0.20", port);
  bool closed = false;
  std::string got = over.ReadUntilClose(2.0, &closed);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 503 ")) << got;
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, ContinueHttp10PipeliningAndHeadLimit) {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  {
    // 100-continue: the interim response comes before the body is sent.
    RawConn conn("127.0.0.1", port);
    ASSERT_TRUE(conn.Send(
        "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
        "\r\n"));
    EXPECT_EQ(conn.ReadUntil("\r\n\r\n", 2.0), "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_TRUE(conn.Send("abcde"));
    std::string got = conn.ReadUntil("POST 5 abcde", 2.0);
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 ")) << got;
  }
  {
    // HTTP/1.0 without keep-alive: answered, then closed.
    RawConn conn("127.0.0.1", port);
    ASSERT_TRUE(conn.Send("GET /echo HTTP/1.0\r\n\r\n"));
    bool closed = false;
    std::string got = conn.ReadUntilClose(2.0, &closed);
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 200 ")) << got;
    EXPECT_TRUE(absl::StrContains(got, "Connection: close")) << got;
    EXPECT_TRUE(closed);
  }
  {
    // Two requests in one write are answered in order.
    RawConn conn("127.0.0.1", port);
    ASSERT_TRUE(conn.Send(
        "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\noneGET /echo "
        "HTTP/1.1\r\nConnection: close\r\n\r\n"));
    std::string got = conn.ReadUntilClose(2.0);
    size_t first = got.find("POST 3 one");
    size_t second = got.find("GET 0 ");
    EXPECT_NE(first, std::string::npos) << got;
    EXPECT_NE(second, std::string::npos) << got;
    EXPECT_LT(first, second);
  }
  {
    // A head over the limit, even one that never ends: 431.
    RawConn conn("127.0.0.1", port);
    ASSERT_TRUE(
        conn.Send("GET /echo HTTP/1.1\r\nX-Big: " + std::string(2000, 'b')));
    bool closed = false;
    std::string got = conn.ReadUntilClose(2.0, &closed);
    EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 431 ")) << got;
    EXPECT_TRUE(closed);
  }
  {
    // Garbage gets 400.
    RawConn conn("127.0.0.1", port);
    ASSERT_TRUE(conn.Send("HELLO\r\n\r\n"));
    EXPECT_TRUE(absl::StartsWith(conn.ReadUntilClose(2.0), "HTTP/1.1 400 "));
  }
}

}  // namespace
}  // namespace evald::base::http
