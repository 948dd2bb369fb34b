// File: tests/runners/openai/fake_server.h
// -----------------------------------------------------------------------------
// A loopback HTTP/1.1 server for the OpenAI runner tests: every request is
// answered by a test-supplied handler whose reply may be delayed, or cut off
// mid-body, to inject faults. One thread per connection; every reply closes
// its connection. Counts requests and the peak number handled at once.
//
// Thread-safety: the accessors may be called from any thread; the handler is
// called concurrently from connection threads.
#ifndef EVALD_TESTS_RUNNERS_OPENAI_FAKE_SERVER_H_
#define EVALD_TESTS_RUNNERS_OPENAI_FAKE_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace evald::testing {

struct FakeRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct FakeResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int delay_ms = 0;            // wait before replying
  bool drop_mid_body = false;  // send the headers and half the body, then close
};

class FakeServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  explicit FakeServer(Handler handler);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // Empty when the listening socket could not be opened.
  std::string endpoint() const;  // "http://127.0.0.1:PORT/v1"
  int requests() const { return requests_.load(); }
  int max_in_flight() const { return max_in_flight_.load(); }
  std::vector<FakeRequest> received() const;

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  mutable std::mutex mu_;
  std::vector<FakeRequest> received_;
  std::vector<std::thread> connections_;
  std::thread acceptor_;
};

}  // namespace evald::testing

#endif  // EVALD_TESTS_RUNNERS_OPENAI_FAKE_SERVER_H_
