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
  // Growing to the capacity it has never reallocates, and makes those bytes the string's.
  secret.resize(secret.capacity());
  wipeBytes(secret.data(), secret.size());
  secret.clear();
}

void protectProcessMemory() noexcept {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace api
