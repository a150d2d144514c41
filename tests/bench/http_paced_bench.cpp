// A paced HTTP load generator for `scripts/bench`: the latency of keep-alive requests sent at
// a fixed total rate (wrk measures the most a server answers; this measures how fast it
// answers at a given load).
//
//   http_paced_bench <port> <target> <header line or ""> <connections> <rate/s> <seconds>
//
// Each connection has its own thread and sends its share of the rate on a fixed schedule,
// one request at a time; a request's latency runs from the moment it was scheduled, not
// sent, so a stall that delays the requests behind it counts for each of them (the
// coordinated omission wrk2 corrects). Prints one line: requests, the rate achieved,
// median, p99 and p99.9 in µs, and answers that were not 2xx.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/loopback_http.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  const auto at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[at];
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
  const int connections = std::atoi(argv[4]);
  const double rate = std::atof(argv[5]);
  const double seconds = std::atof(argv[6]);
  if (port <= 0 || connections <= 0 || rate <= 0 || seconds <= 0) {
    std::fprintf(stderr, "http_paced_bench: port, connections, rate and seconds must be > 0\n");
    return 2;
  }
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(connections / rate));
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::mutex mutex;
  std::vector<double> latencies_us;
  std::atomic<long> errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      std::vector<double> mine;
      const int fd = testing_support::connectLoopback(port);
      if (fd < 0) {
        errors.fetch_add(1);
        return;
      }
      std::string pending;
      // Connections start spread over one interval, so the total rate is even.
      auto due = start + interval * c / connections;
      while (due < end) {
        std::this_thread::sleep_until(due);
        if (!testing_support::sendAll(fd, request)) {
          errors.fetch_add(1);
          break;
        }
        const testing_support::HttpReply r = testing_support::readHttpReply(fd, pending);
        const auto done = Clock::now();
        if (r.status < 200 || r.status > 299) {
          errors.fetch_add(1);
          if (r.status == 0) {
            break;
          }
        }
        mine.push_back(std::chrono::duration<double, std::micro>(done - due).count());
        due += interval;
      }
      ::close(fd);
      std::lock_guard lock(mutex);
      latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  std::printf("requests=%zu rate_per_s=%.0f median_us=%.1f p99_us=%.1f p999_us=%.1f errors=%ld\n",
              latencies_us.size(), static_cast<double>(latencies_us.size()) / seconds,
              percentile(latencies_us, 0.5), percentile(latencies_us, 0.99),
              percentile(latencies_us, 0.999), errors.load());
  return errors.load() == 0 ? 0 : 1;
}
