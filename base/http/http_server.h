// File: base/http/http_server.h
// -----------------------------------------------------------------------------
// A small HTTP/1.1 server on POSIX sockets: keep-alive, Content-Length request
// bodies, Content-Length or chunked responses (chunked carries SSE streams),
// limits on header and body size (431 / 413), and a bounded pool of worker
// threads (a connection that finds the pool and its queue full gets 503).
//
// Ownership: the server owns its listening socket, its threads and every
// accepted connection. Shutdown() (also run by the destructor) stops
// accepting, wakes idle connections, waits for running handlers and joins.
//
// Thread-safety: the handler is called concurrently from worker threads; one
// connection is served by one thread at a time. A ResponseWriter belongs to
// the call it was passed to.
#ifndef EVALD_BASE_HTTP_HTTP_SERVER_H_
#define EVALD_BASE_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/http/request_parser.h"

namespace evald::base::http {

// Writes one response. Either Send() once, or StartChunked() then any number
// of WriteChunk() and EndChunked(). Writes report false once the client is
// gone, so a streaming handler can stop early.
class ResponseWriter {
 public:
  ResponseWriter(int fd, bool keep_alive) : fd_(fd), keep_alive_(keep_alive) {}

  bool Send(int status, absl::string_view content_type, absl::string_view body,
            const std::vector<std::pair<std::string, std::string>>&
                extra_headers = {});
  bool StartChunked(int status, absl::string_view content_type,
                    const std::vector<std::pair<std::string, std::string>>&
                        extra_headers = {});
  bool WriteChunk(absl::string_view data);
  bool EndChunked();

  bool responded() const { return responded_; }
  bool keep_alive() const { return keep_alive_ && ok_; }

 private:
  bool WriteAll(absl::string_view data);
  std::string Head(
      int status, absl::string_view content_type,
      const std::vector<std::pair<std::string, std::string>>& extra_headers);

  int fd_;
  bool keep_alive_;
  bool responded_ = false;
  bool chunked_open_ = false;
  bool ok_ = true;
};

using HttpHandler = std::function<void(const HttpRequest&, ResponseWriter&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // numeric IPv4 address
  int port = 0;                    // 0 = any free port (see HttpServer::port())
  int threads = 4;                 // worker threads
  int queue = 16;                  // accepted connections waiting for a worker
  size_t max_header_bytes = 64 << 10;
  size_t max_body_bytes = 16 << 20;
  int idle_timeout_ms = 30000;  // keep-alive connection closed after this
};

// The reason phrase of an HTTP status code ("Not Found").
absl::string_view StatusText(int status);

class HttpServer {
 public:
  // Binds, listens and starts the threads.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  void Shutdown();

 private:
  HttpServer(const HttpServerOptions& options, HttpHandler handler)
      : options_(options), handler_(std::move(handler)) {}
  void AcceptLoop();
  void WorkerLoop();
  void Serve(int fd, const std::string& peer);

  HttpServerOptions options_;
  HttpHandler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;

  absl::Mutex mu_;
  std::deque<std::pair<int, std::string>> pending_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace evald::base::http

#endif  // EVALD_BASE_HTTP_HTTP_SERVER_H_
