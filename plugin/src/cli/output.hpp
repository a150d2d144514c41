// Shared text formatting of the CLI adapters: aligned tables, times, key records as text,
// confirmation prompts. The JSON documents come from present/ (documents.hpp).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/terminal.hpp"
#include "domain/clock.hpp"
#include "domain/records.hpp"

namespace api {

enum class OutputFormat { kTable, kJson };

// "table" or "json" (and, where `allowed` has it, others). Throws InvalidInput.
OutputFormat parseFormat(const std::optional<std::string>& text);

// How text output is laid out for whoever reads it. The default prints everything whole and
// plain, as for a pipe or a file.
struct OutputStyle {
  // Lines are fitted to this many terminal columns (Table::render); 0 prints them whole.
  size_t width = 0;
  // Status words and warnings carry ANSI SGR colour codes.
  bool colour = false;
  // What a cut cell ends with: "…" in a UTF-8 locale, "..." elsewhere.
  std::string ellipsis = "...";
};

// The style of a command's stdout: fitted to the terminal's width (Terminal::columns) and
// coloured only when stdout is a terminal; never fitted with `wide` (--wide), nor when the
// width is unknown; never coloured when NO_COLOR is set to anything but "" (no-color.org).
OutputStyle outputStyle(const Terminal& terminal, bool wide);

// Whether the locale the environment names (LC_ALL, else LC_CTYPE, else LANG) is UTF-8.
bool localeIsUtf8();

enum class Colour { kNone, kGreen, kRed, kYellow };

// `text` wrapped in the SGR codes of `colour` (and a reset) when style.colour; else `text`.
std::string coloured(std::string_view text, Colour colour, const OutputStyle& style);

// active green, revoked red, expired yellow.
Colour statusColour(KeyStatus status);

// `text` cut with style.ellipsis to `columns` when style.width is set (see cutToWidth), whole
// otherwise: for a name inside a line that is not a table's.
std::string fitted(std::string_view text, size_t columns, const OutputStyle& style);

// Columns padded to their widest cell by terminal columns (displayWidth), two spaces apart.
// Rendered for a width, a table that is wider first leaves out its droppable columns, in
// the order given, as long as it cannot fit with every shrinkable column at kRoomyColumns
// (or its own width, when narrower): a name keeps a readable length before a column of
// less use stays. Then it cuts the cells of its shrinkable columns with an ellipsis, sharing
// the room left among them (a column narrower than its share keeps its width, the others
// split what it leaves), never below kMinShrunkColumns: when even that is too wide (the
// fixed columns alone nearly fill the terminal) lines are longer than the width. Colour
// codes are added around a cell after its padding is counted, so they never shift a column.
class Table {
 public:
  static constexpr size_t kRoomyColumns = 20;
  static constexpr size_t kMinShrunkColumns = 8;

  // Cells are shown printable: a control or bidi character (a row of an older database, or
  // of the original system's) becomes '?', so no cell can move the cursor or forge a line.
  explicit Table(std::vector<std::string> header) { add(std::move(header)); }
  void add(std::vector<std::string> row);
  // Colours the cell of column `column` in the row added last.
  void colour(size_t column, Colour colour);
  // Columns whose cells may be cut to fit a width (names, users, endpoints, free text).
  void shrinkable(std::initializer_list<size_t> columns);
  // Columns that may be left out to fit a width, the first given first.
  void droppable(std::initializer_list<size_t> columns);
  std::string render(const OutputStyle& style = {}) const;

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::vector<Colour>> colours_;
  std::vector<size_t> shrinkable_;
  std::vector<size_t> droppable_;
};

// "2026-11-25 06:30 UTC", or "never"/"-" for an absent time.
std::string shortTime(const std::optional<TimePoint>& t, std::string_view absent = "-");

// "2026-11-25 05:04 .. 06:04 UTC", or with both dates when they differ (at most 40 columns).
std::string shortTimeRange(TimePoint start, TimePoint end);

// "2026-11-25", the date of `t` in UTC.
std::string shortDate(TimePoint t);

// How long before `now` `t` was, as formatSpan says it: "3h 5m ago"; "just now" under a
// second, and for a time after `now` (a clock stepped back).
std::string timeAgo(TimePoint t, TimePoint now);

// The key's fields as "  Label  value" lines; the values fitted to style.width.
std::string keyDetails(const KeyRecord& key, TimePoint now, std::int64_t window_ms,
                       const OutputStyle& style = {});

// Asks "<question> [y/N] " on the terminal. With `force`, answers yes without asking.
// Without a terminal to ask on, throws Conflict telling the user to pass --force.
bool confirm(const Terminal& terminal, const std::string& question, bool force,
             std::string_view what);

// "cli:<login name>", for audit records of CLI actions; made printable and cut to an
// actor's length, whatever SUDO_USER or the password database say.
std::string cliActor();

}  // namespace api
