// Where modules keep state, and the rules a state directory must meet before a module may
// use it: like ssh with ~/.ssh, the host refuses a directory another user could change.
#pragma once

#include <optional>
#include <string>

namespace host {

// The default state root when neither --state-dir nor PROMPT_STATE_DIR is set:
// $XDG_STATE_HOME/systemprompt when XDG_STATE_HOME is an absolute path (the XDG spec
// ignores a relative one), else <home>/.local/state/systemprompt with <home> from HOME, or
// from `passwd_home` (the user's passwd entry) when HOME is unset or empty. Never a shared
// directory such as /tmp: with no home at all it throws std::runtime_error saying how to
// set one. Pure: the environment is passed in (nullptr for unset).
std::string defaultStateDir(const char* xdg_state_home, const char* home,
                            const std::optional<std::string>& passwd_home);

// The home directory of the effective user's passwd entry; nullopt when there is none.
std::optional<std::string> passwdHome();

// Creates `dir` and each missing parent with mode 0700, whatever the umask, then checks it
// (checkPrivateDirectory). `what` names it in errors ("state directory"). With
// `allow_symlink` false, `dir` itself must not be a symbolic link. Throws
// std::runtime_error naming the path, what was found and what is required.
void makePrivateDirectory(const std::string& dir, const std::string& what, bool allow_symlink);

// Refuses (std::runtime_error) a `dir` that is not a directory, is not owned by the
// effective user, or is writable by its group or others; with `allow_symlink` false, also
// one that is a symbolic link.
void checkPrivateDirectory(const std::string& dir, const std::string& what, bool allow_symlink);

}  // namespace host
