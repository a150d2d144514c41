#include "store/private_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store/store_error.hpp"

namespace api {

void checkPrivateFile(int fd, const std::string& path, std::string_view what) {
  const auto refuse = [&](const std::string& why) {
    throw StoreError(std::string(what) + " '" + path + "': " + why);
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    refuse(std::string("cannot check it: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    refuse("refusing it: it is not a regular file");
  }
  if (st.st_uid != ::geteuid()) {
    refuse("refusing it: it is owned by uid " + std::to_string(st.st_uid) +
           ", not by this user (uid " + std::to_string(::geteuid()) + ")");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    refuse("refusing it: others may write it; make it private (chmod 600)");
  }
}

}  // namespace api
