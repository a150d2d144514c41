#include "cli/terminal.hpp"

#include "domain/errors.hpp"
#include "util/secret.hpp"

namespace api {

std::optional<std::string> Terminal::readLine(std::string_view what) const {
  return read(io_.read_line, what);
}

std::optional<std::string> Terminal::readSecret(std::string_view what) const {
  return read(hidesSecrets() ? io_.read_secret : io_.read_line, what);
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
