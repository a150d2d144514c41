#include "domain/limits.hpp"

#include <string>

#include "domain/errors.hpp"

namespace api {

void checkLimitRange(std::int64_t value, std::string_view what, std::string_view unit) {
  if (value < 1 || value > kMaxRateLimit) {
    throw InvalidInput(std::string(what) + " " + std::to_string(value) +
                       " is out of range: use 1.." + std::to_string(kMaxRateLimit) +
                       (unit.empty() ? "" : " " + std::string(unit)));
  }
}

}  // namespace api
