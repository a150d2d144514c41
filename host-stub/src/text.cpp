#include "text.hpp"

#include <cstdio>

namespace host {
namespace {

// The length of the well-formed UTF-8 sequence at the start of `text`, or 0 when it is not
// one (overlong forms, surrogates and code points past U+10FFFF are not).
size_t sequenceLength(std::string_view text, char32_t& code_point) {
  const auto byte = [&](size_t at) { return static_cast<unsigned char>(text[at]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  }
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code_point = lead & 0x0F;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code_point = lead & 0x07;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (text.size() < length) {
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    const unsigned char c = byte(k);
    if (k == 1 ? (c < low || c > high) : (c < 0x80 || c > 0xBF)) {
      return 0;
    }
    code_point = (code_point << 6) | (c & 0x3F);
  }
  return length;
}

bool isBidiControl(char32_t c) {
  return c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069);
}

void appendHexByte(std::string& out, unsigned char byte) {
  char hex[8];
  std::snprintf(hex, sizeof(hex), "\\x%02X", byte);
  out += hex;
}

}  // namespace

bool isValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    char32_t code_point = 0;
    const size_t length = sequenceLength(text.substr(i), code_point);
    if (length == 0) {
      return false;
    }
    i += length;
  }
  return true;
}

std::string escapeControls(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char32_t code_point = 0;
    const size_t length = sequenceLength(text.substr(i), code_point);
    if (length == 0) {
      appendHexByte(out, static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (code_point == '\\') {
      out += "\\\\";
    } else if (code_point == '\n') {
      out += "\\n";
    } else if (code_point == '\r') {
      out += "\\r";
    } else if (code_point == '\t') {
      out += "\\t";
    } else if (code_point < 0x20 || code_point == 0x7F) {
      appendHexByte(out, static_cast<unsigned char>(code_point));
    } else if ((code_point >= 0x80 && code_point <= 0x9F) || isBidiControl(code_point)) {
      char escaped[16];
      std::snprintf(escaped, sizeof(escaped), "\\u{%04X}", static_cast<unsigned>(code_point));
      out += escaped;
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}

std::string quotedText(std::string_view text) {
  std::string out = "\"";
  for (char c : escapeControls(text)) {
    if (c == '"') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace host
