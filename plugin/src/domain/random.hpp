// Randomness as a dependency: key secrets and key ids are drawn from a RandomSource handed in,
// so tests can use a deterministic one. An implementation must provide: fill() writing
// exactly `length` bytes or throwing (never a partial or weak fill), and thread safety.
#pragma once

#include <cstddef>

namespace api {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Writes `length` random bytes to `out`. Throws std::runtime_error when the source fails,
  // so that no key is made from weak bytes. Thread-safe.
  virtual void fill(unsigned char* out, size_t length) = 0;
};

// OpenSSL's CSPRNG (RAND_bytes). Stateless.
class SystemRandom final : public RandomSource {
 public:
  void fill(unsigned char* out, size_t length) override;
};

// The process's SystemRandom: what production code uses unless handed another source.
RandomSource& systemRandom();

}  // namespace api
