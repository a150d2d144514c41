#include "util/text.hpp"

#include <locale.h>
#include <wchar.h>

#include <algorithm>
#include <cstdint>

namespace api {
namespace {

// One decoded character: its length in bytes (0 when the bytes are not strict UTF-8 or the
// character is not printable, see printableLength) and its code point.
struct Char {
  size_t length = 0;
  std::uint32_t cp = 0;
};

Char decodeAt(std::string_view text, size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  if (lead < 0x80) {
    return {lead >= 0x20 && lead != 0x7F ? size_t{1} : size_t{0}, lead};
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
    return {};  // a continuation byte, an overlong lead (C0, C1) or past U+10FFFF (F5..FF)
  }
  if (at + length > text.size()) {
    return {};
  }
  for (size_t k = 1; k < length; ++k) {
    const auto c = static_cast<unsigned char>(text[at + k]);
    if ((c & 0xC0u) != 0x80u) {
      return {};
    }
    cp = (cp << 6) | (c & 0x3Fu);
  }
  const bool overlong = (length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000);
  const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  const bool c1_control = cp >= 0x80 && cp <= 0x9F;
  const bool bidi_control = (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
  if (overlong || surrogate || cp > 0x10FFFF || c1_control || bidi_control) {
    return {};
  }
  return {length, cp};
}

size_t printableCharAt(std::string_view text, size_t at) {
  return decodeAt(text, at).length;
}

// The C library's Unicode width data, read through glibc's built-in C.UTF-8 locale for this
// thread only (uselocale), so the process's own locale is neither needed nor changed.
class WidthTable {
 public:
  WidthTable() : utf8_(::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr))) {}
  ~WidthTable() {
    if (utf8_ != static_cast<locale_t>(nullptr)) {
      ::freelocale(utf8_);
    }
  }
  WidthTable(const WidthTable&) = delete;
  WidthTable& operator=(const WidthTable&) = delete;

  // Columns of a printable non-ASCII character: 0, 1 or 2. Without the locale, 1.
  size_t columns(std::uint32_t cp) const {
    if (utf8_ == static_cast<locale_t>(nullptr)) {
      return 1;
    }
    const locale_t previous = ::uselocale(utf8_);
    const int width = ::wcwidth(static_cast<wchar_t>(cp));
    ::uselocale(previous);
    return width < 0 ? 1 : static_cast<size_t>(width);  // unassigned: one replacement glyph
  }

 private:
  locale_t utf8_;
};

size_t charColumns(const Char& c) {
  if (c.length == 0) {
    return 1;  // shown as '?'
  }
  if (c.cp < 0x80) {
    return 1;
  }
  static const WidthTable kWidths;
  return kWidths.columns(c.cp);
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
  assignPrintableTruncated(out, text, max_bytes);
  return out;
}

void assignPrintableTruncated(std::string& out, std::string_view text, size_t max_bytes) {
  out.clear();
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
}

size_t displayWidth(std::string_view text) {
  size_t columns = 0;
  for (size_t i = 0; i < text.size();) {
    const Char c = decodeAt(text, i);
    columns += charColumns(c);
    i += c.length == 0 ? 1 : c.length;
  }
  return columns;
}

size_t prefixFitting(std::string_view text, size_t columns) {
  size_t used = 0;
  size_t i = 0;
  while (i < text.size()) {
    const Char c = decodeAt(text, i);
    const size_t width = charColumns(c);
    if (used + width > columns) {
      break;
    }
    used += width;
    i += c.length == 0 ? 1 : c.length;
  }
  // Zero-width characters that follow (combining marks) belong to the last one kept.
  while (i < text.size()) {
    const Char c = decodeAt(text, i);
    if (c.length == 0 || charColumns(c) != 0) {
      break;
    }
    i += c.length;
  }
  return i;
}

std::string cutToWidth(std::string_view text, size_t columns, std::string_view ellipsis) {
  if (displayWidth(text) <= columns) {
    return std::string(text);
  }
  const size_t ellipsis_columns = displayWidth(ellipsis);
  if (columns <= ellipsis_columns) {
    return std::string(text.substr(0, prefixFitting(text, columns)));
  }
  std::string_view kept = text.substr(0, prefixFitting(text, columns - ellipsis_columns));
  while (!kept.empty() && kept.back() == ' ') {
    kept.remove_suffix(1);  // "Production…", not "Production …"
  }
  return std::string(kept) + std::string(ellipsis);
}

}  // namespace api
