// The module toolkit: header-only C++ conveniences over module_abi.h that any module written
// in C++ needs (the error slot and panic barrier, service lookup, the host's logger, a
// command's terminal). Nothing here crosses the boundary: it only wraps the C structs on
// each side, so a module built with any C++17 compiler can use it. The typed clients of the
// api module's services are in systemprompt/api_clients.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "systemprompt/module_abi.h"

namespace systemprompt {

// Copies `text` into a fixed buffer of `capacity` bytes, truncated to fit, NUL-terminated.
inline void copyTruncated(char* out, size_t capacity, std::string_view text) noexcept {
  if (out == nullptr || capacity == 0) {
    return;
  }
  const size_t n = std::min(text.size(), capacity - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

// Writes `message` into a caller-owned error slot, truncated to fit the slot's declared
// size (a slot declaring less than sizeof(sp_error) gets no more than it declared; one
// declaring no room for a message gets nothing). Tolerates NULL.
inline void setError(sp_error* error, std::string_view message) noexcept {
  constexpr size_t kMessageAt = offsetof(sp_error, message);
  if (error == nullptr || error->size <= kMessageAt) {
    return;
  }
  copyTruncated(error->message, std::min<size_t>(sizeof(error->message), error->size - kMessageAt),
                message);
}

inline sp_error makeError() noexcept {
  sp_error error{};
  error.size = sizeof(sp_error);
  return error;
}

// A failure with its ABI status, for use inside a module; guard() turns it into a status.
class Failure : public std::runtime_error {
 public:
  Failure(sp_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  sp_status status() const noexcept { return status_; }

 private:
  sp_status status_;
};

// The panic barrier for an exported function: runs `body` and converts any exception into
// a status plus message. `body` returns void (SP_OK) or an sp_status.
template <typename Body>
sp_status guard(sp_error* error, Body&& body) noexcept {
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      std::forward<Body>(body)();
      return SP_OK;
    } else {
      return std::forward<Body>(body)();
    }
  } catch (const Failure& failure) {
    setError(error, failure.what());
    return failure.status();
  } catch (const std::exception& e) {
    setError(error, e.what());
    return SP_ERROR;
  } catch (...) {
    setError(error, "unknown exception");
    return SP_ERROR;
  }
}

// Finds a service table through the host. Returns nullptr when no loaded module serves it in
// a compatible version (same major, at least `min_minor`); otherwise `*served_minor` (when
// not null) holds the minor served, which tells which members of the table exist.
template <typename Table>
const Table* lookupService(const sp_host_api& host, const char* module, const char* service,
                           uint32_t major, uint32_t min_minor,
                           uint32_t* served_minor = nullptr) noexcept {
  if (host.get_service == nullptr) {
    return nullptr;
  }
  return static_cast<const Table*>(
      host.get_service(host.host_ctx, module, service, major, min_minor, served_minor));
}

// Health of a module or service, as C++ values.
struct Health {
  bool healthy = false;
  std::string detail;
};

// The host's logger (sp_host_api.log). Thread-safe as the host's is.
// REQUIRED: `host` outlives this, and sp_module.log_field_size is sizeof(sp_log_field).
class HostLog {
 public:
  using Field = std::pair<std::string_view, std::string_view>;

  explicit HostLog(const sp_host_api& host) noexcept : host_(host) {}

  bool enabled(sp_log_level level) const noexcept {
    return host_.log != nullptr &&
           (host_.log_enabled == nullptr || host_.log_enabled(host_.host_ctx, level) != 0);
  }
  // One record; the host adds the time and the module's name. Never throws: a record that
  // cannot be built is dropped. REQUIRED: no secret in `message` or `fields`.
  void log(sp_log_level level, std::string_view message,
           std::initializer_list<Field> fields = {}) const noexcept {
    if (!enabled(level)) {
      return;
    }
    try {
      const std::string text(message);
      std::vector<std::string> texts;  // NUL-terminated copies, alive during the call
      texts.reserve(2 * fields.size());
      for (const Field& f : fields) {
        texts.emplace_back(f.first);
        texts.emplace_back(f.second);
      }
      std::vector<sp_log_field> c_fields;
      c_fields.reserve(fields.size());
      for (size_t i = 0; i + 1 < texts.size(); i += 2) {
        c_fields.push_back(sp_log_field{texts[i].c_str(), texts[i + 1].c_str()});
      }
      host_.log(host_.host_ctx, level, text.c_str(), c_fields.data(), c_fields.size());
    } catch (...) {
    }
  }
  void info(std::string_view m, std::initializer_list<Field> f = {}) const noexcept {
    log(SP_LOG_INFO, m, f);
  }
  void warn(std::string_view m, std::initializer_list<Field> f = {}) const noexcept {
    log(SP_LOG_WARN, m, f);
  }
  void error(std::string_view m, std::initializer_list<Field> f = {}) const noexcept {
    log(SP_LOG_ERROR, m, f);
  }

 private:
  const sp_host_api& host_;
};

// A command invocation's terminal (sp_command_io). REQUIRED: `io` outlives this.
class CommandIo {
 public:
  explicit CommandIo(const sp_command_io& io) noexcept : io_(io) {}

  // Each returns whether the bytes got there (false on a full disk or a closed pipe).
  bool out(std::string_view text) const noexcept { return write(SP_STREAM_STDOUT, text); }
  bool err(std::string_view text) const noexcept { return write(SP_STREAM_STDERR, text); }

  // One line of stdin without its terminator, of at most `max_bytes`; nullopt at the end of
  // input. A longer line throws std::length_error and leaves the rest of stdin unread.
  // `secret`: not echoed when stdin is a terminal (a 1.1 host; a 1.0 host echoes).
  std::optional<std::string> readLine(size_t max_bytes = 4096, bool secret = false) const {
    auto* fn = secret && io_.size >= SP_COMMAND_IO_SIZE_1_1 && io_.read_secret != nullptr
                   ? io_.read_secret
                   : io_.read_line;
    if (fn == nullptr) {
      return std::nullopt;
    }
    std::string buffer(max_bytes + 1, '\0');
    const long n = fn(io_.io_ctx, buffer.data(), buffer.size());
    if (n == SP_READ_TOO_LONG || n > static_cast<long>(max_bytes)) {
      throw std::length_error("a line on standard input is longer than " +
                              std::to_string(max_bytes) + " bytes");
    }
    if (n < 0) {
      return std::nullopt;
    }
    buffer.resize(static_cast<size_t>(n));
    return buffer;
  }

  bool stdinIsTerminal() const noexcept { return io_.stdin_is_terminal != 0; }
  bool stdoutIsTerminal() const noexcept { return io_.stdout_is_terminal != 0; }
  // The terminal's width in columns, as a 1.2 host tells it (see sp_command_io); 0 when
  // unknown or from an older host.
  uint32_t terminalColumns() const noexcept {
    return io_.size >= SP_COMMAND_IO_SIZE_1_2 ? io_.terminal_columns : 0;
  }

 private:
  bool write(sp_stream stream, std::string_view text) const noexcept {
    return io_.write != nullptr && io_.write(io_.io_ctx, stream, text.data(), text.size()) == 0;
  }

  const sp_command_io& io_;
};

}  // namespace systemprompt
