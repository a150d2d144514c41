/* A shared library that is not a module: it exports no module_init. */
#include "systemprompt/module_abi.h"

SP_MODULE_EXPORT int not_a_module(void) {
  return 42;
}
