#include "cli/terminal.hpp"

#include <charconv>
#include <cstdlib>

#include "domain/errors.hpp"
#include "util/secret.hpp"

namespace api {

std::optional<std::string> Terminal::readLine(std::string_view what) const {
  return read(io_.read_line, what);
}

std::optional<std::string> Terminal::readSecret(std::string_view what) const {
  return read(hidesSecrets() ? io_.read_secret : io_.read_line, what);
}

size_t Terminal::columns() const {
  if (io_.size >= SP_COMMAND_IO_SIZE_1_2) {
    return io_.terminal_columns;
  }
  // A 1.0 or 1.1 host does not say: read COLUMNS as a 1.2 host does (not the terminal's own
  // width, which would take an ioctl on a descriptor the module does not own).
  const char* text = std::getenv("COLUMNS");
  if (text == nullptr) {
    return 0;
  }
  const std::string_view digits(text);
  size_t columns = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), columns);
  const bool whole = ec == std::errc() && end == digits.data() + digits.size();
  return whole && columns >= 1 && columns <= 65535 ? columns : 0;
}

std::optional<std::string> Terminal::read(ReadFn fn, std::string_view what) const {
  if (fn == nullptr) {
    return std::nullopt;
  }
  std::string buffer(kMaxLine + 1, '\0');
  const long n = fn(io_.io_ctx, buffer.data(), buffer.size());
  if (n == SP_READ_TOO_LONG || n > static_cast<long>(kMaxLine)) {
    wipe(buffer);
    throw InvalidInput(std::string(what) + " on standard input is longer than " +
                       std::to_string(kMaxLine) + " bytes");
  }
  if (n < 0) {
    wipe(buffer);
    return std::nullopt;
  }
  const std::string::size_type length = static_cast<std::string::size_type>(n);
  wipeBytes(buffer.data() + length, buffer.size() - length);
  buffer.resize(length);
  return buffer;
}

}  // namespace api
