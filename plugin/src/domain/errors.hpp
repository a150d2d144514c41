// Failures a service reports to its callers. Being over a limit, an unknown or a revoked key
// during validation are results, not errors; these are for operations that cannot proceed.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace api {

// Bad input from the caller: names the field, the value (never a secret) and what is
// accepted. Nothing was changed. The CLI exits 2.
class InvalidInput : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The object named does not exist. Nothing was changed.
class NotFound : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The object is in a state that forbids the operation (e.g. already revoked), or a limit
// such as maxKeysPerUser stands in the way. Nothing was changed.
class Conflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A value the caller gave where a key id was expected, quoted for a message. It is echoed in
// full only when it looks like a key id (key_ and hex) or is too short to be a key; anything
// else may be a secret pasted in the wrong place, so only its first 8 characters are shown.
std::string quotedId(std::string_view value);

// Whether `value` has the shape of a key id: "key_" and 16 lowercase hex digits.
bool looksLikeKeyId(std::string_view value);

}  // namespace api
