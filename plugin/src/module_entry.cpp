// The module's only exported symbol, module_init: the ABI handshake and the panic barrier
// between the host and ApiModule.
#include <memory>
#include <string>

#include "api_module.hpp"
#include "systemprompt/module.hpp"
#include "systemprompt/module_abi.h"

namespace {

void shutdownEntry(void* ctx) noexcept {
  delete static_cast<api::ApiModule*>(ctx);
}

std::string version(uint32_t major, uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

}  // namespace

// Not noexcept in its type (the C prototype in module_abi.h has none), but nothing escapes:
// everything runs inside guard().
extern "C" SP_MODULE_EXPORT sp_status module_init(const sp_host_api* host, sp_module* out,
                                                  sp_error* error) {
  return systemprompt::guard(error, [&]() -> sp_status {
    if (out == nullptr || out->size < SP_MODULE_SIZE_1_0) {
      systemprompt::setError(error, "api module: sp_module missing or smaller than ABI 1.0's");
      return SP_ERROR_ABI;
    }
    out->abi_major = SP_ABI_VERSION_MAJOR;
    out->abi_minor = SP_ABI_VERSION_MINOR;
    out->log_field_size = sizeof(sp_log_field);  // before anything logs
    if (host == nullptr) {
      systemprompt::setError(error, "api module: module_init called without a host API");
      return SP_ERROR_INVALID;
    }
    if (host->abi_major != SP_ABI_VERSION_MAJOR) {
      systemprompt::setError(error, "api module was built for module ABI " +
                                        version(SP_ABI_VERSION_MAJOR, SP_ABI_VERSION_MINOR) +
                                        ", but the host speaks ABI " +
                                        version(host->abi_major, host->abi_minor) +
                                        "; rebuild the module against the host's headers");
      return SP_ERROR_ABI;
    }
    if (host->size < SP_HOST_API_SIZE_1_0) {
      systemprompt::setError(error, "api module: the host's sp_host_api is smaller than ABI 1.0's");
      return SP_ERROR_ABI;
    }
    auto module = std::make_unique<api::ApiModule>(*host, std::make_unique<api::SystemClock>());
    module->describe(*out);
    out->shutdown = &shutdownEntry;
    static_cast<void>(module.release());  // owned by the host's handle; shutdownEntry frees it
    return SP_OK;
  });
}
