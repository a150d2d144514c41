// Checks for text that people give (names, users, endpoints, user agents) before it is
// stored and later printed in tables, audit trails and JSON: strict UTF-8, and no character
// that could move a terminal's cursor, recolour it or reorder what it shows.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace api {

// The number of characters (code points) in `text` when it is strict UTF-8 (no overlong
// forms, surrogates or code points past U+10FFFF) holding no control character (C0, DEL,
// C1) and no bidirectional override or isolate (U+202A..U+202E, U+2066..U+2069); nullopt
// otherwise.
std::optional<size_t> printableLength(std::string_view text);

// Whether `text` holds nothing but spaces (and is not empty).
bool isBlank(std::string_view text);

// `text` made printable (each byte or character printableLength would refuse becomes '?')
// and cut to at most `max_bytes` bytes at a character boundary.
std::string printableTruncated(std::string_view text, size_t max_bytes);
// The same, written over `out` (whose memory is reused: no allocation when it holds enough).
void assignPrintableTruncated(std::string& out, std::string_view text, size_t max_bytes);

// The terminal columns `text` (UTF-8) takes: East Asian wide and fullwidth characters count
// 2, combining marks and other zero-width characters 0, by the Unicode width data of the C
// library (glibc's C.UTF-8 locale, wcwidth; where that locale is missing, every character
// counts 1). A byte that is not UTF-8, or a character printableLength refuses, counts 1:
// tables show it as '?'.
size_t displayWidth(std::string_view text);

// The length in bytes of the longest prefix of `text` made of whole characters that takes at
// most `columns` columns (displayWidth), with any zero-width characters right after it (a
// combining accent stays with its letter).
size_t prefixFitting(std::string_view text, size_t columns);

// `text` when it takes at most `columns` columns; otherwise its longest prefix of whole
// characters (prefixFitting, trailing spaces dropped) that leaves room for `ellipsis`, then
// `ellipsis`. Never wider than `columns`; narrower by one when a wide character does not fit
// whole. With `columns` no wider than the ellipsis, the prefix alone.
std::string cutToWidth(std::string_view text, size_t columns, std::string_view ellipsis);

}  // namespace api
