// What every fuzz target shares: the libFuzzer entry point's declaration, a property check
// that stops the run hard, and a way to cut an input into parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size);

namespace fuzz {

[[noreturn]] inline void failCheck(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", file, line, condition);
  std::fflush(stderr);
  std::abort();
}

// The input as text (any bytes, not necessarily UTF-8).
inline std::string_view asText(const std::uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Reads an input from the front: one byte at a time, then parts separated by a byte value.
class Reader {
 public:
  explicit Reader(std::string_view input) : rest_(input) {}

  // The next byte, or 0 when the input is used up.
  std::uint8_t byte() {
    if (rest_.empty()) {
      return 0;
    }
    const auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  // Up to the next `separator` (which is consumed), or everything left.
  std::string_view part(char separator) {
    const size_t at = rest_.find(separator);
    const std::string_view out = rest_.substr(0, at);
    rest_.remove_prefix(at == std::string_view::npos ? rest_.size() : at + 1);
    return out;
  }
  std::string_view rest() const { return rest_; }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace fuzz

// A property the code under test promised: abort (which libFuzzer reports as a crash, and
// the replay test as a failure) when it does not hold.
#define FUZZ_CHECK(condition) \
  ((condition) ? static_cast<void>(0) : ::fuzz::failCheck(#condition, __FILE__, __LINE__))
