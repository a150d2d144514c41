// A minimal HTTP/1.1 client on 127.0.0.1 for the tests of the HTTP edge and what stands in
// front of it: raw requests written as given (so that malformed ones can be sent too), and
// replies read by their Content-Length.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <map>
#include <string>

namespace testing_support {

struct HttpReply {
  int status = 0;                              // 0: no reply
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool closed = false;  // the server closed the connection without a (whole) reply header
};

// A connection to 127.0.0.1:port whose reads give up after `timeout_s`; -1 when refused.
inline int connectLoopback(int port, int timeout_s = 10) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    return -1;
  }
  timeval timeout{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

inline bool sendAll(int fd, const std::string& bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    at += static_cast<size_t>(n);
  }
  return true;
}

// Reads one reply from `fd`: its header, then Content-Length bytes of body. `pending` keeps
// what was read past it (the next reply on a kept-alive connection).
inline HttpReply readHttpReply(int fd, std::string& pending) {
  HttpReply r;
  char chunk[4096];
  size_t end = std::string::npos;
  while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      r.closed = true;
      return r;
    }
    pending.append(chunk, static_cast<size_t>(n));
  }
  const std::string head = pending.substr(0, end);
  pending.erase(0, end + 4);
  r.status = std::stoi(head.substr(9, 3));
  size_t line = head.find("\r\n");
  while (line != std::string::npos) {
    const size_t next = head.find("\r\n", line + 2);
    const std::string field = head.substr(line + 2, next - line - 2);
    const size_t colon = field.find(':');
    std::string name = field.substr(0, colon);
    for (char& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    size_t value = colon + 1;
    while (value < field.size() && field[value] == ' ') {
      ++value;
    }
    r.headers[name] = field.substr(value);
    line = next;
  }
  const size_t length = r.headers.count("content-length") != 0
                            ? static_cast<size_t>(std::stoul(r.headers["content-length"]))
                            : 0;
  while (pending.size() < length) {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      break;
    }
    pending.append(chunk, static_cast<size_t>(n));
  }
  r.body = pending.substr(0, length);
  pending.erase(0, length);
  return r;
}

// One request on a connection of its own; `closed` when it could not be sent or answered.
inline HttpReply httpExchange(int port, const std::string& request) {
  HttpReply r;
  const int fd = connectLoopback(port);
  if (fd < 0) {
    r.closed = true;
    return r;
  }
  std::string pending;
  if (sendAll(fd, request)) {
    r = readHttpReply(fd, pending);
  } else {
    r.closed = true;
  }
  ::close(fd);
  return r;
}

}  // namespace testing_support
