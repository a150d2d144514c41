#include "domain/errors.hpp"

#include <algorithm>

#include "util/text.hpp"

namespace api {
namespace {

bool isHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

bool looksLikeKeyId(std::string_view value) {
  return value.size() == 20 && value.substr(0, 4) == "key_" && isHex(value.substr(4));
}

std::string quotedId(std::string_view value) {
  const bool looks_like_id =
      value.size() <= 36 && value.substr(0, 4) == "key_" && isHex(value.substr(4));
  // Printable whatever was typed: control and bidi characters become '?', so a quoted value
  // can neither move the terminal's cursor nor forge a line.
  if (looks_like_id || value.size() <= 12) {
    return "\"" + printableTruncated(value, value.size()) + "\"";
  }
  return "\"" + printableTruncated(value.substr(0, 8), 8) +
         "...\" (shown in part: it may be a secret)";
}

}  // namespace api
