// Real sockets: an HttpServer on a loopback port, driven with libcurl.
#include "base/http/http_server.h"

#include <curl/curl.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace evald::base::http {
namespace {

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
  Reply Do(const std::string& url, const std::string* post_body) {
    Reply reply;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply.body);
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
    return reply;
  }

 private:
  CURL* curl_;
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

}  // namespace
}  // namespace evald::base::http
