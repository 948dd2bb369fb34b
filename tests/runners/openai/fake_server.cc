// File: tests/runners/openai/fake_server.cc
#include "tests/runners/openai/fake_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>

namespace evald::testing {
namespace {

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n =
        ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

FakeServer::FakeServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) return;
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
          0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
          0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeServer::~FakeServer() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

std::string FakeServer::endpoint() const {
  if (listen_fd_ < 0) return "";
  return "http://127.0.0.1:" + std::to_string(port_) + "/v1";
}

std::vector<FakeRequest> FakeServer::received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

void FakeServer::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeServer::Serve(int fd) {
  // Read the head, then Content-Length bytes of body.
  std::string data;
  size_t head_end = std::string::npos;
  size_t want = 0;
  char buf[8192];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!stop_ && std::chrono::steady_clock::now() < deadline) {
    if (head_end != std::string::npos && data.size() >= head_end + 4 + want)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (head_end == std::string::npos &&
        (head_end = data.find("\r\n\r\n")) != std::string::npos) {
      std::string lower = Lower(data.substr(0, head_end));
      size_t cl = lower.find("content-length:");
      if (cl != std::string::npos)
        want = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
    }
  }
  if (head_end == std::string::npos || data.size() < head_end + 4 + want) {
    ::close(fd);
    return;
  }
  FakeRequest request;
  std::string head = data.substr(0, head_end);
  size_t line_end = head.find("\r\n");
  std::string first = head.substr(0, line_end);
  size_t sp1 = first.find(' ');
  size_t sp2 = first.find(' ', sp1 + 1);
  request.method = first.substr(0, sp1);
  request.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      request.headers[Lower(Trim(line.substr(0, colon)))] =
          Trim(line.substr(colon + 1));
    }
    pos = end + 2;
  }
  request.body = data.substr(head_end + 4, want);

  int now = ++in_flight_;
  int peak = max_in_flight_.load();
  while (now > peak && !max_in_flight_.compare_exchange_weak(peak, now)) {
  }
  ++requests_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    received_.push_back(request);
  }
  FakeResponse response = handler_(request);
  auto until = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(response.delay_ms);
  while (!stop_ && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    Reason(response.status) +
                    "\r\nContent-Type: application/json\r\n" +
                    "Content-Length: " + std::to_string(response.body.size()) +
                    "\r\nConnection: close\r\n";
  for (const auto& [name, value] : response.headers)
    out += name + ": " + value + "\r\n";
  out += "\r\n";
  --in_flight_;
  if (response.drop_mid_body) {
    out += response.body.substr(0, response.body.size() / 2);
    SendAll(fd, out);
  } else {
    out += response.body;
    SendAll(fd, out);
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

}  // namespace evald::testing
