// A deterministic RandomSource for tests: the same seed gives the same bytes (splitmix64).
// Kept out of the module on purpose: nothing shipped can be handed predictable key bytes.
#pragma once

#include <cstdint>
#include <mutex>

#include "domain/random.hpp"

namespace testing_support {

class SeededRandom final : public api::RandomSource {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}

  void fill(unsigned char* out, size_t length) override {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < length; ++i) {
      if (i % 8 == 0) {
        word_ = next();
      }
      out[i] = static_cast<unsigned char>(word_ >> (8 * (i % 8)));
    }
  }

 private:
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  std::mutex mutex_;
  std::uint64_t state_;
  std::uint64_t word_ = 0;
};

}  // namespace testing_support
