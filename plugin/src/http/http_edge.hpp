// HttpEdge: the HTTP adapter `prompt serve` runs when config `httpListen` is set, so that a
// reverse proxy (nginx auth_request, Envoy ext_authz in HTTP mode, Traefik forwardAuth) can
// put this module's keys and limits in front of any service.
//
//   /v1/auth, /v1/auth/<path>  (any method)  the key from `Authorization: Bearer` or
//                           `X-API-Key`, optional `X-Api-Cost` and `X-Api-Scopes`: 200 with the
//                           key's identity and the IETF RateLimit fields, 401, 403, 429 with
//                           Retry-After, 503. A decision about a known key is recorded as the
//                           proxy's request (X-Original-URI/-Method, X-Forwarded-Uri/-Method,
//                           or the path after /v1/auth) when HttpSettings::record_usage is set
//   /v1/keys/verify (POST)  the same decision as JSON
//   /v1/usage  (POST)       completed requests as JSON lines, from a key holding
//                           "usage:write"; recorded all or none, each at its own time (within
//                           requestRetention back and kMaxClockSkew ahead) or else now
//   /healthz  (GET, HEAD)   200 or 503 from the module's health
//   /metrics  (GET)         the Prometheus text format; no per-key or per-user label
//
// Boost.Beast, asynchronous on its own I/O threads; every connection bounded (header 8 KiB,
// body 64 KiB, refused before any work; a request must arrive whole within the request
// timeout, a kept-alive connection waits at most the idle timeout; at max_connections open,
// the connection idle the longest is closed for a new one, or the new one when none is idle).
// With HttpSettings::decision_workers, what may wait on the database (/v1/auth, /v1/keys/verify,
// /v1/usage, /healthz) is decided on that many workers instead, so that a stalled database never
// holds the I/O threads; a request that waited longer than the request timeout for one is answered
// 503. The key is never logged and never echoed. Everything Beast stays in the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "config/settings.hpp"
#include "log/host_logger.hpp"
#include "services/services.hpp"

namespace api {

class HttpEdge {
 public:
  // Binds and starts listening at once. REQUIRED: `services` and `logger` outlive the edge.
  // Throws std::runtime_error naming the address when it cannot listen.
  HttpEdge(const HttpSettings& settings, const Services& services, const HostLogger& logger);
  // stop() with a short deadline when not stopped yet.
  ~HttpEdge();
  HttpEdge(const HttpEdge&) = delete;
  HttpEdge& operator=(const HttpEdge&) = delete;

  // The port it listens on (the one the system chose when the settings said 0).
  std::uint16_t port() const;

  // Stops accepting, lets the requests in flight finish within `deadline`, then closes every
  // connection and joins the threads. Idempotent. A decision a worker has begun is waited for
  // even past the deadline: the database's own timeout (databaseTimeout, busyTimeout) bounds
  // it.
  void stop(std::chrono::milliseconds deadline);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace api
