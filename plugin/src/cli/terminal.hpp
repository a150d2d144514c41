// The module's view of one command invocation's terminal (sp_command_io).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "systemprompt/module_abi.h"

namespace api {

class Terminal {
 public:
  // The longest line readLine and readSecret accept, in bytes (a key is about 51).
  static constexpr size_t kMaxLine = 4096;

  explicit Terminal(const sp_command_io& io) : io_(io) {}

  void out(std::string_view text) const { write(SP_STREAM_STDOUT, text); }
  void err(std::string_view text) const { write(SP_STREAM_STDERR, text); }
  // One line of stdin without its terminator; nullopt at end of input. A line longer than
  // kMaxLine throws InvalidInput naming `what`; the rest of stdin is not read.
  std::optional<std::string> readLine(std::string_view what) const;
  // As readLine, without echo when stdin is a terminal (a 1.0 host echoes). The caller
  // wipes the result (util/secret.hpp) once done with it.
  std::optional<std::string> readSecret(std::string_view what) const;
  bool stdinIsTerminal() const { return io_.stdin_is_terminal != 0; }
  // Whether readSecret keeps what is typed off the screen (a 1.1 host).
  bool hidesSecrets() const {
    return io_.size >= SP_COMMAND_IO_SIZE_1_1 && io_.read_secret != nullptr;
  }
  bool stdoutIsTerminal() const { return io_.stdout_is_terminal != 0; }
  // The terminal's width in columns as the host tells it (1.2: COLUMNS, else the terminal's
  // own); from an older host, COLUMNS when it is a whole number 1..65535. 0 when unknown.
  // Told whether or not stdout is a terminal: the caller decides whether to fit to it.
  size_t columns() const;
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
  using ReadFn = long (*)(void*, char*, size_t);
  std::optional<std::string> read(ReadFn fn, std::string_view what) const;

  const sp_command_io& io_;
  mutable bool out_failed_ = false;
};

}  // namespace api
