// The stdout latch: the process's standard output, shared by the host's own output and every
// command's sp_command_io, with the first failure remembered. stdio forgets why a flush failed
// (the next fflush succeeds with nothing to write), so every write goes through here.
// Thread-safe.
#pragma once

#include <string_view>

namespace host {

// Writes `text` to stdout; false when it did not get there (now or in an earlier write).
bool writeStdout(std::string_view text) noexcept;
// Flushes stdout; false when anything written so far did not reach it.
bool flushStdout() noexcept;
// Flushes stdout. Returns 0 when everything written reached it, otherwise the errno of the
// first failure (EIO when the C library did not say).
int finishStdout() noexcept;

}  // namespace host
