// Secrets in memory (full keys, the random bytes behind them): overwritten before their
// memory is given back, so that a later core dump, swap page or heap reuse cannot hold them.
#pragma once

#include <cstddef>
#include <string>

namespace api {

// Overwrites `bytes` in a way the compiler may not optimise away (OPENSSL_cleanse).
void wipeBytes(void* bytes, size_t size) noexcept;

// Overwrites a string's bytes and empties it.
void wipe(std::string& secret) noexcept;

// Wipes the string it was given when it goes out of scope, however the scope is left.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& secret) : secret_(secret) {}
  ~WipeOnExit() { wipe(secret_); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::string& secret_;
};

// Makes this process non-dumpable (no core file; other users, and ptrace without
// CAP_SYS_PTRACE, cannot read its memory), for a CLI process that is about to hold a secret.
void protectProcessMemory() noexcept;

}  // namespace api
