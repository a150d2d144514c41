// Text checks written for the fuzz targets apart from the code under test (host::isValidUtf8,
// api::printableLength), so that a target can catch the two disagreeing.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace fuzz {

// The code points of `text` when it is strict UTF-8 (shortest forms, no surrogates, nothing
// past U+10FFFF); nullopt otherwise.
inline std::optional<std::vector<std::uint32_t>> decodeUtf8(std::string_view text) {
  std::vector<std::uint32_t> out;
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : 4;
    if ((lead >> 3) == 0x1F || (lead >> 6) == 0x2 || i + length > text.size()) {
      return std::nullopt;
    }
    std::uint32_t cp = length == 1 ? lead : lead & (0x7FU >> length);
    for (size_t k = 1; k < length; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if ((c >> 6) != 0x2) {
        return std::nullopt;
      }
      cp = (cp << 6) | (c & 0x3FU);
    }
    constexpr std::uint32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kLeast[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return std::nullopt;
    }
    out.push_back(cp);
    i += length;
  }
  return out;
}

inline bool isStrictUtf8(std::string_view text) {
  return decodeUtf8(text).has_value();
}

// Strict UTF-8 without control characters (C0, DEL, C1) or bidirectional overrides and
// isolates (U+202A..U+202E, U+2066..U+2069): what may be printed to a terminal.
inline bool isPrintableText(std::string_view text) {
  const auto points = decodeUtf8(text);
  if (!points) {
    return false;
  }
  for (std::uint32_t cp : *points) {
    const bool control = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
    const bool bidi = (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
    if (control || bidi) {
      return false;
    }
  }
  return true;
}

}  // namespace fuzz
