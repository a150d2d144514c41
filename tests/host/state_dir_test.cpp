#include "state_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <stdexcept>

#include "process.hpp"

namespace {

using testing_support::TempDir;

mode_t modeOf(const std::string& path) {
  struct stat st {};
  BOOST_REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string refusal(const std::string& dir, bool allow_symlink = false) {
  try {
    host::makePrivateDirectory(dir, "state directory", allow_symlink);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(not refused)";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Sets the umask for one scope.
class Umask {
 public:
  explicit Umask(mode_t mask) : saved_(::umask(mask)) {}
  ~Umask() { ::umask(saved_); }
  Umask(const Umask&) = delete;
  Umask& operator=(const Umask&) = delete;

 private:
  mode_t saved_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(state_dir)

BOOST_AUTO_TEST_CASE(the_default_comes_from_xdg_then_home_then_passwd_never_tmp) {
  BOOST_TEST(host::defaultStateDir("/x/state", "/home/u", "/pw") == "/x/state/systemprompt");
  BOOST_TEST(host::defaultStateDir("relative", "/home/u", "/pw") ==
             "/home/u/.local/state/systemprompt");  // XDG: a relative path is ignored
  BOOST_TEST(host::defaultStateDir(nullptr, "/home/u", "/pw") ==
             "/home/u/.local/state/systemprompt");
  BOOST_TEST(host::defaultStateDir(nullptr, nullptr, "/pw") == "/pw/.local/state/systemprompt");
  BOOST_TEST(host::defaultStateDir("", "", "/pw") == "/pw/.local/state/systemprompt");
  BOOST_CHECK_THROW(host::defaultStateDir(nullptr, nullptr, std::nullopt), std::runtime_error);
  BOOST_CHECK_THROW(host::defaultStateDir(nullptr, "", std::string()), std::runtime_error);
  // The running user's passwd entry has a home (root's is /root in the test container).
  const auto home = host::passwdHome();
  BOOST_REQUIRE(home.has_value());
  BOOST_TEST(!home->empty());
  BOOST_TEST(home->rfind("/tmp", 0) != 0u, *home);
}

BOOST_AUTO_TEST_CASE(every_directory_made_is_0700_even_under_umask_000) {
  TempDir tmp;
  const Umask open_umask(0);
  const std::string dir = tmp.path() + "/a/b/state";
  host::makePrivateDirectory(dir, "state directory", true);
  for (const std::string& made : {tmp.path() + "/a", tmp.path() + "/a/b", dir}) {
    BOOST_TEST(modeOf(made) == 0700u, made);
  }
  host::makePrivateDirectory(dir, "state directory", true);  // again: already fine
  BOOST_TEST(modeOf(dir) == 0700u);
}

BOOST_AUTO_TEST_CASE(a_group_or_world_writable_directory_is_refused_naming_path_and_mode) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/state";
  std::filesystem::create_directory(dir);
  ::chmod(dir.c_str(), 0777);
  const std::string message = refusal(dir);
  BOOST_TEST(contains(message, "state directory '" + dir + "' is refused"), message);
  BOOST_TEST(contains(message, "writable by its group and by others (mode 0777"), message);
  BOOST_TEST(contains(message, "writable by that user alone, e.g. mode 0700"), message);
  BOOST_TEST(modeOf(dir) == 0777u);  // refused, not changed
  ::chmod(dir.c_str(), 0720);
  BOOST_TEST(contains(refusal(dir), "writable by its group (mode 0720"));
  ::chmod(dir.c_str(), 0755);
  BOOST_TEST(refusal(dir) == "(not refused)");
}

BOOST_AUTO_TEST_CASE(a_directory_of_another_user_is_refused) {
  BOOST_REQUIRE_MESSAGE(::geteuid() == 0, "needs root to chown to another user");
  TempDir tmp;
  const std::string dir = tmp.path() + "/state";
  std::filesystem::create_directory(dir);
  ::chmod(dir.c_str(), 0700);
  BOOST_REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
  const std::string message = refusal(dir);
  BOOST_TEST(contains(message, "'" + dir + "' is refused: it is owned by uid 65534 (mode 0700)"),
             message);
  BOOST_TEST(contains(message, "owned by the user running prompt (uid 0)"), message);
}

BOOST_AUTO_TEST_CASE(a_symlink_is_refused_as_a_module_directory_and_followed_as_the_root) {
  TempDir tmp;
  const std::string target = tmp.path() + "/real";
  host::makePrivateDirectory(target, "state directory", true);
  const std::string link = tmp.path() + "/link";
  std::filesystem::create_directory_symlink(target, link);
  BOOST_TEST(contains(refusal(link), "'" + link + "' is refused: it is a symbolic link"));
  BOOST_TEST(refusal(link, /*allow_symlink=*/true) == "(not refused)");
  testing_support::writeFile(tmp.path() + "/file", "x");
  BOOST_TEST(contains(refusal(tmp.path() + "/file"), "it is not a directory"));
}

BOOST_AUTO_TEST_SUITE_END()
