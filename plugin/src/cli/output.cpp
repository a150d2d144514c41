#include "cli/output.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
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

void Table::add(std::vector<std::string> row) {
  for (std::string& cell : row) {
    if (!printableLength(cell)) {
      cell = printableTruncated(cell, cell.size());
    }
  }
  rows_.push_back(std::move(row));
}

std::string Table::render() const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], displayWidth(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line.append(widths[i] - displayWidth(row[i]) + 2, ' ');
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

std::string keyDetails(const KeyRecord& key, TimePoint now, std::int64_t window_ms) {
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
  return t.render();
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
