#include "state_dir.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace host {
namespace {

std::string octal(mode_t mode) {
  char text[16];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string inQuotes(const std::string& path) {
  return "'" + path + "'";
}

}  // namespace

std::string defaultStateDir(const char* xdg_state_home, const char* home,
                            const std::optional<std::string>& passwd_home) {
  if (xdg_state_home != nullptr && xdg_state_home[0] == '/') {
    return std::string(xdg_state_home) + "/systemprompt";
  }
  std::string base;
  if (home != nullptr && home[0] != '\0') {
    base = home;
  } else if (passwd_home && !passwd_home->empty()) {
    base = *passwd_home;
  } else {
    throw std::runtime_error(
        "no home directory for the state directory: HOME is unset and the user has no home in "
        "the passwd database; set one with --state-dir <dir> or PROMPT_STATE_DIR");
  }
  return base + "/.local/state/systemprompt";
}

std::optional<std::string> passwdHome() {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  while (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == ERANGE &&
         buffer.size() < (1u << 20)) {
    buffer.resize(buffer.size() * 2);
  }
  if (found == nullptr || found->pw_dir == nullptr) {
    return std::nullopt;
  }
  return std::string(found->pw_dir);
}

void checkPrivateDirectory(const std::string& dir, const std::string& what, bool allow_symlink) {
  const std::string refused = what + " " + inQuotes(dir) + " is refused: ";
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    throw std::runtime_error("cannot inspect " + what + " " + inQuotes(dir) + ": " +
                             std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) {
    if (!allow_symlink) {
      throw std::runtime_error(refused +
                               "it is a symbolic link; it must be a real directory (a link "
                               "could lead the module's files anywhere)");
    }
    if (::stat(dir.c_str(), &st) != 0) {
      throw std::runtime_error("cannot inspect " + what + " " + inQuotes(dir) + ": " +
                               std::strerror(errno));
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    throw std::runtime_error(refused + "it is not a directory");
  }
  const uid_t me = ::geteuid();
  const std::string required = "; it must be owned by the user running prompt (uid " +
                               std::to_string(me) + ") and writable by that user alone, " +
                               "e.g. mode 0700";
  if (st.st_uid != me) {
    throw std::runtime_error(refused + "it is owned by uid " + std::to_string(st.st_uid) +
                             " (mode " + octal(st.st_mode) + ")" + required);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw std::runtime_error(
        refused + "it is writable by its " +
        ((st.st_mode & S_IWGRP) != 0 && (st.st_mode & S_IWOTH) != 0 ? "group and by others"
         : (st.st_mode & S_IWGRP) != 0                              ? "group"
                                                                    : "others") +
        " (mode " + octal(st.st_mode) + ", uid " + std::to_string(st.st_uid) + ")" + required);
  }
}

void makePrivateDirectory(const std::string& dir, const std::string& what, bool allow_symlink) {
  if (dir.empty()) {
    throw std::runtime_error(what + " is an empty path");
  }
  // Each missing component, outermost first, made 0700: mkdir's mode passes the umask, so
  // chmod sets it exactly (a umask of 000 would otherwise leave 0777 parents behind).
  size_t at = dir.find_first_not_of('/');
  while (at != std::string::npos) {
    const size_t end = dir.find('/', at);
    const std::string prefix = dir.substr(0, end);
    if (::mkdir(prefix.c_str(), 0700) == 0) {
      if (::chmod(prefix.c_str(), 0700) != 0) {
        throw std::runtime_error("cannot set mode 0700 on " + inQuotes(prefix) + ": " +
                                 std::strerror(errno));
      }
    } else if (errno != EEXIST) {
      throw std::runtime_error("cannot create " + what + " " + inQuotes(dir) + ": " +
                               inQuotes(prefix) + ": " + std::strerror(errno));
    }
    at = end == std::string::npos ? end : dir.find_first_not_of('/', end);
  }
  checkPrivateDirectory(dir, what, allow_symlink);
}

}  // namespace host
