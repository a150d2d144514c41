// The trust a store's side file gets (the key change epoch, the shared rate-limit segment),
// the same as the database's (sqlite_db.cpp): anyone who could write such a file could keep a
// revoked key's cached validation alive or hand out requests past a limit.
#pragma once

#include <string>
#include <string_view>

namespace api {

// Throws StoreError, its message starting "<what> '<path>': ", unless the open file `fd` is a
// regular file owned by this user that nobody else may write.
void checkPrivateFile(int fd, const std::string& path, std::string_view what);

}  // namespace api
