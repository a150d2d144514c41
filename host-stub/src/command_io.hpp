// Command I/O: the host's implementation of sp_command_io, a command's terminal. Writes go
// to the process's stdout (through the stdout latch, flushed at once) and stderr; reads take
// one bounded line of stdin at a time, with echo off for a secret typed on a terminal.
#pragma once

#include "systemprompt/module_abi.h"

namespace host {

// The io for one command run on this process's stdin, stdout and stderr: every member of
// this host's ABI minor set, `size` its sizeof. Its functions need no io_ctx and stay valid
// for the life of the process.
sp_command_io terminalCommandIo() noexcept;

}  // namespace host
