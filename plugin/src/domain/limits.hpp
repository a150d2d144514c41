// The bounds of a rate limit and of a request's cost, shared by config, CLI and services,
// the one check of them, and the shape of the sliding window.
#pragma once

#include <cstdint>
#include <string_view>

namespace api {

// The largest per-key limit anywhere (and the largest cost of one request).
inline constexpr std::int64_t kMaxRateLimit = 1'000'000'000;

// Throws InvalidInput unless 1 <= value <= kMaxRateLimit, naming `what` (e.g. "rate
// limit") and the value, e.g. "rate limit 0 is out of range: use 1..1000000000 requests per
// window". `unit` follows the range in the message (may be empty).
void checkLimitRange(std::int64_t value, std::string_view what, std::string_view unit);

// The window's policy: its length and how many sub-windows it is divided into.
// REQUIRED: window_ms >= 1, 1 <= sub_windows <= window_ms, and sub_windows divides window_ms
// (settings refuse anything else at load).
struct WindowShape {
  std::int64_t window_ms = 0;
  std::int64_t sub_windows = 1;

  // S: the one place the sub-window length is computed.
  constexpr std::int64_t subWindowMs() const { return window_ms / sub_windows; }
};

// A key's limit: "requests per window".
inline void checkRateLimit(std::int64_t limit) {
  checkLimitRange(limit, "rate limit", "requests per window");
}
// A request's cost.
inline void checkCost(std::int64_t cost) {
  checkLimitRange(cost, "request cost", "");
}

}  // namespace api
