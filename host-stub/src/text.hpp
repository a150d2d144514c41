// Text from users and modules made safe to show on a terminal or in a log line.
#pragma once

#include <string>
#include <string_view>

namespace host {

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF). Everything that reaches a module as JSON must be.
bool isValidUtf8(std::string_view text);

// `text` with everything that could move the cursor, clear the screen, reorder what follows
// or forge a new line written as an escape: C0 controls and DEL as \n, \r, \t or \xHH, C1
// controls (U+0080..U+009F) and bidirectional controls (U+061C, U+200E, U+200F,
// U+202A..U+202E, U+2066..U+2069) as \u{HHHH}, and each byte of invalid UTF-8 as \xHH.
// Backslashes are doubled, so the escaped form is unambiguous. Everything else is kept.
std::string escapeControls(std::string_view text);

// escapeControls(text) in double quotes, with '"' escaped: how an error message quotes a
// value the user gave. "café" stays "café"; "a\x1b[2J" becomes "a\x1b[2J" in plain ASCII.
std::string quotedText(std::string_view text);

}  // namespace host
