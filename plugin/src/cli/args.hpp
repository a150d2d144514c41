// Typed access to a command's arguments, which the host passes as a JSON object.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace api {

class CommandArgs {
 public:
  // Throws std::invalid_argument when `json` is not a JSON object.
  explicit CommandArgs(std::string_view json);

  std::optional<std::string> string(const std::string& name) const;
  // A whole number; throws InvalidInput naming the option when the value has a fraction.
  std::optional<std::int64_t> integer(const std::string& name, std::string_view shown_as) const;
  bool flag(const std::string& name) const;

 private:
  std::map<std::string, std::variant<std::string, std::int64_t, double, bool>, std::less<>> values_;
};

}  // namespace api
