#include "util/secret.hpp"

#include <openssl/crypto.h>
#include <sys/prctl.h>

namespace api {

void wipeBytes(void* bytes, size_t size) noexcept {
  if (bytes != nullptr && size > 0) {
    OPENSSL_cleanse(bytes, size);
  }
}

void wipe(std::string& secret) noexcept {
  // The whole buffer, not only size(): a string that shrank keeps old bytes past its end.
  wipeBytes(secret.data(), secret.capacity());
  secret.clear();
}

void protectProcessMemory() noexcept {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace api
