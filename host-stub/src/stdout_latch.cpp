// The stdout latch: writes to standard output that remember the first failure.
#include "stdout_latch.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>

namespace host {
namespace {

// The errno of stdout's first failed write or flush; 0 while none failed.
std::atomic<int>& stdoutFailure() {
  static std::atomic<int> first_errno{0};
  return first_errno;
}

void rememberStdoutFailure(int error_number) {
  int none = 0;
  stdoutFailure().compare_exchange_strong(none, error_number != 0 ? error_number : EIO);
}

}  // namespace

bool writeStdout(std::string_view text) noexcept {
  errno = 0;
  const bool written = std::fwrite(text.data(), 1, text.size(), stdout) == text.size();
  if (!written || std::ferror(stdout) != 0) {
    rememberStdoutFailure(errno);  // an earlier failure, when this write itself went well
    return false;
  }
  return stdoutFailure().load() == 0;
}

bool flushStdout() noexcept {
  if (std::fflush(stdout) != 0) {
    rememberStdoutFailure(errno);
  } else if (std::ferror(stdout) != 0) {
    rememberStdoutFailure(EIO);
  }
  return stdoutFailure().load() == 0;
}

int finishStdout() noexcept {
  flushStdout();
  return stdoutFailure().load();
}

}  // namespace host
