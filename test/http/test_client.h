// A deliberately dumb HTTP/1.1 client on plain POSIX sockets, so the tests can send exactly the
// bytes they want (malformed, slow, oversized) and see exactly what the server does.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace payoutd::http::testing {

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::optional<std::string> header(std::string_view lowercase_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lowercase_name) return value;
    }
    return std::nullopt;
  }
};

class Client {
 public:
  // Connects to 127.0.0.1:port; check connected() (a refused connection is not an error here).
  explicit Client(uint16_t port, int receive_timeout_ms = 5000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    timeval timeout{};
    timeout.tv_sec = receive_timeout_ms / 1000;
    timeout.tv_usec = (receive_timeout_ms % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      if (sent <= 0) return false;
      data.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
  }

  // Reads one response framed by Content-Length (1xx: header only). nullopt when the connection
  // closed or timed out first, or the response did not parse.
  std::optional<ClientResponse> read_response() {
    size_t header_end;
    while ((header_end = carry_.find("\r\n\r\n")) == std::string::npos) {
      if (!receive_more()) return std::nullopt;
    }
    ClientResponse response;
    const std::string head = carry_.substr(0, header_end);
    carry_.erase(0, header_end + 4);
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.1 ", 0) != 0 || status_line.size() < 12) return std::nullopt;
    response.status = std::stoi(status_line.substr(9, 3));
    size_t content_length = 0;
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (name == "content-length") content_length = std::stoul(value);
      response.headers.emplace_back(std::move(name), std::move(value));
    }
    if (response.status >= 200) {
      while (carry_.size() < content_length) {
        if (!receive_more()) return std::nullopt;
      }
      response.body = carry_.substr(0, content_length);
      carry_.erase(0, content_length);
    }
    return response;
  }

  std::optional<ClientResponse> request(std::string_view raw) {
    if (!send(raw)) return std::nullopt;
    return read_response();
  }

  // True when the server closes the connection (EOF or reset) within `timeout_ms`. Bytes that
  // arrive meanwhile are kept for read_response().
  bool wait_closed(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd descriptor{fd_, POLLIN, 0};
      const int ready = ::poll(&descriptor, 1, 50);
      if (ready <= 0) continue;
      char buffer[4096];
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got == 0) return true;
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return true;  // ECONNRESET and friends: closed too
      }
      carry_.append(buffer, static_cast<size_t>(got));
    }
    return false;
  }

  int fd() const { return fd_; }

 private:
  bool receive_more() {
    char buffer[16384];
    while (true) {
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      carry_.append(buffer, static_cast<size_t>(got));
      return true;
    }
  }

  int fd_ = -1;
  std::string carry_;
};

// "METHOD target HTTP/1.1" with Host, optional extra header lines ("Name: value"), and a
// Content-Length body when `body` is non-empty or the method usually carries one.
inline std::string make_request(std::string_view method, std::string_view target,
                                std::string_view body = {},
                                const std::vector<std::string>& extra_headers = {}) {
  std::string request;
  request += method;
  request += ' ';
  request += target;
  request += " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const std::string& line : extra_headers) {
    request += line;
    request += "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n";
  request += body;
  return request;
}

}  // namespace payoutd::http::testing
