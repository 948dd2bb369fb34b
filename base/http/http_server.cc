// File: base/http/http_server.cc
#include "base/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/logging.h"

namespace evald::base::http {
namespace {

// Poll slice: how often a blocked read re-checks the stop flag.
constexpr int kPollSliceMs = 100;

enum class ReadResult { kOk, kClosed, kTimeout, kStopping };

// Appends whatever the socket has to `buffer`, waiting up to `timeout_ms`.
ReadResult ReadSome(int fd, std::string& buffer, int timeout_ms,
                    const std::atomic<bool>& stopping) {
  int waited = 0;
  while (true) {
    if (stopping.load()) return ReadResult::kStopping;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, kPollSliceMs);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ReadResult::kClosed;
    if (r == 0) {
      waited += kPollSliceMs;
      if (waited >= timeout_ms) return ReadResult::kTimeout;
      continue;
    }
    char chunk[16384];
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return ReadResult::kClosed;
    buffer.append(chunk, static_cast<size_t>(n));
    return ReadResult::kOk;
  }
}

void SendSimple(int fd, int status, absl::string_view message) {
  ResponseWriter w(fd, /*keep_alive=*/false);
  w.Send(status, "text/plain; charset=utf-8", absl::StrCat(message, "\n"));
}

}  // namespace

absl::string_view StatusText(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

bool ResponseWriter::WriteAll(absl::string_view data) {
  while (ok_ && !data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok_ = false;
      break;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return ok_;
}

std::string ResponseWriter::Head(
    int status, absl::string_view content_type,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::string head =
      absl::StrFormat("HTTP/1.1 %d %s\r\n", status, StatusText(status));
  if (!content_type.empty())
    absl::StrAppend(&head, "Content-Type: ", content_type, "\r\n");
  for (const auto& [k, v] : extra) absl::StrAppend(&head, k, ": ", v, "\r\n");
  absl::StrAppend(&head, "Connection: ", keep_alive_ ? "keep-alive" : "close",
                  "\r\n");
  return head;
}

bool ResponseWriter::Send(
    int status, absl::string_view content_type, absl::string_view body,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  if (responded_) return false;
  responded_ = true;
  std::string msg = Head(status, content_type, extra);
  absl::StrAppend(&msg, "Content-Length: ", body.size(), "\r\n\r\n");
  msg.append(body.data(), body.size());
  return WriteAll(msg);
}

bool ResponseWriter::StartChunked(
    int status, absl::string_view content_type,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  if (responded_) return false;
  responded_ = true;
  chunked_open_ = true;
  std::string msg = Head(status, content_type, extra);
  absl::StrAppend(&msg, "Transfer-Encoding: chunked\r\n\r\n");
  return WriteAll(msg);
}

bool ResponseWriter::WriteChunk(absl::string_view data) {
  if (!chunked_open_) return false;
  if (data.empty()) return ok_;  // an empty chunk would end the body
  return WriteAll(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"));
}

bool ResponseWriter::EndChunked() {
  if (!chunked_open_) return false;
  chunked_open_ = false;
  return WriteAll("0\r\n\r\n");
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, HttpHandler handler) {
  if (options.threads < 1)
    return absl::InvalidArgumentError("http server: threads must be >= 1");
  std::unique_ptr<HttpServer> server(
      new HttpServer(options, std::move(handler)));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return absl::InternalError(
        absl::StrCat("http server: socket: ", std::strerror(errno)));
  server->listen_fd_ = fd;  // closed by the destructor from here on
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (::inet_pton(AF_INET, options.host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("http server: host '", options.host,
                     "' is not a numeric IPv4 address"));
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(absl::StrFormat("http server: bind %s:%d: %s",
                                                  options.host, options.port,
                                                  std::strerror(errno)));
  }
  if (::listen(fd, 128) != 0) {
    return absl::InternalError(
        absl::StrCat("http server: listen: ", std::strerror(errno)));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  server->port_ = ntohs(addr.sin_port);
  for (int i = 0; i < options.threads; ++i) {
    server->workers_.emplace_back([s = server.get()] { s->WorkerLoop(); });
  }
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

HttpServer::~HttpServer() {
  Shutdown();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void HttpServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  stopping_.store(true);
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  absl::MutexLock lock(&mu_);
  for (auto& [fd, peer] : pending_) ::close(fd);
  pending_.clear();
}

void HttpServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, kPollSliceMs);
    if (r <= 0) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                       SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char ip[INET_ADDRSTRLEN] = {0};
    ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
    std::string peer_name = absl::StrCat(ip, ":", ntohs(peer.sin_port));
    bool queued = false;
    {
      absl::MutexLock lock(&mu_);
      if (static_cast<int>(pending_.size()) < options_.queue) {
        pending_.emplace_back(fd, std::move(peer_name));
        queued = true;
      }
    }
    if (!queued) {
      SendSimple(fd, 503, "server busy");
      ::close(fd);
    }
  }
}

void HttpServer::WorkerLoop() {
  while (true) {
    std::pair<int, std::string> job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return !pending_.empty() || stopping_.load();
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready),
                           absl::Milliseconds(kPollSliceMs));
      if (pending_.empty()) {
        if (stopping_.load()) return;
        continue;
      }
      job = std::move(pending_.front());
      pending_.pop_front();
    }
    Serve(job.first, job.second);
    ::close(job.first);
  }
}

void HttpServer::Serve(int fd, const std::string& peer) {
  std::string buffer;
  while (!stopping_.load()) {
    // Head.
    size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (buffer.size() > options_.max_header_bytes) {
        SendSimple(fd, 431, "request header too large");
        return;
      }
      ReadResult r = ReadSome(fd, buffer, options_.idle_timeout_ms, stopping_);
      if (r != ReadResult::kOk) return;
    }
    if (head_end > options_.max_header_bytes) {
      SendSimple(fd, 431, "request header too large");
      return;
    }
    HttpRequest request;
    request.peer = peer;
    absl::string_view head(buffer.data(), head_end);
    size_t line_end = head.find("\r\n");
    absl::string_view request_line = head.substr(0, line_end);
    {
      size_t a = request_line.find(' ');
      size_t b =
          a == absl::string_view::npos ? a : request_line.find(' ', a + 1);
      if (b == absl::string_view::npos) {
        SendSimple(fd, 400, "malformed request line");
        return;
      }
      request.method = std::string(request_line.substr(0, a));
      request.target = std::string(request_line.substr(a + 1, b - a - 1));
      absl::string_view version = request_line.substr(b + 1);
      if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        SendSimple(fd, 400, "unsupported http version");
        return;
      }
      bool http10 = version == "HTTP/1.0";
      size_t q = request.target.find('?');
      request.path = request.target.substr(0, q);
      if (q != std::string::npos) request.query = request.target.substr(q + 1);
      size_t pos =
          line_end == absl::string_view::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == absl::string_view::npos) e = head.size();
        absl::string_view line = head.substr(pos, e - pos);
        pos = e + 2;
        size_t colon = line.find(':');
        if (colon == absl::string_view::npos) {
          SendSimple(fd, 400, "malformed header line");
          return;
        }
        request.headers.emplace_back(
            absl::AsciiStrToLower(std::string(line.substr(0, colon))),
            std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
      }
      std::string connection =
          absl::AsciiStrToLower(request.Header("connection"));
      bool keep_alive =
          http10 ? connection == "keep-alive" : connection != "close";
      if (!request.Header("transfer-encoding").empty()) {
        SendSimple(
            fd, 501,
            "chunked request bodies are not supported; send content-length");
        return;
      }
      size_t content_length = 0;
      std::string cl = request.Header("content-length");
      if (!cl.empty() && !absl::SimpleAtoi(cl, &content_length)) {
        SendSimple(fd, 400, "malformed content-length");
        return;
      }
      if (content_length > options_.max_body_bytes) {
        SendSimple(fd, 413,
                   absl::StrCat("request body of ", content_length,
                                " bytes exceeds the limit of ",
                                options_.max_body_bytes));
        return;
      }
      buffer.erase(0, head_end + 4);
      if (buffer.size() < content_length &&
          absl::AsciiStrToLower(request.Header("expect")) == "100-continue") {
        const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (::send(fd, kContinue, sizeof(kContinue) - 1, MSG_NOSIGNAL) < 0)
          return;
      }
      while (buffer.size() < content_length) {
        ReadResult r =
            ReadSome(fd, buffer, options_.idle_timeout_ms, stopping_);
        if (r != ReadResult::kOk) return;
      }
      request.body = buffer.substr(0, content_length);
      buffer.erase(0, content_length);

      ResponseWriter writer(fd, keep_alive);
      handler_(request, writer);
      if (!writer.responded()) {
        writer.Send(500, "text/plain; charset=utf-8",
                    "handler sent no response\n");
      }
      if (!writer.keep_alive()) return;
    }
  }
}

}  // namespace evald::base::http
