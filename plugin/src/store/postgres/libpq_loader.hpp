// libpq is loaded when a PostgreSQL store first opens, not with the module (see
// libpq_loader.cpp).
#pragma once

namespace api {

// Loads libpq.so.5 once per process. Throws StoreError naming the library and what to install
// when it cannot be loaded (then every later call throws the same).
void loadLibpq();

}  // namespace api
