// A paced HTTP load generator for `scripts/bench`: the latency of keep-alive requests sent at
// a fixed total rate (wrk measures the most a server answers; this measures how fast it
// answers at a given load).
//
//   http_paced_bench <port> <target> <header line or ""> <connections> <rate/s> <seconds>
//
// One thread (so that the generator adds one runnable thread, not one per connection, to the
// machine it measures) drives every connection through epoll, on a timerfd schedule: request
// i is due at start + i / rate, on connection i mod connections, one in flight per
// connection (a request due while its connection waits is sent when the answer comes). A
// request's latency runs from when it was due, not sent, so a stall counts for every request
// it delays (the coordinated omission wrk2 corrects). Prints one line: requests, the rate
// achieved, median, p99 and p99.9 in µs, and answers that were not 2xx.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Connection {
  int fd = -1;
  std::deque<Clock::time_point> due;  // requests scheduled on it and not answered, oldest first
  bool in_flight = false;             // the oldest of them is sent
  std::string in;                     // bytes of the answer being read
};

// The length of the first whole answer in `in`, or 0 while it is incomplete.
size_t answerLength(const std::string& in, int& status) {
  const size_t head = in.find("\r\n\r\n");
  if (head == std::string::npos) {
    return 0;
  }
  status = std::atoi(in.c_str() + 9);
  size_t length = 0;
  for (size_t at = 0; at < head;) {
    const size_t end = in.find("\r\n", at);
    if (end - at > 15 && strncasecmp(in.c_str() + at, "content-length:", 15) == 0) {
      length = std::strtoul(in.c_str() + at + 15, nullptr, 10);
    }
    at = end + 2;
  }
  return in.size() >= head + 4 + length ? head + 4 + length : 0;
}

bool sendAll(int fd, const std::string& bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      continue;  // a request is small: the socket's buffer empties at once
    }
    if (n <= 0) {
      return false;
    }
    at += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr,
                 "usage: http_paced_bench <port> <target> <header line or \"\"> <connections> "
                 "<rate/s> <seconds>\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::string header = argv[3];
  const std::string request = std::string("GET ") + argv[2] + " HTTP/1.1\r\nHost: bench\r\n" +
                              (header.empty() ? "" : header + "\r\n") + "\r\n";
  const int count = std::atoi(argv[4]);
  const double rate = std::atof(argv[5]);
  const double seconds = std::atof(argv[6]);
  if (port <= 0 || port > 65535 || count <= 0 || rate <= 0 || seconds <= 0) {
    std::fprintf(stderr, "http_paced_bench: port, connections, rate and seconds must be > 0\n");
    return 2;
  }
  const int epoll = ::epoll_create1(0);
  const int timer = ::timerfd_create(CLOCK_MONOTONIC, 0);
  epoll_event timer_event{};
  timer_event.events = EPOLLIN;
  timer_event.data.u64 = static_cast<std::uint64_t>(count);
  ::epoll_ctl(epoll, EPOLL_CTL_ADD, timer, &timer_event);
  std::vector<Connection> connections(static_cast<size_t>(count));
  for (int c = 0; c < count; ++c) {
    Connection& conn = connections[static_cast<size_t>(c)];
    conn.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(conn.fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      std::fprintf(stderr, "http_paced_bench: cannot connect to 127.0.0.1:%d: %s\n", port,
                   std::strerror(errno));
      return 1;
    }
    const int one = 1;
    ::setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = static_cast<std::uint64_t>(c);
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, conn.fd, &e);
  }
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  const auto total = static_cast<std::uint64_t>(rate * seconds);
  const auto dueOf = [&](std::uint64_t i) {
    return start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
  };
  std::vector<double> latencies_us;
  latencies_us.reserve(total);
  long errors = 0;
  std::uint64_t next = 0;  // the next request to schedule
  const auto arm = [&] {
    itimerspec when{};
    if (next < total) {
      const auto ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(dueOf(next).time_since_epoch())
              .count();
      when.it_value.tv_sec = ns / 1'000'000'000;
      when.it_value.tv_nsec = ns % 1'000'000'000;
    }
    ::timerfd_settime(timer, TFD_TIMER_ABSTIME, &when, nullptr);
  };
  const auto sendNext = [&](Connection& conn) {
    if (!conn.in_flight && !conn.due.empty()) {
      conn.in_flight = true;
      if (!sendAll(conn.fd, request)) {
        std::fprintf(stderr, "http_paced_bench: the server closed a connection\n");
        std::exit(1);
      }
    }
  };
  arm();
  std::vector<epoll_event> events(static_cast<size_t>(count) + 1);
  char chunk[16384];
  while (latencies_us.size() + static_cast<size_t>(errors) < total) {
    const int n = ::epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 5'000);
    if (n == 0) {
      std::fprintf(stderr, "http_paced_bench: no answer for 5 s\n");
      return 1;
    }
    for (int k = 0; k < n; ++k) {
      const auto index = static_cast<size_t>(events[static_cast<size_t>(k)].data.u64);
      if (index == static_cast<size_t>(count)) {  // the timer: schedule what is due
        std::uint64_t expirations = 0;
        (void)!::read(timer, &expirations, sizeof(expirations));
        const auto now = Clock::now();
        for (; next < total && dueOf(next) <= now; ++next) {
          Connection& conn = connections[next % static_cast<std::uint64_t>(count)];
          conn.due.push_back(dueOf(next));
          sendNext(conn);
        }
        arm();
        continue;
      }
      Connection& conn = connections[index];
      const ssize_t got = ::recv(conn.fd, chunk, sizeof(chunk), 0);
      if (got <= 0) {
        std::fprintf(stderr, "http_paced_bench: the server closed a connection\n");
        return 1;
      }
      conn.in.append(chunk, static_cast<size_t>(got));
      int status = 0;
      for (size_t length; (length = answerLength(conn.in, status)) != 0;) {
        const auto done = Clock::now();
        conn.in.erase(0, length);
        latencies_us.push_back(
            std::chrono::duration<double, std::micro>(done - conn.due.front()).count());
        errors += status < 200 || status > 299 ? 1 : 0;
        conn.due.pop_front();
        conn.in_flight = false;
        sendNext(conn);
      }
    }
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  const auto at = [&](double p) {
    return latencies_us[static_cast<size_t>(p * static_cast<double>(latencies_us.size() - 1))];
  };
  std::printf("requests=%zu rate_per_s=%.0f median_us=%.1f p99_us=%.1f p999_us=%.1f errors=%ld\n",
              latencies_us.size(), static_cast<double>(latencies_us.size()) / seconds, at(0.5),
              at(0.99), at(0.999), errors);
  return errors == 0 ? 0 : 1;
}
