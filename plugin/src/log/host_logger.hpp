// The module's view of the host's logger (sp_host_api.log), with structured fields.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "systemprompt/module_abi.h"

namespace api {

class HostLogger {
 public:
  using Field = std::pair<std::string_view, std::string>;

  explicit HostLogger(const sp_host_api& host)
      : host_(host), trace_(host.log != nullptr && enabled(SP_LOG_TRACE)) {}

  bool enabled(sp_log_level level) const {
    return host_.log_enabled == nullptr || host_.log_enabled(host_.host_ctx, level) != 0;
  }
  // Whether trace records are emitted: asked of the host once (its level is set for the
  // life of the process), so the request path pays one load and branch when they are not.
  bool traceEnabled() const { return trace_; }

  // REQUIRED: nothing in `message` or `fields` is a secret.
  void log(sp_log_level level, std::string_view message,
           std::initializer_list<Field> fields = {}) const;

  // For records on the request path, call only when traceEnabled(): building the fields
  // costs more than the call being traced.
  void trace(std::string_view m, std::initializer_list<Field> f = {}) const {
    if (trace_) {
      log(SP_LOG_TRACE, m, f);
    }
  }
  void debug(std::string_view m, std::initializer_list<Field> f = {}) const {
    log(SP_LOG_DEBUG, m, f);
  }
  void info(std::string_view m, std::initializer_list<Field> f = {}) const {
    log(SP_LOG_INFO, m, f);
  }
  void warn(std::string_view m, std::initializer_list<Field> f = {}) const {
    log(SP_LOG_WARN, m, f);
  }
  void error(std::string_view m, std::initializer_list<Field> f = {}) const {
    log(SP_LOG_ERROR, m, f);
  }

 private:
  const sp_host_api& host_;
  bool trace_;
};

}  // namespace api
