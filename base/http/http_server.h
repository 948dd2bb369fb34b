// File: base/http/http_server.h
// -----------------------------------------------------------------------------
// A small event-driven HTTP/1.1 server on POSIX sockets: keep-alive and
// pipelining, Content-Length request bodies, Content-Length or chunked
// responses (chunked carries SSE streams), 100-continue, HTTP/1.0.
//
// One I/O thread (epoll) owns every connection while it reads a request, so
// idle and slow clients cost a socket, never a thread; a request goes to the
// pool of worker threads only once it is complete. Defences, each answered
// by the I/O thread before a worker is involved:
//   - the head must be complete within header_timeout_ms, however steadily
//     its bytes trickle in (408); a kept-alive connection may idle between
//     requests for idle_timeout_ms; a body must arrive within
//     body_timeout_ms (408);
//   - with a bearer token, the Authorization header is checked as soon as
//     its line is complete (401 and close, before the rest of the head); a
//     head that ends without one gets 401;
//   - connections per client address and in all are capped (429 / 503);
//   - head and body sizes are capped (431 / 413).
//
// Ownership: the server owns its listening socket, its threads and every
// accepted connection. Shutdown() (also run by the destructor) stops
// accepting, closes idle connections, shuts down the sockets of running
// handlers (so their writes fail and streams end), waits for the handlers and
// joins every thread.
//
// Thread-safety: the handler is called concurrently from worker threads; one
// connection is served by one thread at a time. A ResponseWriter belongs to
// the call it was passed to. Shutdown() may be called from any thread.
#ifndef EVALD_BASE_HTTP_HTTP_SERVER_H_
#define EVALD_BASE_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/http/request_parser.h"

namespace evald::base::http {

// Writes one response. Either Send() once, or StartChunked() then any number
// of WriteChunk() and EndChunked(). Writes report false once the client is
// gone or stops reading for write_timeout_ms, so a streaming handler can stop
// early.
class ResponseWriter {
 public:
  ResponseWriter(int fd, bool keep_alive, int write_timeout_ms)
      : fd_(fd), keep_alive_(keep_alive), write_timeout_ms_(write_timeout_ms) {}

  bool Send(int status, absl::string_view content_type, absl::string_view body,
            const std::vector<std::pair<std::string, std::string>>&
                extra_headers = {});
  bool StartChunked(int status, absl::string_view content_type,
                    const std::vector<std::pair<std::string, std::string>>&
                        extra_headers = {});
  bool WriteChunk(absl::string_view data);
  bool EndChunked();

  bool responded() const { return responded_; }
  // The connection may serve another request: the client asked for it and
  // the response went out whole.
  bool keep_alive() const { return keep_alive_ && ok_ && !chunked_open_; }

 private:
  bool WriteAll(absl::string_view data);
  std::string Head(
      int status, absl::string_view content_type,
      const std::vector<std::pair<std::string, std::string>>& extra_headers);

  int fd_;  // borrowed; non-blocking
  bool keep_alive_;
  int write_timeout_ms_;
  bool responded_ = false;
  bool chunked_open_ = false;
  bool ok_ = true;
};

using HttpHandler = std::function<void(const HttpRequest&, ResponseWriter&)>;

// The body of a response the server sends itself (401, 408, 429, ...).
struct HttpErrorBody {
  std::string content_type;
  std::string body;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // numeric IPv4 address
  int port = 0;                    // 0 = any free port (see HttpServer::port())
  int threads = 4;                 // worker threads running the handler
  int queue = 256;  // complete requests waiting for a worker; beyond: 503
  size_t max_header_bytes = 64 << 10;
  size_t max_body_bytes = 16 << 20;
  // The whole request head must arrive within this, counted from the
  // request's first byte (from the accept for a connection's first request).
  int header_timeout_ms = 10000;
  // A body must arrive within this once its head is complete.
  int body_timeout_ms = 60000;
  // A kept-alive connection is closed after this long without a request.
  int idle_timeout_ms = 30000;
  // A response write that makes no progress for this long fails.
  int write_timeout_ms = 30000;
  // Open connections in all; also kept to half the process's file
  // descriptor limit, which the rest of the process needs too.
  int max_connections = 1024;
  // Open connections from one client IP address.
  int max_connections_per_client = 64;
  // When non-empty, every request must carry "Authorization: Bearer <token>".
  std::string bearer_token;
  // Renders the server's own error responses; default: the message as
  // text/plain.
  std::function<HttpErrorBody(int status, absl::string_view message)>
      error_body;
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
  struct Connection;
  class IoLoop;

  HttpServer(const HttpServerOptions& options, HttpHandler handler);
  void WorkerLoop();
  // Called by a worker when the handler is done with `conn`.
  void HandOver(Connection* conn, bool keep_alive);

  const HttpServerOptions options_;
  const HttpHandler handler_;
  int port_ = 0;
  int max_connections_ = 0;  // options_.max_connections within the fd limit
  std::unique_ptr<IoLoop> io_;
  std::thread io_thread_;
  std::vector<std::thread> workers_;

  absl::Mutex mu_;
  // Complete requests waiting for a worker.
  std::deque<Connection*> ready_ ABSL_GUARDED_BY(mu_);
  // Connections whose handler finished, for the I/O thread: (connection,
  // keep it alive).
  std::vector<std::pair<Connection*, bool>> handed_back_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace evald::base::http

#endif  // EVALD_BASE_HTTP_HTTP_SERVER_H_
