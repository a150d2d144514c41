// Command I/O: sp_command_io on this process's stdin, stdout and stderr, with bounded reads
// and echo off while a secret is typed.
#include "command_io.hpp"

#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string_view>

#include "stdout_latch.hpp"

namespace host {
namespace {

// The command's terminal: the host process's own stdin, stdout and stderr.
int writeStream(void* /*ctx*/, sp_stream stream, const char* data, size_t length) {
  if (stream == SP_STREAM_STDERR) {
    return std::fwrite(data, 1, length, stderr) == length ? 0 : -1;
  }
  // Flushed at once: a module must learn that its output was lost while it can still act
  // on it (a new key whose secret never reached anyone is revoked, not left active).
  return writeStdout(std::string_view(data, length)) && flushStdout() ? 0 : -1;
}

// One line of stdin into `buffer` (see sp_command_io.read_line): at most capacity - 1 bytes
// and a NUL, without the '\n' and one '\r' before it. Reads byte by byte and stops at the
// line's end, so a line too long is refused after `capacity` bytes, not read whole.
long readBoundedLine(char* buffer, size_t capacity) {
  if (buffer == nullptr || capacity == 0) {
    return SP_READ_END;
  }
  flushStdout();  // a prompt written without a newline must show before we block
  const size_t fits = capacity - 1;
  size_t length = 0;
  bool any = false;  // anything at all was read
  for (;;) {
    const int c = std::getc(stdin);
    if (c == EOF) {
      break;
    }
    any = true;
    if (c == '\n') {
      break;
    }
    if (length == fits) {
      // Full: only the line's end may follow (a "\r\n" ending included). One byte goes
      // back (all that ungetc promises); a '\r' before it stays read, inside a line refused.
      int after = c;
      if (c == '\r') {
        after = std::getc(stdin);
        if (after == '\n' || after == EOF) {
          break;
        }
      }
      std::ungetc(after, stdin);
      ::explicit_bzero(buffer, capacity);  // it may hold part of a secret
      return SP_READ_TOO_LONG;
    }
    buffer[length++] = static_cast<char>(c);
  }
  if (!any) {
    buffer[0] = '\0';
    return SP_READ_END;
  }
  if (length > 0 && buffer[length - 1] == '\r') {
    --length;
  }
  buffer[length] = '\0';
  return static_cast<long>(length);
}

long readLine(void* /*ctx*/, char* buffer, size_t capacity) {
  return readBoundedLine(buffer, capacity);
}

// The terminal settings to put back when a signal ends the process during a quiet read
// (POD, written before the handlers are installed and only read by them).
termios& savedTerminal() {
  static termios saved{};
  return saved;
}

constexpr int kQuietReadSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};

extern "C" void restoreTerminalAndRaise(int signal_number) {
  ::tcsetattr(STDIN_FILENO, TCSANOW, &savedTerminal());
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

// As readLine, with the terminal's echo off while the user types (when stdin is one). The
// echo comes back however the read ends: a line, the end of input, a line too long, or a
// signal (Ctrl-C) that ends the process.
long readSecret(void* /*ctx*/, char* buffer, size_t capacity) {
  termios& saved = savedTerminal();
  if (::isatty(STDIN_FILENO) == 0 || ::tcgetattr(STDIN_FILENO, &saved) != 0) {
    return readBoundedLine(buffer, capacity);
  }
  struct sigaction restore {};
  restore.sa_handler = &restoreTerminalAndRaise;
  sigemptyset(&restore.sa_mask);
  struct sigaction previous[std::size(kQuietReadSignals)]{};
  for (size_t i = 0; i < std::size(kQuietReadSignals); ++i) {
    ::sigaction(kQuietReadSignals[i], &restore, &previous[i]);
  }
  termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  // TCSANOW, not TCSAFLUSH: a key pasted before the prompt showed is read, not thrown away.
  const bool silenced = ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
  const long n = readBoundedLine(buffer, capacity);
  if (silenced) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::fputc('\n', stderr);  // the user's Enter was not echoed
  }
  for (size_t i = 0; i < std::size(kQuietReadSignals); ++i) {
    ::sigaction(kQuietReadSignals[i], &previous[i], nullptr);
  }
  return n;
}

}  // namespace

uint32_t terminalColumns() noexcept {
  // COLUMNS first, as less, ls and git read it: the user's word on the width (bash sets it
  // without exporting it, so when it is in the environment someone chose it).
  if (const char* text = std::getenv("COLUMNS"); text != nullptr && *text != '\0') {
    const std::string_view digits(text);
    unsigned long columns = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), columns);
    if (ec == std::errc() && end == digits.data() + digits.size() && columns >= 1 &&
        columns <= kMaxTerminalColumns) {
      return static_cast<uint32_t>(columns);
    }
  }
  winsize size{};
  if (::isatty(STDOUT_FILENO) != 0 && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0) {
    return size.ws_col;  // 0 when the terminal does not know its own width
  }
  return 0;
}

sp_command_io terminalCommandIo() noexcept {
  sp_command_io io{};
  io.size = sizeof(io);
  io.write = &writeStream;
  io.read_line = &readLine;
  io.read_secret = &readSecret;
  io.stdin_is_terminal = ::isatty(STDIN_FILENO);
  io.stdout_is_terminal = ::isatty(STDOUT_FILENO);
  io.terminal_columns = terminalColumns();
  return io;
}

}  // namespace host
