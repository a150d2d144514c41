#include "domain/random.hpp"

#include <openssl/rand.h>

#include <climits>
#include <stdexcept>

namespace api {

void SystemRandom::fill(unsigned char* out, size_t length) {
  while (length > 0) {  // RAND_bytes takes an int
    const int chunk = length > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(length);
    if (RAND_bytes(out, chunk) != 1) {
      throw std::runtime_error("the system's secure random generator failed; no key was made");
    }
    out += chunk;
    length -= static_cast<size_t>(chunk);
  }
}

RandomSource& systemRandom() {
  static SystemRandom source;  // stateless: nothing to construct or destroy in any order
  return source;
}

}  // namespace api
