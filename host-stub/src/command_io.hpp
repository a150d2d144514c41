// Command I/O: the host's implementation of sp_command_io, a command's terminal. Writes go
// to the process's stdout (through the stdout latch, flushed at once) and stderr; reads take
// one bounded line of stdin at a time, with echo off for a secret typed on a terminal.
#pragma once

#include <cstdint>

#include "systemprompt/module_abi.h"

namespace host {

// The widest COLUMNS taken (a terminal's own width is an unsigned short).
inline constexpr unsigned long kMaxTerminalColumns = 65535;

// sp_command_io.terminal_columns: COLUMNS when it is a whole number 1..kMaxTerminalColumns
// (no sign, no spaces), else the width of the terminal stdout is on, else 0 (unknown).
uint32_t terminalColumns() noexcept;

// The io for one command run on this process's stdin, stdout and stderr: every member of
// this host's ABI minor set, `size` its sizeof. Its functions need no io_ctx and stay valid
// for the life of the process.
sp_command_io terminalCommandIo() noexcept;

}  // namespace host
