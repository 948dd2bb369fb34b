// File: base/http/http_server.cc
#include "base/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/http/bearer_token.h"
#include "base/logging.h"

namespace evald::base::http {
namespace {

// epoll tags of the two non-connection descriptors; connections count up
// from kFirstConnectionId and ids are never reused, so an event for a
// connection already closed finds nothing.
constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kFirstConnectionId = 2;

// After an error response: how long to read and drop what the client still
// sends before closing, and how much. Closing with unread input makes the
// kernel send a reset, which can destroy the response before the client
// reads it.
constexpr int64_t kLingerMs = 2000;
constexpr size_t kLingerMaxBytes = 1 << 20;

// When accept() runs out of descriptors: pause accepting this long rather
// than spin on a listening socket that stays readable.
constexpr int64_t kAcceptPauseMs = 100;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Sends what the socket takes now, without waiting. For the server's own
// short responses on a connection with nothing else in flight, which fit the
// empty send buffer.
void SendNow(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string PeerIp(uint32_t ip_network_order) {
  in_addr a{};
  a.s_addr = ip_network_order;
  char text[INET_ADDRSTRLEN] = {0};
  ::inet_ntop(AF_INET, &a, text, sizeof(text));
  return text;
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
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

// ---------------------------------------------------------------------------
// ResponseWriter

bool ResponseWriter::WriteAll(absl::string_view data) {
  while (ok_ && !data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The client reads slower than we write: wait for room, but not for
      // ever, or a client that stops reading would hold this thread.
      pollfd p{fd_, POLLOUT, 0};
      int r;
      do {
        r = ::poll(&p, 1, write_timeout_ms_);
      } while (r < 0 && errno == EINTR);
      if (r > 0) continue;
    }
    ok_ = false;
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

// ---------------------------------------------------------------------------
// Connections and the I/O loop

struct HttpServer::Connection {
  enum class State {
    kIdle,      // kept alive, waiting for the next request's first byte
    kHead,      // reading a request head
    kBody,      // reading a request body
    kHandling,  // owned by a worker; the I/O thread keeps off
    kLinger,    // error sent; dropping input until the client closes
  };

  Connection(uint64_t id, UniqueFd fd, uint32_t ip, std::string peer)
      : id(id), fd(std::move(fd)), ip(ip), peer(std::move(peer)) {}

  const uint64_t id;
  const UniqueFd fd;
  const uint32_t ip;       // network order; the per-client count's key
  const std::string peer;  // "ip:port"
  State state = State::kHead;
  RequestParser parser{RequestParserOptions()};  // see IoLoop::ParserOptions
  std::string leftover;        // bytes past the request being handled
  bool authorised = false;     // a right bearer token was read
  bool continue_sent = false;  // 100 Continue went out for this request
  bool in_epoll = false;
  int64_t deadline_ms = 0;  // 0 = none
  size_t lingered_bytes = 0;
};

// Runs on the I/O thread and owns the connections; the server's mutex guards
// only the hand-offs to and from the workers.
class HttpServer::IoLoop {
 public:
  IoLoop(HttpServer* server, UniqueFd listen_fd, UniqueFd epoll_fd,
         UniqueFd wake_fd)
      : server_(server),
        options_(server->options_),
        listen_fd_(std::move(listen_fd)),
        epoll_fd_(std::move(epoll_fd)),
        wake_fd_(std::move(wake_fd)) {}

  // Registers the listening socket and the wake-up descriptor.
  absl::Status Init() {
    for (auto [fd, id] : {std::pair<int, uint64_t>{listen_fd_.get(), kListenId},
                          {wake_fd_.get(), kWakeId}}) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = id;
      if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        return absl::InternalError(
            absl::StrCat("http server: epoll_ctl: ", std::strerror(errno)));
      }
    }
    return absl::OkStatus();
  }

  // Makes Run() look at the hand-offs and the stop flag.
  void Wake() {
    const uint64_t one = 1;
    ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
    (void)n;  // a full counter already means "wake up"
  }

  void Run();

 private:
  void Accept();
  RequestParserOptions ParserOptions(Connection* conn) const;
  void OnReadable(Connection* conn);
  // Parses `data` for `conn`; may dispatch, reject or leave it reading.
  void Feed(Connection* conn, absl::string_view data);
  void Dispatch(Connection* conn);
  void AfterResponse(Connection* conn, bool keep_alive);
  // Sends an error response, then lingers and closes.
  void Reject(Connection* conn, int status, absl::string_view message);
  void Linger(Connection* conn);
  void Close(Connection* conn);
  void ExpireDeadlines();
  void SetDeadline(Connection* conn, int64_t deadline_ms);
  void Watch(Connection* conn, bool on);
  std::string ErrorResponse(int status, absl::string_view message);
  int EpollTimeoutMs() const;

  HttpServer* const server_;
  const HttpServerOptions& options_;
  const UniqueFd listen_fd_;
  const UniqueFd epoll_fd_;
  const UniqueFd wake_fd_;
  uint64_t next_id_ = kFirstConnectionId;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> conns_;
  absl::flat_hash_map<uint32_t, int> per_client_;
  std::set<std::pair<int64_t, uint64_t>> deadlines_;  // (ms, connection id)
  int64_t accept_paused_until_ = 0;                   // 0 = accepting
};

std::string HttpServer::IoLoop::ErrorResponse(int status,
                                              absl::string_view message) {
  HttpErrorBody body = options_.error_body
                           ? options_.error_body(status, message)
                           : HttpErrorBody{"text/plain; charset=utf-8",
                                           absl::StrCat(message, "\n")};
  std::string out =
      absl::StrFormat("HTTP/1.1 %d %s\r\n", status, StatusText(status));
  if (status == 401) absl::StrAppend(&out, "WWW-Authenticate: Bearer\r\n");
  absl::StrAppend(&out, "Content-Type: ", body.content_type,
                  "\r\nConnection: close\r\nContent-Length: ", body.body.size(),
                  "\r\n\r\n", body.body);
  return out;
}

int HttpServer::IoLoop::EpollTimeoutMs() const {
  int64_t next = deadlines_.empty() ? 0 : deadlines_.begin()->first;
  if (accept_paused_until_ != 0 && (next == 0 || accept_paused_until_ < next)) {
    next = accept_paused_until_;
  }
  if (next == 0) return -1;
  return static_cast<int>(std::clamp<int64_t>(next - NowMs() + 1, 0, 60000));
}

void HttpServer::IoLoop::Run() {
  std::vector<epoll_event> events(256);
  while (true) {
    const int n =
        ::epoll_wait(epoll_fd_.get(), events.data(),
                     static_cast<int>(events.size()), EpollTimeoutMs());
    if (n < 0 && errno != EINTR) {
      LOG(ERROR) << "http server: epoll_wait: " << std::strerror(errno);
      break;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kListenId) {
        Accept();
      } else if (id == kWakeId) {
        uint64_t count;
        ssize_t r = ::read(wake_fd_.get(), &count, sizeof(count));
        (void)r;
      } else if (auto it = conns_.find(id); it != conns_.end()) {
        OnReadable(it->second.get());
      }
    }
    std::vector<std::pair<Connection*, bool>> handed_back;
    bool stopping;
    {
      absl::MutexLock lock(&server_->mu_);
      handed_back.swap(server_->handed_back_);
      stopping = server_->stopping_;
    }
    if (stopping) break;
    for (auto [conn, keep_alive] : handed_back) AfterResponse(conn, keep_alive);
    ExpireDeadlines();
    if (accept_paused_until_ != 0 && NowMs() >= accept_paused_until_) {
      accept_paused_until_ = 0;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kListenId;
      ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, listen_fd_.get(), &ev);
    }
  }
  // Stopping: idle and reading connections close now; running handlers see
  // their socket shut down, so their writes fail and they return soon. Their
  // connections close with the loop.
  std::vector<Connection*> all;
  for (auto& [id, conn] : conns_) all.push_back(conn.get());
  for (Connection* conn : all) {
    if (conn->state == Connection::State::kHandling) {
      ::shutdown(conn->fd.get(), SHUT_RDWR);
    } else {
      Close(conn);
    }
  }
}

void HttpServer::IoLoop::Accept() {
  while (true) {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    int raw = ::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr),
                        &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (raw < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        LOG(WARNING) << "http server: accept: " << std::strerror(errno)
                     << "; pausing " << kAcceptPauseMs << " ms";
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, listen_fd_.get(), nullptr);
        accept_paused_until_ = NowMs() + kAcceptPauseMs;
      }
      return;  // EAGAIN: nothing more to accept
    }
    UniqueFd fd(raw);
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const uint32_t ip = addr.sin_addr.s_addr;
    int refuse = 0;
    std::string why;
    if (static_cast<int>(conns_.size()) >= server_->max_connections_) {
      refuse = 503;
      why = absl::StrCat("server busy: ", server_->max_connections_,
                         " connections open");
    } else if (auto it = per_client_.find(ip);
               it != per_client_.end() &&
               it->second >= options_.max_connections_per_client) {
      refuse = 429;
      why = absl::StrCat("too many connections from ", PeerIp(ip), " (limit ",
                         options_.max_connections_per_client, ")");
    }
    if (refuse != 0) {
      // Read what already arrived, so the close is a clean one and the
      // client gets to read the answer.
      char drop[16384];
      for (int i = 0; i < 4 && ::recv(fd.get(), drop, sizeof(drop), 0) > 0;
           ++i) {
      }
      SendNow(fd.get(), ErrorResponse(refuse, why));
      continue;  // `fd` closes
    }
    const uint64_t id = next_id_++;
    auto conn = std::make_unique<Connection>(
        id, std::move(fd), ip,
        absl::StrCat(PeerIp(ip), ":", ntohs(addr.sin_port)));
    Connection* c = conn.get();
    c->parser = RequestParser(ParserOptions(c));
    conns_.emplace(id, std::move(conn));
    ++per_client_[ip];
    c->state = Connection::State::kHead;
    SetDeadline(c, NowMs() + options_.header_timeout_ms);
    Watch(c, true);
  }
}

RequestParserOptions HttpServer::IoLoop::ParserOptions(Connection* conn) const {
  RequestParserOptions parser_options;
  parser_options.max_header_bytes = options_.max_header_bytes;
  parser_options.max_body_bytes = options_.max_body_bytes;
  if (!options_.bearer_token.empty()) {
    // Checked the moment the header line is complete, so a client without
    // the token is answered at that line and holds nothing past it.
    parser_options.on_header =
        [conn, token = absl::string_view(options_.bearer_token)](
            absl::string_view name,
            absl::string_view value) -> std::optional<HttpError> {
      if (name != "authorization") return std::nullopt;
      if (!BearerTokenMatches(value, token)) {
        conn->authorised = false;
        return HttpError{401, "wrong bearer token in the authorization header"};
      }
      conn->authorised = true;
      return std::nullopt;
    };
  }
  return parser_options;
}

void HttpServer::IoLoop::Watch(Connection* conn, bool on) {
  if (conn->in_epoll == on) return;
  if (on) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = conn->id;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, conn->fd.get(), &ev) != 0) {
      LOG(ERROR) << "http server: epoll_ctl add: " << std::strerror(errno);
      return;
    }
  } else {
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, conn->fd.get(), nullptr);
  }
  conn->in_epoll = on;
}

void HttpServer::IoLoop::SetDeadline(Connection* conn, int64_t deadline_ms) {
  if (conn->deadline_ms != 0) deadlines_.erase({conn->deadline_ms, conn->id});
  conn->deadline_ms = deadline_ms;
  if (deadline_ms != 0) deadlines_.insert({deadline_ms, conn->id});
}

void HttpServer::IoLoop::ExpireDeadlines() {
  const int64_t now = NowMs();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    Connection* conn = conns_.at(deadlines_.begin()->second).get();
    SetDeadline(conn, 0);
    switch (conn->state) {
      case Connection::State::kHead:
        Reject(conn, 408,
               absl::StrCat("request head not complete within ",
                            options_.header_timeout_ms, " ms"));
        break;
      case Connection::State::kBody:
        Reject(conn, 408,
               absl::StrCat("request body not complete within ",
                            options_.body_timeout_ms, " ms"));
        break;
      case Connection::State::kIdle:
      case Connection::State::kLinger:
      case Connection::State::kHandling:
        Close(conn);
        break;
    }
  }
}

void HttpServer::IoLoop::OnReadable(Connection* conn) {
  char buf[65536];
  // A few reads at most, then the other connections get their turn; the
  // level-triggered epoll comes back for the rest.
  for (int round = 0; round < 4; ++round) {
    const ssize_t n = ::recv(conn->fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      Close(conn);  // the client is gone (or reset); nothing to answer
      return;
    }
    if (conn->state == Connection::State::kLinger) {
      conn->lingered_bytes += static_cast<size_t>(n);
      if (conn->lingered_bytes > kLingerMaxBytes) {
        Close(conn);
        return;
      }
      continue;
    }
    // Feed() never closes the connection: `conn` stays valid.
    Feed(conn, absl::string_view(buf, static_cast<size_t>(n)));
    if (conn->state == Connection::State::kHandling) return;
  }
}

void HttpServer::IoLoop::Feed(Connection* conn, absl::string_view data) {
  if (conn->state == Connection::State::kIdle) {
    conn->state = Connection::State::kHead;
    SetDeadline(conn, NowMs() + options_.header_timeout_ms);
  }
  const size_t used = conn->parser.Consume(data);
  const RequestParser& parser = conn->parser;
  if (parser.state() == RequestParser::State::kFailed) {
    Reject(conn, parser.error().status, parser.error().message);
    return;
  }
  if (!parser.head_complete()) return;
  if (!options_.bearer_token.empty() && !conn->authorised) {
    Reject(conn, 401, "missing bearer token in the authorization header");
    return;
  }
  if (parser.state() == RequestParser::State::kBody) {
    if (conn->state == Connection::State::kHead) {
      conn->state = Connection::State::kBody;
      SetDeadline(conn, NowMs() + options_.body_timeout_ms);
    }
    if (parser.expects_continue() && !conn->continue_sent) {
      conn->continue_sent = true;
      SendNow(conn->fd.get(), "HTTP/1.1 100 Continue\r\n\r\n");
    }
    return;
  }
  // Complete: what follows belongs to the next request.
  conn->leftover.assign(data.data() + used, data.size() - used);
  Dispatch(conn);
}

void HttpServer::IoLoop::Dispatch(Connection* conn) {
  conn->state = Connection::State::kHandling;
  SetDeadline(conn, 0);
  Watch(conn, false);
  conn->parser.mutable_request().peer = conn->peer;
  bool queued = false;
  {
    absl::MutexLock lock(&server_->mu_);
    if (static_cast<int>(server_->ready_.size()) < options_.queue) {
      server_->ready_.push_back(conn);
      queued = true;
    }
  }
  if (!queued) {
    Watch(conn, true);
    Reject(conn, 503, "server busy: too many requests waiting");
  }
}

void HttpServer::IoLoop::AfterResponse(Connection* conn, bool keep_alive) {
  if (!keep_alive) {
    Linger(conn);
    return;
  }
  conn->parser.Reset();
  conn->authorised = false;
  conn->continue_sent = false;
  conn->state = Connection::State::kIdle;
  SetDeadline(conn, NowMs() + options_.idle_timeout_ms);
  Watch(conn, true);
  if (!conn->leftover.empty()) {
    // A pipelined request: its bytes were read with the previous one.
    std::string pending = std::move(conn->leftover);
    conn->leftover.clear();
    Feed(conn, pending);
  }
}

void HttpServer::IoLoop::Reject(Connection* conn, int status,
                                absl::string_view message) {
  SendNow(conn->fd.get(), ErrorResponse(status, message));
  Linger(conn);
}

void HttpServer::IoLoop::Linger(Connection* conn) {
  ::shutdown(conn->fd.get(), SHUT_WR);
  conn->state = Connection::State::kLinger;
  conn->leftover.clear();
  SetDeadline(conn, NowMs() + kLingerMs);
  Watch(conn, true);
}

void HttpServer::IoLoop::Close(Connection* conn) {
  Watch(conn, false);
  SetDeadline(conn, 0);
  if (auto it = per_client_.find(conn->ip); it != per_client_.end()) {
    if (--it->second <= 0) per_client_.erase(it);
  }
  conns_.erase(conn->id);  // closes the socket
}

// ---------------------------------------------------------------------------
// HttpServer

HttpServer::HttpServer(const HttpServerOptions& options, HttpHandler handler)
    : options_(options), handler_(std::move(handler)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, HttpHandler handler) {
  if (options.threads < 1)
    return absl::InvalidArgumentError("http server: threads must be >= 1");
  if (options.max_connections < 1 || options.max_connections_per_client < 1) {
    return absl::InvalidArgumentError(
        "http server: max_connections and max_connections_per_client must be "
        ">= 1");
  }
  if (options.header_timeout_ms < 1 || options.body_timeout_ms < 1 ||
      options.idle_timeout_ms < 1 || options.write_timeout_ms < 1) {
    return absl::InvalidArgumentError("http server: timeouts must be >= 1 ms");
  }
  std::unique_ptr<HttpServer> server(
      new HttpServer(options, std::move(handler)));
  UniqueFd listen_fd(
      ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (listen_fd.get() < 0)
    return absl::InternalError(
        absl::StrCat("http server: socket: ", std::strerror(errno)));
  int one = 1;
  ::setsockopt(listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (::inet_pton(AF_INET, options.host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("http server: host '", options.host,
                     "' is not a numeric IPv4 address"));
  }
  if (::bind(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr),
             sizeof(addr)) != 0) {
    return absl::UnavailableError(absl::StrFormat("http server: bind %s:%d: %s",
                                                  options.host, options.port,
                                                  std::strerror(errno)));
  }
  if (::listen(listen_fd.get(), 1024) != 0) {
    return absl::InternalError(
        absl::StrCat("http server: listen: ", std::strerror(errno)));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  server->port_ = ntohs(addr.sin_port);

  // Half the descriptor limit at most: RocksDB, gRPC and model files need
  // the rest, and a connection flood must not starve them.
  server->max_connections_ = options.max_connections;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY) {
    server->max_connections_ = static_cast<int>(std::max<rlim_t>(
        1, std::min<rlim_t>(options.max_connections, limit.rlim_cur / 2)));
  }

  UniqueFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  UniqueFd wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (epoll_fd.get() < 0 || wake_fd.get() < 0) {
    return absl::InternalError(
        absl::StrCat("http server: epoll/eventfd: ", std::strerror(errno)));
  }
  server->io_ =
      std::make_unique<IoLoop>(server.get(), std::move(listen_fd),
                               std::move(epoll_fd), std::move(wake_fd));
  if (absl::Status s = server->io_->Init(); !s.ok()) return s;
  for (int i = 0; i < options.threads; ++i) {
    server->workers_.emplace_back([s = server.get()] { s->WorkerLoop(); });
  }
  server->io_thread_ = std::thread([s = server.get()] { s->io_->Run(); });
  return server;
}

HttpServer::~HttpServer() { Shutdown(); }

void HttpServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  if (io_ != nullptr) io_->Wake();
  if (io_thread_.joinable()) io_thread_.join();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  // Every thread is gone: the connections still open (queued requests,
  // handlers that just finished) close with the loop.
  io_.reset();
}

void HttpServer::WorkerLoop() {
  while (true) {
    Connection* conn = nullptr;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](HttpServer* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->stopping_ || !s->ready_.empty();
          },
          this));
      if (stopping_) return;
      conn = ready_.front();
      ready_.pop_front();
    }
    ResponseWriter writer(conn->fd.get(), conn->parser.keep_alive(),
                          options_.write_timeout_ms);
    handler_(conn->parser.request(), writer);
    if (!writer.responded()) {
      writer.Send(500, "text/plain; charset=utf-8",
                  "handler sent no response\n");
    }
    HandOver(conn, writer.keep_alive());
  }
}

void HttpServer::HandOver(Connection* conn, bool keep_alive) {
  {
    absl::MutexLock lock(&mu_);
    handed_back_.emplace_back(conn, keep_alive);
  }
  io_->Wake();
}

}  // namespace evald::base::http
