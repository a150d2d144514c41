#include "util/text.hpp"

#include <algorithm>
#include <cstdint>

namespace api {
namespace {

// Decodes one character at text[at]; returns its length in bytes, or 0 when the bytes there
// are not strict UTF-8 or the character is not printable (see printableLength).
size_t printableCharAt(std::string_view text, size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  if (lead < 0x80) {
    return lead >= 0x20 && lead != 0x7F ? 1 : 0;
  }
  size_t length = 0;
  std::uint32_t cp = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    cp = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    cp = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    cp = lead & 0x07u;
  } else {
    return 0;  // a continuation byte, an overlong lead (C0, C1) or past U+10FFFF (F5..FF)
  }
  if (at + length > text.size()) {
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    const auto c = static_cast<unsigned char>(text[at + k]);
    if ((c & 0xC0u) != 0x80u) {
      return 0;
    }
    cp = (cp << 6) | (c & 0x3Fu);
  }
  const bool overlong = (length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000);
  const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  const bool c1_control = cp >= 0x80 && cp <= 0x9F;
  const bool bidi_control = (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
  if (overlong || surrogate || cp > 0x10FFFF || c1_control || bidi_control) {
    return 0;
  }
  return length;
}

}  // namespace

std::optional<size_t> printableLength(std::string_view text) {
  size_t count = 0;
  for (size_t i = 0; i < text.size(); ++count) {
    const size_t length = printableCharAt(text, i);
    if (length == 0) {
      return std::nullopt;
    }
    i += length;
  }
  return count;
}

bool isBlank(std::string_view text) {
  return !text.empty() && text.find_first_not_of(' ') == std::string_view::npos;
}

std::string printableTruncated(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  for (size_t i = 0; i < text.size();) {
    const size_t length = printableCharAt(text, i);
    const size_t taken = length == 0 ? 1 : length;
    if (out.size() + taken > max_bytes) {
      break;
    }
    if (length == 0) {
      out += '?';
    } else {
      out.append(text.substr(i, length));
    }
    i += taken;
  }
  return out;
}

}  // namespace api
