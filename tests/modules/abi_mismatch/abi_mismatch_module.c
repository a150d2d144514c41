/* A module that claims to be built for the next ABI major, to test that the host refuses
 * it. It deliberately does not check the host's version itself. */
#include "systemprompt/module_abi.h"

SP_MODULE_EXPORT sp_status module_init(const sp_host_api* host, sp_module* out, sp_error* error) {
  (void)host;
  (void)error;
  out->abi_major = SP_ABI_VERSION_MAJOR + 1;
  out->abi_minor = 3;
  return SP_OK;
}
