#include "http/http_edge.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "domain/errors.hpp"
#include "util/text.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 64 * 1024;
constexpr std::int64_t kMaxCost = 1'000'000'000;

// POST /v1/usage: the scope its shipper's key must hold, and the fields of a line.
constexpr std::string_view kUsageScope = "usage:write";
constexpr std::array<std::string_view, 8> kUsageFields{
    "key_id",           "endpoint",   "method",     "status_code",
    "response_time_ms", "ip_address", "user_agent", "timestamp"};
constexpr std::string_view kUsageLineExample =
    R"({"key_id": "key_...", "endpoint": "/v1/items", "method": "GET", "status_code": 200, )"
    R"("response_time_ms": 12, "ip_address": "203.0.113.7", "user_agent": "curl/8.0", )"
    R"("timestamp": "2026-11-25T12:30:00.000Z"})";

// Auth latency buckets, seconds: the request path is microseconds, a store failure
// milliseconds.
constexpr std::array<double, 12> kLatencyBuckets{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5,
                                                 1e-4, 2.5e-4, 1e-3, 1e-2, 1e-1,   1.0};

// What /v1/auth answered, for /metrics (labels are outcomes, never keys or users).
// "shed": answered 503 unasked, having waited too long for a decision worker.
constexpr std::array<const char*, 11> kOutcomes{"ok",
                                                "missing",
                                                "malformed",
                                                "not_found",
                                                "revoked",
                                                "expired",
                                                "over_limit",
                                                "cost_exceeds_limit",
                                                "insufficient_scope",
                                                "shed",
                                                "internal_error"};

std::size_t outcomeIndex(std::string_view reason) {
  for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
    if (reason == kOutcomes[i]) {
      return i;
    }
  }
  return kOutcomes.size() - 1;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// A request target's path, without its query.
std::string_view pathOf(std::string_view target) {
  return target.substr(0, target.find('?'));
}

// /v1/auth, and /v1/auth/<anything>: Envoy's ext_authz puts the client's path after its
// path_prefix.
bool isAuthPath(std::string_view path) {
  return path == "/v1/auth" || path.starts_with("/v1/auth/");
}

std::int64_t ceilSeconds(std::int64_t ms) {
  return ms <= 0 ? 0 : (ms + 999) / 1000;
}

}  // namespace

// A connection as the edge's list of idle ones sees it: at httpMaxConnections the one idle
// the longest is closed to make room for a new one.
class IdleConnection {
 public:
  virtual ~IdleConnection() = default;
  // Closes the connection on its own strand; called once it was taken off the idle list.
  virtual void closeEvicted() = 0;

  // Guarded by the edge's idle mutex.
  std::optional<std::list<std::weak_ptr<IdleConnection>>::iterator> idle_at;
  bool evicted = false;
};

// Counters for /metrics: relaxed atomics, written on the I/O threads and the decision workers.
struct Metrics {
  std::array<std::atomic<std::uint64_t>, kOutcomes.size()> decisions{};
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size()> latency_buckets{};
  std::atomic<std::uint64_t> latency_count{0};
  std::atomic<std::uint64_t> latency_sum_ns{0};
  std::array<std::atomic<std::uint64_t>, 5> responses{};  // 1xx .. 5xx
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> connections_evicted{0};
  std::atomic<std::uint64_t> store_errors{0};  // decisions whose store call failed
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::int64_t> waiting_for_worker{0};  // posted to the workers, not yet taken
  std::atomic<std::int64_t> workers_busy{0};        // workers deciding a request
  std::atomic<std::uint64_t> shed{0};  // answered 503 after waiting too long for a worker

  // The count first, then the buckets from the widest down; a scrape reads the buckets from
  // the narrowest up, then the count: so it always sees buckets that never decrease with
  // `le` and a count at least the widest bucket, whatever it races with.
  void observe(std::chrono::nanoseconds took) {
    const double seconds = std::chrono::duration<double>(took).count();
    latency_count.fetch_add(1);
    for (std::size_t i = kLatencyBuckets.size(); i-- > 0;) {
      if (seconds <= kLatencyBuckets[i]) {
        latency_buckets[i].fetch_add(1);
      }
    }
    latency_sum_ns.fetch_add(static_cast<std::uint64_t>(took.count()), std::memory_order_relaxed);
  }
};

class HttpEdge::Impl {
 public:
  Impl(const HttpSettings& settings, const Services& services, const HostLogger& logger)
      : settings_(settings),
        services_(services),
        logger_(logger),
        pool_(static_cast<std::size_t>(settings.threads)),
        acceptor_(asio::make_strand(pool_)),
        retry_timer_(acceptor_.get_executor()) {
    if (settings.decision_workers > 0) {
      workers_ =
          std::make_unique<asio::thread_pool>(static_cast<std::size_t>(settings.decision_workers));
    }
    beast::error_code ec;
    const asio::ip::address address = asio::ip::make_address(settings.address, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + settings.listen + ": " + ec.message());
    }
    const tcp::endpoint endpoint(address, static_cast<std::uint16_t>(settings.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor_.bind(endpoint, ec);
    }
    if (!ec) {
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      stopThreads();
      throw std::runtime_error("cannot listen on " + settings.listen + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    accept();
    logger_.info("http edge listening",
                 {{"address", settings.address},
                  {"port", std::to_string(port_)},
                  {"threads", std::to_string(settings.threads)},
                  {"decision_workers", std::to_string(settings.decision_workers)}});
  }

  std::uint16_t port() const { return port_; }

  void stop(std::chrono::milliseconds deadline) {
    if (stopped_.exchange(true)) {
      return;
    }
    // No new connection; those open finish the request they are on and close.
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      retry_timer_.cancel();
    });
    {
      std::unique_lock lock(mutex_);
      drained_.wait_for(lock, deadline, [this] { return in_flight_ == 0; });
    }
    stopThreads();  // what is still open is abandoned with the threads
    logger_.info("http edge stopped");
  }

  // Whether the answer to a request with this path may wait on the database, and is decided
  // on a worker rather than on an I/O thread. Only when there are workers: with the shared
  // segment, a decision takes microseconds and a hop to another thread would cost more.
  // /metrics never waits on the store; /healthz asks it.
  bool decidesOnWorker(std::string_view path) const {
    return workers_ != nullptr && (isAuthPath(path) || path == "/v1/keys/verify" ||
                                   path == "/v1/usage" || path == "/healthz");
  }

  // Runs `decide` on a worker. It is handed whether the request waited longer than the
  // request timeout for one, in which case it answers without asking the store (shed()).
  // `decide` answers by posting to the connection's strand; should it throw (out of memory:
  // respond() catches the rest), the connection closes as its last owner lets it go, and the
  // worker goes on.
  template <class Decide>
  void onWorker(std::chrono::steady_clock::time_point received, Decide decide) {
    metrics_.waiting_for_worker.fetch_add(1, std::memory_order_relaxed);
    asio::post(*workers_, [this, received, decide = std::move(decide)]() mutable {
      metrics_.waiting_for_worker.fetch_sub(1, std::memory_order_relaxed);
      metrics_.workers_busy.fetch_add(1, std::memory_order_relaxed);
      try {
        decide(std::chrono::steady_clock::now() - received >
               std::chrono::milliseconds(settings_.request_timeout_ms));
      } catch (...) {
      }
      metrics_.workers_busy.fetch_sub(1, std::memory_order_relaxed);
    });
  }

  // The answer to a request that waited too long for a worker: the store is slower than
  // requests come, and asking it too would only lengthen the queue. An auth decision shed
  // counts as the outcome "shed", its wait in the latency histogram.
  http::response<http::string_body> shed(const http::request<http::string_body>& request,
                                         std::chrono::steady_clock::time_point received);

  // Called by a connection when it starts and ends handling a request.
  void requestBegins() {
    std::lock_guard lock(mutex_);
    ++in_flight_;
  }
  void requestEnds() {
    std::lock_guard lock(mutex_);
    if (--in_flight_ == 0) {
      drained_.notify_all();
    }
  }

  // A connection answered a request and waits for the next one: the last to be evicted.
  void markIdle(const std::shared_ptr<IdleConnection>& connection) {
    std::lock_guard lock(idle_mutex_);
    connection->idle_at = idle_.insert(idle_.end(), connection);
  }
  // The connection is busy again (or gone). False when it was evicted meanwhile: it must close.
  bool markBusy(IdleConnection& connection) {
    std::lock_guard lock(idle_mutex_);
    if (connection.idle_at) {
      idle_.erase(*connection.idle_at);
      connection.idle_at.reset();
    }
    return !connection.evicted;
  }
  // Closes the connection idle the longest; false when none is idle.
  bool evictOldestIdle() {
    std::shared_ptr<IdleConnection> victim;
    {
      std::lock_guard lock(idle_mutex_);
      // An expired entry is a connection being destroyed: its destructor erases it.
      for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        victim = it->lock();
        if (victim != nullptr) {
          idle_.erase(it);
          victim->idle_at.reset();
          victim->evicted = true;
          break;
        }
      }
    }
    if (victim == nullptr) {
      return false;
    }
    victim->closeEvicted();
    metrics_.connections_evicted.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  bool stopping() const { return stopped_.load(); }
  const HttpSettings& settings() const { return settings_; }
  Metrics& metrics() { return metrics_; }

  // The answer to one request, read whole at `received`; a failure inside becomes a 500 (a
  // thread of the pool must never see an exception: it would end the process).
  http::response<http::string_body> respond(const http::request<http::string_body>& request,
                                            std::chrono::steady_clock::time_point received);

 private:
  void accept();
  void acceptLater(beast::error_code ec);
  // Joins the workers, then the I/O threads.
  void stopThreads() {
    if (workers_ != nullptr) {
      workers_->stop();
      workers_->join();
    }
    pool_.stop();
    pool_.join();
  }
  http::response<http::string_body> handle(const http::request<http::string_body>& request,
                                           std::chrono::steady_clock::time_point received);
  http::response<http::string_body> authorize(const http::request<http::string_body>& request,
                                              std::chrono::steady_clock::time_point received);
  http::response<http::string_body> verify(const http::request<http::string_body>& request,
                                           std::chrono::steady_clock::time_point received);
  http::response<http::string_body> healthz(const http::request<http::string_body>& request);
  http::response<http::string_body> metrics(const http::request<http::string_body>& request);
  http::response<http::string_body> usage(const http::request<http::string_body>& request);
  // Records a /v1/auth decision about a known key as a request (httpRecordUsage).
  void recordDecision(const http::request<http::string_body>& request, std::string_view key_id,
                      unsigned status, std::chrono::nanoseconds took) noexcept;

  HttpSettings settings_;
  const Services& services_;
  const HostLogger& logger_;
  // Before the pool: connections its handlers still hold when it is destroyed use them.
  Metrics metrics_;
  std::atomic<bool> stopped_{false};
  std::mutex mutex_;
  std::condition_variable drained_;
  int in_flight_ = 0;
  std::mutex idle_mutex_;
  std::list<std::weak_ptr<IdleConnection>> idle_;  // oldest first
  asio::thread_pool pool_;
  tcp::acceptor acceptor_;          // after the pool, whose executor it uses
  asio::steady_timer retry_timer_;  // on the acceptor's strand
  // Decide what may wait on the database (decidesOnWorker); none when settings say 0. Last:
  // the connections its handlers hold are destroyed first, while everything above lives.
  std::unique_ptr<asio::thread_pool> workers_;
  std::uint64_t accept_failures_ = 0;
  std::atomic<std::uint64_t> record_failures_{0};
  std::uint16_t port_ = 0;
};

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response problem(const Request& request, http::status status, std::string_view title,
                 std::string_view detail) {
  Response r{status, request.version()};
  r.set(http::field::content_type, "application/problem+json");
  boost::json::object body;
  body["type"] = "about:blank";
  body["title"] = title;
  body["status"] = static_cast<int>(status);
  body["detail"] = detail;
  r.body() = boost::json::serialize(body);
  return r;
}

// The key a request presents: X-API-Key, or Authorization: Bearer <key>; both, they must
// agree. Another scheme in Authorization (a proxy may pass the client's own, meant for the
// upstream) is ignored beside X-API-Key, and without it is no key of ours.
struct PresentedKey {
  std::string_view key;       // empty: none
  bool other_scheme = false;  // only another scheme's credentials came
  bool two_keys = false;      // two different keys came
};

PresentedKey presentedKey(const Request& request) {
  PresentedKey out;
  std::string_view header_key;
  if (const auto it = request.find("X-API-Key"); it != request.end()) {
    header_key = trimmed(it->value());  // an empty one is no key
  }
  if (const auto it = request.find(http::field::authorization); it != request.end()) {
    const std::string_view value = trimmed(it->value());
    const auto space = value.find(' ');
    if (space != std::string_view::npos && iequals(value.substr(0, space), "Bearer")) {
      const std::string_view bearer = trimmed(value.substr(space + 1));
      out.two_keys = !header_key.empty() && bearer != header_key;
      out.key = bearer;
      return out;
    }
    out.other_scheme = header_key.empty();
  }
  out.key = header_key;
  return out;
}

// The methods usage records accept (UsageRecorder), as stored.
constexpr std::array<std::string_view, 9> kRecordedMethods{
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

std::string_view recordedMethod(std::string_view text) {
  for (const std::string_view method : kRecordedMethods) {
    if (iequals(method, text)) {
      return method;
    }
  }
  return {};
}

bool isIpAddress(std::string_view text) {
  if (text.empty() || text.size() > kMaxIpLength) {
    return false;
  }
  std::array<char, kMaxIpLength + 1> terminated{};
  std::copy(text.begin(), text.end(), terminated.begin());
  std::array<unsigned char, sizeof(in6_addr)> address{};
  return ::inet_pton(AF_INET, terminated.data(), address.data()) == 1 ||
         ::inet_pton(AF_INET6, terminated.data(), address.data()) == 1;
}

std::string_view headerOr(const Request& request, std::string_view name,
                          std::string_view otherwise = {}) {
  const auto it = request.find(name);
  return it != request.end() ? trimmed(it->value()) : otherwise;
}

// What a /v1/auth decision records as the request the proxy asked about (see README, "Usage
// from the edge"): every text checked here, so that the recorder has nothing to refuse.
RequestInput decisionRecord(const Request& request) {
  RequestInput in;
  // The endpoint: X-Original-URI (nginx), X-Forwarded-Uri (Traefik), or what follows
  // /v1/auth in the target (Envoy's path_prefix); the path alone: a query may carry secrets.
  std::string_view uri = headerOr(request, "X-Original-URI");
  if (uri.empty()) {
    uri = headerOr(request, "X-Forwarded-Uri");
  }
  if (uri.empty()) {
    const std::string_view target = request.target();
    constexpr std::string_view kAuth = "/v1/auth";
    if (target.starts_with(kAuth) && target.size() > kAuth.size() && target[kAuth.size()] == '/') {
      uri = target.substr(kAuth.size());
    }
  }
  uri = uri.substr(0, uri.find('?'));
  if (uri.empty()) {
    in.endpoint = "(unknown)";
  } else if (uri.size() > kMaxEndpointLength || !printableLength(uri)) {
    in.endpoint = "(invalid)";
  } else {
    in.endpoint = uri;
  }
  // The method: X-Original-Method (nginx), X-Forwarded-Method (Traefik), or the auth
  // request's own (Envoy sends the client's); GET when none is one usage accepts.
  std::string_view method = recordedMethod(headerOr(request, "X-Original-Method"));
  if (method.empty()) {
    method = recordedMethod(headerOr(request, "X-Forwarded-Method"));
  }
  if (method.empty()) {
    method = recordedMethod(request.method_string());
  }
  in.method = method.empty() ? std::string_view("GET") : method;
  // The client's address: X-Real-IP, else the first of X-Forwarded-For; none when neither is
  // an address.
  std::string_view ip = headerOr(request, "X-Real-IP");
  if (!isIpAddress(ip)) {
    const std::string_view forwarded = headerOr(request, "X-Forwarded-For");
    ip = trimmed(forwarded.substr(0, forwarded.find(',')));
  }
  in.ip_address = isIpAddress(ip) ? ip : std::string_view();
  in.user_agent = headerOr(request, "User-Agent");  // the recorder truncates and cleans it
  return in;
}

// One connection: wait for a request, read it (bounded in size and time), answer it, and
// again while the client keeps the connection alive.
// `response` as HTTP/1.x puts it on the wire (status line, fields in order, body), into `out`,
// whose memory is reused. One contiguous buffer, sent at once: Beast's serializer walks nested
// views of a buffer per field, which cost more instructions than the decision itself.
// REQUIRED: prepare_payload() was called (the length is a Content-Length field).
void toWire(const Response& response, std::string& out) {
  out.clear();
  out += response.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  const unsigned code = response.result_int();
  out += static_cast<char>('0' + code / 100 % 10);
  out += static_cast<char>('0' + code / 10 % 10);
  out += static_cast<char>('0' + code % 10);
  out += ' ';
  out += response.reason();
  out += "\r\n";
  for (const auto& field : response) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
  out += response.body();
}

class Connection : public std::enable_shared_from_this<Connection>, public IdleConnection {
 public:
  Connection(tcp::socket socket, HttpEdge::Impl& edge) : stream_(std::move(socket)), edge_(edge) {
    edge_.metrics().connections_open.fetch_add(1, std::memory_order_relaxed);
  }
  ~Connection() override {
    edge_.markBusy(*this);
    endRequest();
    edge_.metrics().connections_open.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->awaitRequest(std::chrono::milliseconds(self->edge_.settings().request_timeout_ms),
                         false);
    });
  }

  void closeEvicted() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

 private:
  std::chrono::milliseconds requestTimeout() const {
    return std::chrono::milliseconds(edge_.settings().request_timeout_ms);
  }

  // Waits up to `idle` for the first byte of the next request (one already read, pipelined,
  // starts it at once); from that byte on the whole request must arrive within the request
  // timeout, one deadline for header and body.
  // A kept-alive connection waits on the edge's idle list, from which a new connection at
  // httpMaxConnections may evict it.
  void awaitRequest(std::chrono::milliseconds idle, bool kept_alive) {
    if (buffer_.size() > 0) {
      readRequest();
      return;
    }
    if (kept_alive) {
      edge_.markIdle(shared_from_this());
    }
    stream_.expires_after(idle);
    stream_.async_read_some(buffer_.prepare(kHeaderLimit),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (!self->edge_.markBusy(*self) || ec) {
                                self->close();  // idle too long, or the client left
                                return;
                              }
                              self->buffer_.commit(n);
                              self->readRequest();
                            });
  }

  void readRequest() {
    beginRequest();  // a stop now waits for it
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(requestTimeout());
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec) {
      failed(ec);
      return;
    }
    const auto received = std::chrono::steady_clock::now();
    Request request = parser_->release();
    if (!edge_.decidesOnWorker(pathOf(request.target()))) {
      Response response = edge_.respond(request, received);
      send(request, response);
      return;
    }
    // The connection waits, with no read or write pending (so no timer of the stream's runs),
    // until the worker hands the answer back to its strand.
    edge_.onWorker(received, [self = shared_from_this(), request = std::move(request), received,
                              executor = stream_.get_executor()](bool waited_too_long) mutable {
      Response response = waited_too_long ? self->edge_.shed(request, received)
                                          : self->edge_.respond(request, received);
      asio::post(executor,
                 [self, request = std::move(request), response = std::move(response)]() mutable {
                   self->send(request, response);
                 });
    });
  }

  // Writes the answer to `request`, then waits for the next request or closes.
  void send(const Request& request, Response& response) {
    const bool keep_alive = request.keep_alive() && !edge_.stopping();
    response.keep_alive(keep_alive);
    response.prepare_payload();
    if (request.method() == http::verb::head) {
      response.body().clear();  // the header says how long the body would be; none follows
    }
    count(response);
    toWire(response, wire_);
    stream_.expires_after(requestTimeout());
    asio::async_write(
        stream_, asio::buffer(wire_),
        [self = shared_from_this(), keep_alive](beast::error_code write_ec, std::size_t) {
          self->endRequest();
          if (write_ec || !keep_alive) {
            self->close();
            return;
          }
          self->awaitRequest(std::chrono::milliseconds(self->edge_.settings().idle_timeout_ms),
                             true);
        });
  }

  void failed(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      respondAndClose(http::status::request_header_fields_too_large,
                      "Request Header Fields Too Large",
                      "the request's header is larger than 8 KiB");
    } else if (ec == http::error::body_limit) {
      respondAndClose(http::status::payload_too_large, "Content Too Large",
                      "the request's body is larger than 64 KiB");
    } else if (ec == http::error::bad_method || ec == http::error::bad_target ||
               ec == http::error::bad_version || ec == http::error::bad_field ||
               ec == http::error::bad_value || ec == http::error::bad_content_length ||
               ec == http::error::bad_transfer_encoding || ec == http::error::bad_line_ending ||
               ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension ||
               ec == http::error::bad_obs_fold) {
      respondAndClose(http::status::bad_request, "Bad Request",
                      "the request is not valid HTTP/1.1");
    } else {
      close();  // end of stream, a timeout, a reset: nothing to answer
    }
  }

  // Answers a request that was refused while it was read, then closes: the send side first,
  // then what the client still sends is read and dropped for a while (bounded), so that
  // closing with unread data (which resets the connection) does not destroy the answer
  // before the client reads it.
  void respondAndClose(http::status status, std::string_view title, std::string_view detail) {
    Request empty;
    empty.version(11);
    Response response = problem(empty, status, title, detail);
    response.keep_alive(false);
    response.prepare_payload();
    count(response);
    toWire(response, wire_);
    stream_.expires_after(requestTimeout());
    asio::async_write(stream_, asio::buffer(wire_),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->endRequest();
                        if (ec) {
                          self->close();
                          return;
                        }
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        self->stream_.expires_after(kLingerTime);
                        self->drain(kLingerBytes);
                      });
  }

  void drain(std::size_t budget) {
    buffer_.clear();
    stream_.async_read_some(
        buffer_.prepare(kHeaderLimit),
        [self = shared_from_this(), budget](beast::error_code ec, std::size_t n) {
          if (ec || n >= budget) {
            self->close();
            return;
          }
          self->drain(budget - n);
        });
  }

  void beginRequest() {
    if (!in_request_) {
      in_request_ = true;
      edge_.requestBegins();
    }
  }
  void endRequest() {
    if (in_request_) {
      in_request_ = false;
      edge_.requestEnds();
    }
  }

  void count(const Response& response) {
    const unsigned code = response.result_int();
    if (code >= 100 && code < 600) {
      edge_.metrics().responses[code / 100 - 1].fetch_add(1, std::memory_order_relaxed);
    }
  }

  void close() {
    endRequest();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  static constexpr std::chrono::milliseconds kLingerTime{500};
  static constexpr std::size_t kLingerBytes = 256 * 1024;

  beast::tcp_stream stream_;
  HttpEdge::Impl& edge_;
  // Room for a whole header and more, so that the parser's own header limit (answered 431)
  // is what stops a large one.
  beast::flat_buffer buffer_{2 * kHeaderLimit};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string wire_;         // the answer being written (toWire); its memory kept for the next one
  bool in_request_ = false;  // counted in the edge's requests in flight
};

}  // namespace

void HttpEdge::Impl::accept() {
  acceptor_.async_accept(asio::make_strand(pool_), [this](beast::error_code ec, tcp::socket s) {
    if (ec) {
      if (ec != asio::error::operation_aborted && !stopping()) {
        acceptLater(ec);
      }
      return;
    }
    // At the limit, the connection idle the longest makes room (it closes on its own strand
    // a moment later); with none idle, the new one is closed as it comes.
    if (metrics_.connections_open.load(std::memory_order_relaxed) >= settings_.max_connections &&
        !evictOldestIdle()) {
      metrics_.connections_refused.fetch_add(1, std::memory_order_relaxed);
      beast::error_code ignored;
      s.close(ignored);
    } else {
      std::make_shared<Connection>(std::move(s), *this)->start();
    }
    accept();
  });
}

// Accepting failed (out of descriptors, most likely): the connection waits in the backlog, so
// trying again at once would spin. A pause, and a warning now and then.
void HttpEdge::Impl::acceptLater(beast::error_code ec) {
  if (accept_failures_++ % 1000 == 0) {
    logger_.warn("http edge: accepting a connection failed; retrying in 100 ms",
                 {{"error", ec.message()}, {"failures", std::to_string(accept_failures_)}});
  }
  retry_timer_.expires_after(std::chrono::milliseconds(100));
  retry_timer_.async_wait([this](beast::error_code wait_ec) {
    if (!wait_ec && !stopping()) {
      accept();
    }
  });
}

Response HttpEdge::Impl::respond(const Request& request,
                                 std::chrono::steady_clock::time_point received) {
  try {
    return handle(request, received);
  } catch (const std::exception& e) {
    try {
      logger_.error("http edge: a request failed", {{"error", e.what()}});
    } catch (...) {
    }
  } catch (...) {
  }
  return problem(request, http::status::internal_server_error, "Internal Server Error",
                 "the request could not be answered; see the host's log");
}

Response HttpEdge::Impl::shed(const Request& request,
                              std::chrono::steady_clock::time_point received) {
  metrics_.shed.fetch_add(1, std::memory_order_relaxed);
  const std::string_view path = pathOf(request.target());
  if (isAuthPath(path) || path == "/v1/keys/verify") {
    metrics_.decisions[outcomeIndex("shed")].fetch_add(1, std::memory_order_relaxed);
    metrics_.observe(std::chrono::steady_clock::now() - received);
  }
  Response r = problem(request, http::status::service_unavailable, "Service Unavailable",
                       "the request waited longer than httpRequestTimeout for a worker to ask "
                       "the database; the database answers more slowly than requests come");
  r.set(http::field::retry_after, "1");
  r.set(http::field::cache_control, "no-store");
  return r;
}

Response HttpEdge::Impl::handle(const Request& request,
                                std::chrono::steady_clock::time_point received) {
  const std::string_view path = pathOf(request.target());
  if (isAuthPath(path)) {
    return authorize(request, received);
  }
  if (path == "/v1/usage") {
    return usage(request);
  }
  if (path == "/healthz") {
    return healthz(request);
  }
  if (path == "/metrics") {
    return metrics(request);
  }
  if (path == "/v1/keys/verify") {
    return verify(request, received);
  }
  return problem(request, http::status::not_found, "Not Found",
                 "no such endpoint; this edge answers /v1/auth, /v1/keys/verify, /v1/usage, "
                 "/healthz and /metrics");
}

Response HttpEdge::Impl::authorize(const Request& request,
                                   std::chrono::steady_clock::time_point received) {
  const auto started = received;           // a wait for a worker is part of the decision's latency
  std::shared_ptr<const KeyRecord> known;  // the key, once the decision found it
  const auto finish = [&](Response r, std::string_view outcome) {
    const auto took = std::chrono::steady_clock::now() - started;
    metrics_.decisions[outcomeIndex(outcome)].fetch_add(1, std::memory_order_relaxed);
    metrics_.observe(took);
    r.set(http::field::cache_control, "no-store");
    if (known != nullptr && settings_.record_usage) {
      recordDecision(request, known->id, r.result_int(), took);
    }
    return r;
  };
  const auto unauthorized = [&](std::string_view outcome, std::string_view detail) {
    Response r = problem(request, http::status::unauthorized, "Unauthorized", detail);
    r.set(http::field::www_authenticate, outcome == "missing"
                                             ? R"(Bearer realm="api")"
                                             : R"(Bearer realm="api", error="invalid_token")");
    return finish(std::move(r), outcome);
  };
  const PresentedKey presented = presentedKey(request);
  if (presented.other_scheme) {
    return unauthorized("missing",
                        "Authorization carries no Bearer key: send Authorization: Bearer <key> "
                        "or X-API-Key");
  }
  if (presented.two_keys) {
    return finish(problem(request, http::status::bad_request, "Bad Request",
                          "Authorization and X-API-Key carry two different keys; send one"),
                  "malformed");
  }
  const std::string_view key = presented.key;
  if (key.empty()) {
    return unauthorized("missing", "no API key: send Authorization: Bearer <key> or X-API-Key");
  }
  std::int64_t cost = 1;
  if (const auto it = request.find("X-Api-Cost"); it != request.end()) {
    const std::string_view text = trimmed(it->value());
    std::int64_t parsed = 0;
    bool ok = !text.empty() && text.size() <= 10;
    for (const char c : text) {
      ok = ok && c >= '0' && c <= '9';
      parsed = ok ? parsed * 10 + (c - '0') : 0;
    }
    if (!ok || parsed < 1 || parsed > kMaxCost) {
      return finish(problem(request, http::status::bad_request, "Bad Request",
                            "X-Api-Cost must be a whole number 1..1000000000, got \"" +
                                printableTruncated(text, 32) + "\""),
                    "malformed");
    }
    cost = parsed;
  }
  std::vector<std::string> scopes;
  if (const auto it = request.find("X-Api-Scopes"); it != request.end()) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      const auto end = rest.find_first_of(", ");
      const std::string_view scope = rest.substr(0, end);
      if (!scope.empty()) {
        scopes.emplace_back(scope);
      }
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
  }
  const AuthorizeResult a = services_.limits.authorize(key, cost, scopes);
  const std::string_view reason = a.reason;
  known = a.key;
  if (reason == "internal_error" || a.limit.failed_open) {
    metrics_.store_errors.fetch_add(1, std::memory_order_relaxed);
  }
  const auto rateLimitFields = [&](Response& r) {
    if (a.limit.limit <= 0) {
      return;
    }
    const std::int64_t window_s = ceilSeconds(services_.settings.rate_limit_window_ms);
    r.set("RateLimit-Policy",
          "\"default\";q=" + std::to_string(a.limit.limit) + ";w=" + std::to_string(window_s));
    const std::int64_t until_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      a.limit.reset_at - services_.clock.now())
                                      .count();
    r.set("RateLimit", "\"default\";r=" + std::to_string(a.limit.remaining) +
                           ";t=" + std::to_string(ceilSeconds(until_ms)));
  };
  if (a.allowed) {
    Response r{http::status::ok, request.version()};
    r.set("X-Api-Key-Id", a.key->id);
    r.set("X-Api-User", printableTruncated(a.key->user_id, 256));
    std::string joined;
    for (const std::string& s : a.key->scopes) {
      joined += (joined.empty() ? "" : ",") + s;
    }
    r.set("X-Api-Key-Scopes", printableTruncated(joined, 2048));
    rateLimitFields(r);
    return finish(std::move(r), "ok");
  }
  if (reason == "malformed" || reason == "not_found" || reason == "revoked" ||
      reason == "expired") {
    const std::string detail = reason == "malformed"   ? "the key is malformed"
                               : reason == "not_found" ? "no such key"
                               : reason == "revoked"   ? "the key is revoked"
                                                       : "the key has expired";
    return unauthorized(reason, detail);
  }
  if (reason == "insufficient_scope") {
    Response r = problem(request, http::status::forbidden, "Forbidden",
                         "the key lacks a scope this request requires");
    r.set(http::field::www_authenticate, R"(Bearer realm="api", error="insufficient_scope")");
    return finish(std::move(r), reason);
  }
  if (reason == "over_limit" || reason == "cost_exceeds_limit") {
    Response r =
        problem(request, http::status::too_many_requests, "Too Many Requests",
                reason == "over_limit"
                    ? "the key's rate limit is reached"
                    : "the request costs more than the key's whole limit: it can never pass");
    if (a.limit.retry_after) {
      r.set(http::field::retry_after, std::to_string(ceilSeconds(a.limit.retry_after->count())));
    }
    rateLimitFields(r);
    return finish(std::move(r), reason);
  }
  return finish(problem(request, http::status::service_unavailable, "Service Unavailable",
                        "the rate limiter's store failed; try again"),
                "internal_error");
}

// POST /v1/keys/verify, for clients that are not proxies: {"key", "cost"?, "scopes"?} in, the
// decision as JSON out (200 whatever it is; 400 for a body that is not that object).
Response HttpEdge::Impl::verify(const Request& request,
                                std::chrono::steady_clock::time_point received) {
  const auto started = received;
  if (request.method() != http::verb::post) {
    Response r = problem(request, http::status::method_not_allowed, "Method Not Allowed",
                         "send the key in a POST body: {\"key\": \"...\"}");
    r.set(http::field::allow, "POST");
    return r;
  }
  const auto bad = [&](std::string_view detail) {
    return problem(request, http::status::bad_request, "Bad Request", detail);
  };
  boost::json::error_code ec;
  const boost::json::value body = boost::json::parse(request.body(), ec);
  if (ec || !body.is_object()) {
    return bad(
        "the body must be a JSON object: {\"key\": \"...\", \"cost\": 1, "
        "\"scopes\": [\"...\"]}");
  }
  const boost::json::object& o = body.as_object();
  for (const auto& [name, value] : o) {
    if (name != "key" && name != "cost" && name != "scopes") {
      return bad("unknown field \"" + printableTruncated(name, 32) +
                 "\"; accepted: key, cost, scopes");
    }
  }
  const auto key_it = o.find("key");
  if (key_it == o.end() || !key_it->value().is_string()) {
    return bad("\"key\" must be a string");
  }
  std::int64_t cost = 1;
  if (const auto it = o.find("cost"); it != o.end()) {
    if (!it->value().is_int64() || it->value().as_int64() < 1 ||
        it->value().as_int64() > kMaxCost) {
      return bad("\"cost\" must be a whole number 1..1000000000");
    }
    cost = it->value().as_int64();
  }
  std::vector<std::string> scopes;
  if (const auto it = o.find("scopes"); it != o.end()) {
    if (!it->value().is_array()) {
      return bad("\"scopes\" must be an array of strings");
    }
    for (const boost::json::value& s : it->value().as_array()) {
      if (!s.is_string()) {
        return bad("\"scopes\" must be an array of strings");
      }
      scopes.emplace_back(s.as_string());
    }
  }
  const AuthorizeResult a = services_.limits.authorize(key_it->value().as_string(), cost, scopes);
  if (std::string_view(a.reason) == "internal_error" || a.limit.failed_open) {
    metrics_.store_errors.fetch_add(1, std::memory_order_relaxed);
  }
  metrics_.decisions[outcomeIndex(a.reason)].fetch_add(1, std::memory_order_relaxed);
  metrics_.observe(std::chrono::steady_clock::now() - started);
  boost::json::object out;
  out["allowed"] = a.allowed;
  out["reason"] = a.reason;
  if (a.key) {
    out["key_id"] = a.key->id;
    out["user_id"] = a.key->user_id;
    boost::json::array held;
    for (const std::string& s : a.key->scopes) {
      held.emplace_back(s);
    }
    out["scopes"] = std::move(held);
  }
  if (a.limit.limit > 0) {
    boost::json::object limit;
    limit["limit"] = a.limit.limit;
    limit["remaining"] = a.limit.remaining;
    limit["reset_at"] = formatIsoUtc(a.limit.reset_at);
    if (a.limit.retry_after) {
      limit["retry_after_ms"] = a.limit.retry_after->count();
    }
    out["rate_limit"] = std::move(limit);
  }
  Response r{http::status::ok, request.version()};
  r.set(http::field::content_type, "application/json");
  r.set(http::field::cache_control, "no-store");
  r.body() = boost::json::serialize(out);
  return r;
}

void HttpEdge::Impl::recordDecision(const Request& request, std::string_view key_id,
                                    unsigned status, std::chrono::nanoseconds took) noexcept {
  try {
    RequestInput in = decisionRecord(request);
    in.status_code = static_cast<int>(status);
    in.response_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    services_.recorder.record(key_id, in);  // a full queue drops it, counted by the recorder
  } catch (const std::exception& e) {
    // The key's id was just read from the store, and every field was checked: only a store
    // failure in the recorder's own lookup lands here. The answer stands.
    if (record_failures_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
      try {
        logger_.warn("http edge: an auth decision could not be recorded as a request",
                     {{"key_id", std::string(key_id)}, {"error", e.what()}});
      } catch (...) {
      }
    }
  } catch (...) {
  }
}

// POST /v1/usage: completed requests from a proxy's log shipper, one JSON object a line,
// recorded all or none (see README, "Usage from the edge").
Response HttpEdge::Impl::usage(const Request& request) {
  if (request.method() != http::verb::post) {
    Response r = problem(request, http::status::method_not_allowed, "Method Not Allowed",
                         "send the records in a POST body, one JSON object a line");
    r.set(http::field::allow, "POST");
    return r;
  }
  // The shipper: a valid key holding kUsageScope; nothing of the body is read before.
  const PresentedKey presented = presentedKey(request);
  if (presented.two_keys) {
    return problem(request, http::status::bad_request, "Bad Request",
                   "Authorization and X-API-Key carry two different keys; send one");
  }
  if (presented.key.empty()) {
    Response r = problem(request, http::status::unauthorized, "Unauthorized",
                         "no API key: POST /v1/usage needs a key holding the scope "
                         "\"usage:write\", as Authorization: Bearer <key> or X-API-Key");
    r.set(http::field::www_authenticate, R"(Bearer realm="api")");
    return r;
  }
  const KeyValidation shipper = services_.keys.validateKey(presented.key);
  if (!shipper.valid) {
    if (shipper.reason == KeyRejection::kInternalError) {
      metrics_.store_errors.fetch_add(1, std::memory_order_relaxed);
      return problem(request, http::status::service_unavailable, "Service Unavailable",
                     "the key could not be checked: the store failed; try again");
    }
    Response r =
        problem(request, http::status::unauthorized, "Unauthorized",
                std::string("the shipper's key is refused: ") + keyRejectionName(shipper.reason));
    r.set(http::field::www_authenticate, R"(Bearer realm="api", error="invalid_token")");
    return r;
  }
  const auto& held = shipper.key->scopes;
  if (std::find(held.begin(), held.end(), kUsageScope) == held.end()) {
    Response r = problem(request, http::status::forbidden, "Forbidden",
                         "the key lacks the scope \"usage:write\" that POST /v1/usage requires");
    r.set(http::field::www_authenticate, R"(Bearer realm="api", error="insufficient_scope")");
    return r;
  }
  const auto bad = [&](std::size_t line, const std::string& detail) {
    return problem(request, http::status::bad_request, "Bad Request",
                   "line " + std::to_string(line) + ": " + detail + "; nothing was recorded");
  };
  // Every line parsed first (the values hold the texts the entries point into), then every
  // record checked, then all queued at once. Each line's time is checked against one reading
  // of the clock.
  const TimePoint now = services_.clock.now();
  const UsageRecorder::TimeRange accepted = services_.recorder.completionTimes(now);
  const std::string_view body = request.body();
  std::vector<std::pair<std::size_t, std::string_view>> lines;  // number, text
  for (std::size_t at = 0, number = 1; at < body.size(); ++number) {
    const std::size_t end = std::min(body.find('\n', at), body.size());
    std::string_view text = body.substr(at, end - at);
    if (!text.empty() && text.back() == '\r') {
      text.remove_suffix(1);
    }
    if (!trimmed(text).empty()) {
      lines.emplace_back(number, text);
    }
    at = end + 1;
  }
  std::vector<boost::json::value> values;
  values.reserve(lines.size());  // never reallocated: the entries point into its strings
  std::vector<UsageRecorder::RecordEntry> entries;
  entries.reserve(lines.size());
  for (const auto& [number, text] : lines) {
    boost::json::error_code ec;
    values.push_back(boost::json::parse(text, ec));
    if (ec || !values.back().is_object()) {
      return bad(number, "not a JSON object (" + (ec ? ec.message() : "another JSON value") +
                             "); each line is one record: " + std::string(kUsageLineExample));
    }
    const boost::json::object& o = values.back().as_object();
    for (const auto& [name, value] : o) {
      if (std::find(kUsageFields.begin(), kUsageFields.end(), std::string_view(name)) ==
          kUsageFields.end()) {
        return bad(number, "unknown field \"" + printableTruncated(name, 32) +
                               "\"; accepted: key_id, endpoint, method, status_code, "
                               "response_time_ms, ip_address, user_agent, timestamp");
      }
    }
    UsageRecorder::RecordEntry entry;
    std::string missing;
    const auto text_field = [&](std::string_view name, bool required) -> std::string_view {
      const auto it = o.find(name);
      if (it == o.end()) {
        if (required && missing.empty()) {
          missing = "field \"" + std::string(name) + "\" is required (a string)";
        }
        return {};
      }
      if (!it->value().is_string()) {
        if (missing.empty()) {
          missing = "field \"" + std::string(name) + "\" must be a string, got " +
                    printableTruncated(boost::json::serialize(it->value()), 32);
        }
        return {};
      }
      return it->value().as_string();
    };
    const auto integer_field = [&](std::string_view name, std::int64_t min,
                                   std::int64_t max) -> std::int64_t {
      const auto it = o.find(name);
      if (it != o.end() && it->value().is_int64() && it->value().as_int64() >= min &&
          it->value().as_int64() <= max) {
        return it->value().as_int64();
      }
      if (missing.empty()) {
        missing = "field \"" + std::string(name) + "\" must be a whole number " +
                  std::to_string(min) + ".." + std::to_string(max) + ", got " +
                  (it == o.end() ? std::string("nothing")
                                 : printableTruncated(boost::json::serialize(it->value()), 32));
      }
      return 0;
    };
    entry.key_id = text_field("key_id", true);
    entry.input.endpoint = text_field("endpoint", true);
    entry.input.method = text_field("method", true);
    entry.input.status_code = static_cast<int>(integer_field("status_code", 100, 599));
    entry.input.response_time_ms = integer_field("response_time_ms", 0, kMaxResponseTimeMs);
    entry.input.ip_address = text_field("ip_address", false);
    entry.input.user_agent = text_field("user_agent", false);
    if (const auto it = o.find("timestamp"); it != o.end()) {
      const auto given = [&] {
        return printableTruncated(boost::json::serialize(it->value()), 40);
      };
      entry.completed_at =
          it->value().is_string() ? parseIsoUtc(it->value().as_string()) : std::nullopt;
      if (!entry.completed_at && missing.empty()) {
        missing =
            "field \"timestamp\" must be a time as text: YYYY-MM-DDTHH:MM:SS[.fff] then Z, an "
            "offset (+02:00) or nothing (UTC), e.g. \"2026-11-25T12:30:00.000Z\", got " +
            given();
      } else if (entry.completed_at &&
                 (*entry.completed_at < accepted.earliest ||
                  *entry.completed_at > accepted.latest) &&
                 missing.empty()) {
        missing = "field \"timestamp\" must be a time from " + formatIsoUtc(accepted.earliest) +
                  " to " + formatIsoUtc(accepted.latest) + ", " +
                  UsageRecorder::describeCompletionTimes(accepted, now) + ", got " + given();
      }
    }
    if (!missing.empty()) {
      return bad(number, missing);
    }
    try {
      services_.recorder.check(entry.key_id, entry.input);
    } catch (const InvalidInput& e) {
      return bad(number, e.what());
    } catch (const std::exception&) {  // the store failed looking the key id up
      metrics_.store_errors.fetch_add(1, std::memory_order_relaxed);
      return problem(request, http::status::service_unavailable, "Service Unavailable",
                     "line " + std::to_string(number) +
                         ": its key id could not be looked up: the store failed; nothing was "
                         "recorded, try again");
    }
    entries.push_back(entry);
  }
  bool queued = false;
  try {
    queued = services_.recorder.recordAll(entries);
  } catch (const InvalidInput& e) {
    // The recorder reads the clock again: a timestamp within milliseconds of the oldest
    // accepted, checked above, may have aged out of the range since.
    return problem(request, http::status::bad_request, "Bad Request",
                   std::string(e.what()) + "; nothing was recorded");
  }
  if (!queued) {
    Response r = problem(request, http::status::service_unavailable, "Service Unavailable",
                         "the usage queue cannot take " + std::to_string(entries.size()) +
                             " more records now; nothing was recorded: send them again");
    r.set(http::field::retry_after, "1");
    return r;
  }
  boost::json::object out;
  out["recorded"] = entries.size();
  Response r{http::status::ok, request.version()};
  r.set(http::field::content_type, "application/json");
  r.set(http::field::cache_control, "no-store");
  r.body() = boost::json::serialize(out);
  return r;
}

Response HttpEdge::Impl::healthz(const Request& request) {
  sp_health health{};
  health.size = sizeof(health);
  services_.health(health);
  Response r{health.healthy != 0 ? http::status::ok : http::status::service_unavailable,
             request.version()};
  r.set(http::field::content_type, "application/json");
  r.set(http::field::cache_control, "no-store");
  boost::json::object body;
  body["healthy"] = health.healthy != 0;
  body["detail"] = std::string(health.detail, strnlen(health.detail, sizeof(health.detail)));
  r.body() = boost::json::serialize(body);
  return r;
}

Response HttpEdge::Impl::metrics(const Request& request) {
  std::string out;
  const auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  metric("api_auth_decisions_total", "counter", "Decisions of /v1/auth, by outcome.");
  for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
    out += "api_auth_decisions_total{outcome=\"" + std::string(kOutcomes[i]) + "\"} " +
           std::to_string(metrics_.decisions[i].load(std::memory_order_relaxed)) + "\n";
  }
  metric("api_auth_duration_seconds", "histogram",
         "Time /v1/auth took to decide, from its headers to its answer.");
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    char le[32];
    std::snprintf(le, sizeof(le), "%g", kLatencyBuckets[i]);
    out += "api_auth_duration_seconds_bucket{le=\"" + std::string(le) + "\"} " +
           std::to_string(metrics_.latency_buckets[i].load()) + "\n";
  }
  const std::uint64_t count = metrics_.latency_count.load();
  out += "api_auth_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  char sum[64];
  std::snprintf(sum, sizeof(sum), "%.9f",
                static_cast<double>(metrics_.latency_sum_ns.load(std::memory_order_relaxed)) / 1e9);
  out += "api_auth_duration_seconds_sum " + std::string(sum) + "\n";
  out += "api_auth_duration_seconds_count " + std::to_string(count) + "\n";
  metric("api_http_responses_total", "counter", "HTTP responses of the edge, by status class.");
  for (std::size_t i = 0; i < metrics_.responses.size(); ++i) {
    out += "api_http_responses_total{class=\"" + std::to_string(i + 1) + "xx\"} " +
           std::to_string(metrics_.responses[i].load(std::memory_order_relaxed)) + "\n";
  }
  metric("api_http_connections_open", "gauge", "Connections the edge has open.");
  out += "api_http_connections_open " +
         std::to_string(metrics_.connections_open.load(std::memory_order_relaxed)) + "\n";
  metric("api_http_connections_refused_total", "counter",
         "Connections closed as they came, httpMaxConnections being open.");
  out += "api_http_connections_refused_total " +
         std::to_string(metrics_.connections_refused.load(std::memory_order_relaxed)) + "\n";
  metric("api_http_connections_evicted_total", "counter",
         "Idle kept-alive connections closed to make room, httpMaxConnections being open.");
  out += "api_http_connections_evicted_total " +
         std::to_string(metrics_.connections_evicted.load(std::memory_order_relaxed)) + "\n";
  if (workers_ != nullptr) {
    metric("api_http_requests_waiting", "gauge",
           "Requests waiting for a worker to ask the database (PostgreSQL, or rate limits in "
           "the database).");
    out += "api_http_requests_waiting " +
           std::to_string(metrics_.waiting_for_worker.load(std::memory_order_relaxed)) + "\n";
    metric("api_http_workers", "gauge", "Workers that ask the database for the edge.");
    out += "api_http_workers " + std::to_string(settings_.decision_workers) + "\n";
    metric("api_http_workers_busy", "gauge", "Workers deciding a request now.");
    out += "api_http_workers_busy " +
           std::to_string(metrics_.workers_busy.load(std::memory_order_relaxed)) + "\n";
    metric("api_http_requests_shed_total", "counter",
           "Requests answered 503 unasked, having waited longer than httpRequestTimeout for a "
           "worker.");
    out += "api_http_requests_shed_total " +
           std::to_string(metrics_.shed.load(std::memory_order_relaxed)) + "\n";
  }
  metric("api_store_errors_total", "counter",
         "Store failures, by path: an edge decision (answered 503, or admitted by failOpen), "
         "or a failed attempt to write a batch of request records (retried or lost).");
  out += "api_store_errors_total{path=\"auth\"} " +
         std::to_string(metrics_.store_errors.load(std::memory_order_relaxed)) + "\n";
  out += "api_store_errors_total{path=\"usage_write\"} " +
         std::to_string(services_.recorder.failedWrites()) + "\n";
  if (services_.rate_limit_slots) {
    if (const std::optional<SlotUse> slots = services_.rate_limit_slots()) {
      metric("api_rate_limit_slots_in_use", "gauge",
             "Slots of the shared rate-limit segment holding a key (every process's).");
      out += "api_rate_limit_slots_in_use " + std::to_string(slots->in_use) + "\n";
      metric("api_rate_limit_slots", "gauge", "Slots the shared rate-limit segment has.");
      out += "api_rate_limit_slots " + std::to_string(slots->slots) + "\n";
    }
  }
  metric("api_rate_limit_failed_open_total", "counter",
         "Decisions of this process admitted only because the store failed (failOpen).");
  out +=
      "api_rate_limit_failed_open_total " + std::to_string(services_.limits.failOpenCount()) + "\n";
  metric("api_usage_records_queued", "gauge",
         "Request records of this process waiting for the writer.");
  out += "api_usage_records_queued " + std::to_string(services_.recorder.waitingRecords()) + "\n";
  metric("api_usage_records_queued_total", "counter",
         "Request records this process queued for the writer.");
  out +=
      "api_usage_records_queued_total " + std::to_string(services_.recorder.queuedTotal()) + "\n";
  metric("api_usage_records_written_total", "counter",
         "Request records this process wrote to the store.");
  out += "api_usage_records_written_total " + std::to_string(services_.recorder.writtenRecords()) +
         "\n";
  metric("api_usage_records_dropped_total", "counter",
         "Request records this process dropped, its queue being full.");
  out += "api_usage_records_dropped_total " + std::to_string(services_.recorder.droppedRecords()) +
         "\n";
  metric("api_usage_records_lost_total", "counter",
         "Request records this process lost to write errors.");
  out +=
      "api_usage_records_lost_total " + std::to_string(services_.recorder.failedRecords()) + "\n";
  Response r{http::status::ok, request.version()};
  r.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  r.set(http::field::cache_control, "no-store");
  r.body() = std::move(out);
  return r;
}

HttpEdge::HttpEdge(const HttpSettings& settings, const Services& services, const HostLogger& logger)
    : impl_(std::make_unique<Impl>(settings, services, logger)) {}

HttpEdge::~HttpEdge() {
  stop(std::chrono::milliseconds(1'000));
}

std::uint16_t HttpEdge::port() const {
  return impl_->port();
}

void HttpEdge::stop(std::chrono::milliseconds deadline) {
  impl_->stop(deadline);
}

}  // namespace api
