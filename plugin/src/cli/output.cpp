#include "cli/output.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>

#include "domain/errors.hpp"
#include "present/documents.hpp"
#include "services/api_key_service.hpp"
#include "util/text.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

std::string joined(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : std::string(separator)) + item;
  }
  return out;
}

}  // namespace

OutputFormat parseFormat(const std::optional<std::string>& text) {
  if (!text || *text == "table") {
    return OutputFormat::kTable;
  }
  if (*text == "json") {
    return OutputFormat::kJson;
  }
  // Shown printable and short: the text is the user's, and stderr may be a terminal.
  throw InvalidInput("invalid --format \"" + printableTruncated(*text, 64) +
                     "\": use table or json");
}

OutputStyle outputStyle(const Terminal& terminal, bool wide) {
  OutputStyle style;
  if (!terminal.stdoutIsTerminal()) {
    return style;  // a pipe or a file gets everything whole and plain, whatever COLUMNS says
  }
  style.width = wide ? 0 : terminal.columns();
  const char* no_colour = std::getenv("NO_COLOR");
  style.colour = no_colour == nullptr || *no_colour == '\0';
  style.ellipsis = localeIsUtf8() ? "\u2026" : "...";
  return style;
}

bool localeIsUtf8() {
  const char* chosen = nullptr;
  for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') {
      chosen = value;
      break;
    }
  }
  if (chosen == nullptr) {
    return false;  // the C locale
  }
  std::string lower(chosen);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("utf-8") != std::string::npos || lower.find("utf8") != std::string::npos;
}

std::string coloured(std::string_view text, Colour colour, const OutputStyle& style) {
  if (!style.colour || colour == Colour::kNone) {
    return std::string(text);
  }
  const char* code = colour == Colour::kGreen ? "32" : colour == Colour::kRed ? "31" : "33";
  return std::string("\x1b[") + code + "m" + std::string(text) + "\x1b[0m";
}

Colour statusColour(KeyStatus status) {
  switch (status) {
    case KeyStatus::kActive:
      return Colour::kGreen;
    case KeyStatus::kRevoked:
      return Colour::kRed;
    case KeyStatus::kExpired:
      return Colour::kYellow;
  }
  return Colour::kNone;
}

std::string fitted(std::string_view text, size_t columns, const OutputStyle& style) {
  return style.width == 0 ? std::string(text) : cutToWidth(text, columns, style.ellipsis);
}

void Table::add(std::vector<std::string> row) {
  for (std::string& cell : row) {
    if (!printableLength(cell)) {
      cell = printableTruncated(cell, cell.size());
    }
  }
  colours_.emplace_back(row.size(), Colour::kNone);
  rows_.push_back(std::move(row));
}

void Table::colour(size_t column, Colour colour) {
  if (!colours_.empty() && column < colours_.back().size()) {
    colours_.back()[column] = colour;
  }
}

void Table::shrinkable(std::initializer_list<size_t> columns) {
  shrinkable_.insert(shrinkable_.end(), columns);
}

void Table::droppable(std::initializer_list<size_t> columns) {
  droppable_.insert(droppable_.end(), columns);
}

std::string Table::render(const OutputStyle& style) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], displayWidth(row[i]));
    }
  }
  std::vector<bool> shown(widths.size(), true);
  std::vector<bool> cut(widths.size(), false);
  if (style.width > 0) {
    const auto isShrinkable = [&](size_t column) {
      return std::find(shrinkable_.begin(), shrinkable_.end(), column) != shrinkable_.end();
    };
    // The width of a line with the shown columns, the shrinkable ones at most `cap` wide.
    const auto lineWidth = [&](size_t cap) {
      size_t total = 0;
      size_t count = 0;
      for (size_t i = 0; i < widths.size(); ++i) {
        if (shown[i]) {
          total += isShrinkable(i) ? std::min(widths[i], cap) : widths[i];
          ++count;
        }
      }
      return total + (count > 0 ? 2 * (count - 1) : 0);
    };
    for (size_t column : droppable_) {
      if (lineWidth(kRoomyColumns) <= style.width) {
        break;
      }
      if (column < shown.size()) {
        shown[column] = false;
      }
    }
    if (lineWidth(SIZE_MAX) > style.width) {
      // Share the room the fixed columns leave, narrowest first: a column that needs less
      // than an equal share keeps its width, and the others split what it leaves.
      std::vector<size_t> order;
      for (size_t i = 0; i < widths.size(); ++i) {
        if (shown[i] && isShrinkable(i)) {
          order.push_back(i);
        }
      }
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return widths[a] < widths[b]; });
      const size_t fixed = lineWidth(0);
      size_t room = style.width > fixed ? style.width - fixed : 0;
      for (size_t k = 0; k < order.size(); ++k) {
        const size_t column = order[k];
        const size_t share = room / (order.size() - k);
        const size_t width =
            std::min(widths[column], std::max(share, std::min(widths[column], kMinShrunkColumns)));
        cut[column] = width < widths[column];
        widths[column] = width;
        room -= std::min(room, width);
      }
    }
  }
  std::string out;
  for (size_t r = 0; r < rows_.size(); ++r) {
    const auto& row = rows_[r];
    size_t last = row.size();  // the last shown cell of the row: no padding after it
    while (last > 0 && !shown[last - 1]) {
      --last;
    }
    std::string line;
    for (size_t i = 0; i < last; ++i) {
      if (!shown[i]) {
        continue;
      }
      const std::string cell = cut[i] ? cutToWidth(row[i], widths[i], style.ellipsis) : row[i];
      line += coloured(cell, colours_[r][i], style);
      if (i + 1 < last) {
        line.append(widths[i] - displayWidth(cell) + 2, ' ');
      }
    }
    out += line + "\n";
  }
  return out;
}

std::string shortTime(const std::optional<TimePoint>& t, std::string_view absent) {
  if (!t) {
    return std::string(absent);
  }
  const std::string iso = formatIsoUtc(*t);  // 2026-11-25T06:30:00.000Z
  return iso.substr(0, 10) + " " + iso.substr(11, 5) + " UTC";
}

std::string shortTimeRange(TimePoint start, TimePoint end) {
  const std::string from = shortTime(start);  // 2026-11-25 05:04 UTC
  const std::string to = shortTime(end);
  return from.substr(0, 16) + " .. " +
         (from.substr(0, 10) == to.substr(0, 10) ? to.substr(11) : to);
}

std::string shortDate(TimePoint t) {
  return formatIsoUtc(t).substr(0, 10);
}

std::string timeAgo(TimePoint t, TimePoint now) {
  if (now - t < std::chrono::seconds(1)) {
    return "just now";
  }
  return formatSpan(now - t) + " ago";
}

std::string keyDetails(const KeyRecord& key, TimePoint now, std::int64_t window_ms,
                       const OutputStyle& style) {
  const KeyStatus status = key.statusAt(now);
  std::string expires = shortTime(key.expires_at, "never");
  if (key.expires_at && status != KeyStatus::kRevoked) {
    expires += *key.expires_at > now ? " (in " + formatSpan(*key.expires_at - now) + ")"
                                     : " (" + formatSpan(now - *key.expires_at) + " ago)";
  }
  Table t({"  ID", key.id});
  t.add({"  Name", key.name});
  t.add({"  User", key.user_id});
  t.add({"  Status", keyStatusName(status)});
  t.colour(1, statusColour(status));
  t.add({"  Scopes", key.scopes.empty() ? "(none)" : joined(key.scopes, ", ")});
  t.add({"  Rate limit",
         std::to_string(key.rate_limit) + " requests per " + formatWindow(window_ms)});
  t.add({"  Prefix", key.key_prefix});
  t.add({"  Created", shortTime(key.created_at)});
  t.add({"  Expires", expires});
  t.add({"  Last used", shortTime(key.last_used_at, "never")});
  if (key.revoked_at) {
    const bool scheduled = *key.revoked_at > now;
    t.add({scheduled ? "  Revoked at" : "  Revoked",
           shortTime(key.revoked_at) +
               (scheduled ? " (scheduled, in " + formatSpan(*key.revoked_at - now) + ")" : "")});
    t.add({"  Reason", key.revoked_reason.value_or("(none given)")});
  }
  if (key.metadata_json != "{}" && !key.metadata_json.empty()) {
    t.add({"  Metadata", key.metadata_json});
  }
  t.shrinkable({1});
  return t.render(style);
}

bool confirm(const Terminal& terminal, const std::string& question, bool force,
             std::string_view what) {
  if (force) {
    return true;
  }
  if (!terminal.stdinIsTerminal()) {
    throw Conflict("refusing to " + std::string(what) +
                   " without confirmation: standard input is not a terminal; pass --force");
  }
  terminal.err(question + " [y/N] ");
  const auto answer = terminal.readLine("the answer");
  return answer && (*answer == "y" || *answer == "Y" || *answer == "yes" || *answer == "YES");
}

namespace {

std::string cliUser() {
  // Under sudo the effective user is root; the person is SUDO_USER.
  const char* sudo_user = std::getenv("SUDO_USER");
  if (::geteuid() == 0 && sudo_user != nullptr && *sudo_user != '\0') {
    return std::string("cli:") + sudo_user + " (via sudo)";
  }
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return std::string("cli:") + pw->pw_name;
  }
  const char* user = std::getenv("USER");
  return std::string("cli:") + (user != nullptr ? user : std::to_string(::geteuid()));
}

}  // namespace

std::string cliActor() {
  return printableTruncated(cliUser(), kMaxActorLength);
}

}  // namespace api
