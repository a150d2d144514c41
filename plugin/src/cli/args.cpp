#include "cli/args.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdio>
#include <stdexcept>

#include "domain/errors.hpp"

namespace api {

CommandArgs::CommandArgs(std::string_view json) {
  boost::json::error_code ec;
  const boost::json::value root = boost::json::parse(json, ec);
  if (ec || !root.is_object()) {
    throw std::invalid_argument("command arguments are not a JSON object");
  }
  for (const auto& [key, value] : root.as_object()) {
    const std::string name(key);
    if (value.is_string()) {
      values_[name] = std::string(value.as_string());
    } else if (value.is_int64()) {
      values_[name] = value.as_int64();
    } else if (value.is_uint64()) {
      values_[name] = static_cast<double>(value.as_uint64());
    } else if (value.is_double()) {
      values_[name] = value.as_double();
    } else if (value.is_bool()) {
      values_[name] = value.as_bool();
    }
  }
}

std::optional<std::string> CommandArgs::string(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) {
    return std::nullopt;
  }
  if (const auto* s = std::get_if<std::string>(&it->second)) {
    return *s;
  }
  throw std::invalid_argument("argument " + name + " is not text");
}

std::optional<std::int64_t> CommandArgs::integer(const std::string& name,
                                                 std::string_view shown_as) const {
  const auto it = values_.find(name);
  if (it == values_.end()) {
    return std::nullopt;
  }
  if (const auto* i = std::get_if<std::int64_t>(&it->second)) {
    return *i;
  }
  if (const auto* d = std::get_if<double>(&it->second)) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", *d);
    throw InvalidInput("invalid value " + std::string(text) + " for " + std::string(shown_as) +
                       ": expected a whole number");
  }
  throw std::invalid_argument("argument " + name + " is not a number");
}

bool CommandArgs::flag(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) {
    return false;
  }
  const auto* b = std::get_if<bool>(&it->second);
  return b != nullptr && *b;
}

}  // namespace api
