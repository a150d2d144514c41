// The module's view of one command invocation's terminal (sp_command_io).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "systemprompt/module_abi.h"

namespace api {

class Terminal {
 public:
  explicit Terminal(const sp_command_io& io) : io_(io) {}

  void out(std::string_view text) const { write(SP_STREAM_STDOUT, text); }
  void err(std::string_view text) const { write(SP_STREAM_STDERR, text); }
  // One line of stdin without its terminator; nullopt at end of input.
  std::optional<std::string> readLine() const;
  bool stdinIsTerminal() const { return io_.stdin_is_terminal != 0; }
  bool stdoutIsTerminal() const { return io_.stdout_is_terminal != 0; }
  // Whether any write to stdout failed (a full disk, a closed pipe): the command's output did
  // not reach its reader, so the command must not report success.
  bool outFailed() const { return out_failed_; }

 private:
  void write(sp_stream stream, std::string_view text) const {
    if (io_.write == nullptr || text.empty()) {
      return;
    }
    if (io_.write(io_.io_ctx, stream, text.data(), text.size()) != 0 &&
        stream == SP_STREAM_STDOUT) {
      out_failed_ = true;
    }
  }

  const sp_command_io& io_;
  mutable bool out_failed_ = false;
};

inline std::optional<std::string> Terminal::readLine() const {
  if (io_.read_line == nullptr) {
    return std::nullopt;
  }
  std::string buffer(4096, '\0');
  const long n = io_.read_line(io_.io_ctx, buffer.data(), buffer.size());
  if (n < 0) {
    return std::nullopt;
  }
  buffer.resize(static_cast<size_t>(n) < buffer.size() ? static_cast<size_t>(n)
                                                       : buffer.size() - 1);
  return buffer;
}

}  // namespace api
