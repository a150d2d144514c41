#include "cli/key_commands.hpp"

#include <boost/json/object.hpp>

#include "cli/args.hpp"
#include "cli/output.hpp"
#include "cli/rate_limit_commands.hpp"
#include "cli/usage_commands.hpp"
#include "domain/errors.hpp"
#include "present/documents.hpp"
#include "services/services.hpp"
#include "systemprompt/module_abi.h"
#include "util/secret.hpp"
#include "util/span.hpp"
#include "util/text.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

// `--expires 30d` as milliseconds from now (calendar months and years in UTC).
// `text` as a span from now, at most `max` (described as `max_text`); InvalidInput names the
// option and quotes the text.
std::chrono::milliseconds spanFromNow(const Clock& clock, const std::string& text,
                                      std::string_view option, bool allow_zero,
                                      std::chrono::milliseconds max, std::string_view max_text) {
  std::chrono::milliseconds span{};
  try {
    const Span parsed = allow_zero ? parseSpanAllowZero(text) : parseSpan(text);
    const TimePoint now = clock.now();
    span = addSpan(now, parsed) - now;
  } catch (const std::invalid_argument& e) {
    throw InvalidInput("invalid " + std::string(option) + " \"" + text + "\": " + e.what());
  }
  if (span > max) {
    throw InvalidInput("invalid " + std::string(option) + " \"" + text + "\": too long, at most " +
                       std::string(max_text));
  }
  return span;
}

std::string createdText(const CreatedKey& created, TimePoint now, std::int64_t window_ms,
                        std::string_view headline, const OutputStyle& style) {
  return std::string(headline) + "\nSave this key now: it will not be shown again.\n\n    " +
         created.secret + "\n\n" + keyDetails(created.key, now, window_ms, style);
}

// Writes a text holding a secret, then wipes the text.
void outSecret(const Terminal& terminal, std::string text) {
  const WipeOnExit wiped(text);
  terminal.out(text);
}

// The secret of a new key could not be written: nobody has it, so the key can only be a
// risk (it may sit in a partial write somewhere). Revoke it and say so.
int secretNotDelivered(const Services& services, const CreatedKey& created,
                       const Terminal& terminal) {
  std::string outcome = "it was revoked";
  try {
    services.keys.revokeKey(created.key.id, "secret_not_delivered", cliActor());
  } catch (const std::exception& e) {
    outcome = "revoking it failed (" + std::string(e.what()) + "): revoke it by hand";
  }
  terminal.err("error: the new key " + created.key.id +
               " could not be written to standard output, so its secret is lost; " + outcome +
               "\n");
  return SP_EXIT_FAILURE;
}

}  // namespace

int keysCreate(const Services& services, const CommandArgs& args, const Terminal& terminal) {
  const OutputFormat format = parseFormat(args.string("format"));
  CreateKeyRequest request;
  request.name = args.string("name").value_or("");
  request.user_id = args.string("user").value_or("");
  if (const auto scopes = args.string("scopes")) {
    request.scopes = ApiKeyService::parseScopes(*scopes);
  }
  request.rate_limit = args.integer("limit", "--limit");
  if (const auto expires = args.string("expires")) {
    request.expires_in = spanFromNow(services.clock, *expires, "--expires", false,
                                     ApiKeyService::kMaxLifetime, "100 years");
  }
  request.actor = cliActor();
  protectProcessMemory();  // from here this process holds a secret
  CreatedKey created = services.keys.createKey(request);
  const WipeOnExit wiped(created.secret);
  const TimePoint now = services.clock.now();
  if (format == OutputFormat::kJson) {
    boost::json::object out = createdKeyDocument(created, now);
    outSecret(terminal, jsonLine(out));
    wipeSecret(out);
  } else {
    outSecret(terminal, createdText(created, now, services.settings.rate_limit_window_ms,
                                    "API key created.", outputStyle(terminal, args.flag("wide"))));
  }
  if (terminal.outFailed()) {
    return secretNotDelivered(services, created, terminal);
  }
  return SP_EXIT_OK;
}

int keysList(const Services& services, const CommandArgs& args, const Terminal& terminal) {
  const OutputFormat format = parseFormat(args.string("format"));
  const auto user = args.string("user");
  const bool active_only = args.flag("active");
  const auto keys = services.keys.listKeys(
      user ? std::optional<std::string_view>(*user) : std::nullopt, active_only);
  const TimePoint now = services.clock.now();
  if (format == OutputFormat::kJson) {
    terminal.out(jsonLine(keyListDocument(keys, now)));
    return SP_EXIT_OK;
  }
  if (keys.empty()) {
    std::string filter;
    if (user) {
      filter += " for user \"" + printableTruncated(*user, 200) + "\"";
    }
    terminal.out(std::string(active_only ? "No active API keys" : "No API keys") + filter + ".\n");
    return SP_EXIT_OK;
  }
  const std::string window = formatWindow(services.settings.rate_limit_window_ms);
  Table table(
      {"ID", "NAME", "USER", "STATUS", "LIMIT/" + window, "LAST USED", "CREATED", "PREFIX"});
  size_t counts[3] = {0, 0, 0};
  for (const auto& key : keys) {
    const KeyStatus status = key.statusAt(now);
    ++counts[static_cast<int>(status)];
    table.add({key.id, key.name, key.user_id, keyStatusName(status), std::to_string(key.rate_limit),
               key.last_used_at ? timeAgo(*key.last_used_at, now) : "never",
               shortDate(key.created_at), key.key_prefix});
    table.colour(3, statusColour(status));
  }
  // On an 80-column terminal the id, status, limit and last use leave about 26 columns for
  // the name and user: the prefix and creation date give way before they are cut further.
  table.shrinkable({1, 2});
  table.droppable({7, 6});
  std::string total = "\n" + std::to_string(keys.size()) + (keys.size() == 1 ? " key" : " keys") +
                      " (" + std::to_string(counts[0]) + " active, " + std::to_string(counts[1]) +
                      " revoked, " + std::to_string(counts[2]) + " expired)\n";
  terminal.out(table.render(outputStyle(terminal, args.flag("wide"))) + total);
  return SP_EXIT_OK;
}

int keysInfo(const Services& services, const CommandArgs& args, const Terminal& terminal) {
  const OutputFormat format = parseFormat(args.string("format"));
  const std::string id = args.string("key_id").value_or("");
  const KeyRecord key = services.keys.getKey(id);
  const auto trail = services.keys.auditTrail(id);
  const TimePoint now = services.clock.now();
  std::optional<LimitStatus> limit;
  if (!args.flag("no-ratelimit")) {
    limit = services.limits.status(id);
  }
  std::optional<UsageStats> usage;
  if (!args.flag("no-stats")) {
    usage = services.usage.stats(Span{24, 'h'}, id);
  }
  if (format == OutputFormat::kJson) {
    terminal.out(jsonLine(keyInfoDocument(key, now, limit, usage, trail)));
    return SP_EXIT_OK;
  }
  const OutputStyle style = outputStyle(terminal, args.flag("wide"));
  std::string text = "API key " + key.id + "\n" +
                     keyDetails(key, now, services.settings.rate_limit_window_ms, style);
  if (limit) {
    text += "\nRate limit:\n" +
            limitStatusText(*limit, now, services.settings.rate_limit_sub_windows, style);
  }
  if (usage) {
    text += "\nUsage, last 24h:\n" + keyUsageText(*usage);
  }
  text += "\nAudit history:\n";
  Table audit({"  WHEN", "ACTION", "BY", "REASON / DETAILS"});
  for (const auto& record : trail) {
    std::string about = record.reason;
    if (record.details_json != "{}" && !record.details_json.empty()) {
      about += (about.empty() ? "" : "; ") + record.details_json;
    }
    audit.add({"  " + shortTime(record.at), record.action,
               record.actor.empty() ? "-" : record.actor, about});
  }
  audit.shrinkable({2, 3});
  terminal.out(text + (trail.empty() ? "  (none)\n" : audit.render(style)));
  return SP_EXIT_OK;
}

int keysRevoke(const Services& services, const CommandArgs& args, const Terminal& terminal) {
  std::string key_or_id = args.string("key").value_or("");
  const WipeOnExit wiped(key_or_id);  // it may be a full key
  const std::string reason = args.string("reason").value_or("");
  if (key_or_id.rfind(services.settings.key_prefix, 0) == 0 || key_or_id == "-") {
    protectProcessMemory();
  }
  if (key_or_id == "-") {  // the key on standard input, kept out of argv and shell history
    auto line = terminal.readSecret("the key");
    if (!line) {
      throw InvalidInput("\"-\" reads the key from standard input, but it is empty");
    }
    const WipeOnExit wiped_line(*line);
    while (!line->empty() && (line->back() == ' ' || line->back() == '\t')) {
      line->pop_back();
    }
    key_or_id.assign(*line);
  }
  // Describe the key without echoing a secret the user may have passed.
  const bool is_secret =
      key_or_id.rfind(services.settings.key_prefix, 0) == 0 && !looksLikeKeyId(key_or_id);
  const std::string shown =
      is_secret ? "the key starting \"" + key_or_id.substr(0, 8) + "\"" : quotedId(key_or_id);
  if (!confirm(terminal, "Revoke " + shown + "? It stops working at once.", args.flag("force"),
               "revoke " + shown)) {
    terminal.err("Not revoked.\n");
    return SP_EXIT_FAILURE;
  }
  const KeyRecord key = services.keys.revokeKey(key_or_id, reason, cliActor());
  terminal.out("Revoked key " + key.id + " (" + key.name + ") of user " + key.user_id + " at " +
               formatIsoUtc(*key.revoked_at) + (reason.empty() ? "" : ". Reason: " + reason) +
               "\n");
  return SP_EXIT_OK;
}

int keysRotate(const Services& services, const CommandArgs& args, const Terminal& terminal) {
  const OutputFormat format = parseFormat(args.string("format"));
  const std::string id = args.string("key_id").value_or("");
  const auto grace_text = args.string("grace").value_or("0h");
  const auto grace =
      spanFromNow(services.clock, grace_text, "--grace", true, ApiKeyService::kMaxGrace, "1 year");
  const std::string consequence = grace.count() == 0
                                      ? "the old key stops working at once"
                                      : "the old key keeps working for " + formatSpan(grace);
  if (!confirm(terminal,
               "Rotate key " + quotedId(id) + "? A new key is issued and " + consequence + ".",
               args.flag("force"), "rotate " + quotedId(id))) {
    terminal.err("Not rotated.\n");
    return SP_EXIT_FAILURE;
  }
  protectProcessMemory();  // from here this process holds a secret
  CreatedKey created = services.keys.rotateKey(id, grace, cliActor());
  const WipeOnExit wiped(created.secret);
  const TimePoint now = services.clock.now();
  if (format == OutputFormat::kJson) {
    boost::json::object out = rotatedKeyDocument(created, id, now);
    outSecret(terminal, jsonLine(out));
    wipeSecret(out);
  } else {
    outSecret(terminal,
              createdText(created, now, services.settings.rate_limit_window_ms,
                          "API key " + id + " rotated.", outputStyle(terminal, args.flag("wide"))) +
                  "\nThe old key " + id +
                  (grace.count() == 0
                       ? " is revoked (reason: rotated).\n"
                       : " keeps working until " + formatIsoUtc(*created.replaced_key_revoked_at) +
                             ",\nthen is revoked (reason: rotated).\n"));
  }
  if (terminal.outFailed()) {
    // Nobody holds the new key: take the rotation back, so that its owner is not locked out.
    std::string outcome;
    try {
      outcome = services.keys.undoRotation(id, created, cliActor())
                    ? "the rotation was undone: " + created.key.id +
                          " is revoked and the old key " + id + " works as before"
                    : created.key.id + " is revoked; the old key " + id +
                          " was changed meanwhile and is left as it is";
    } catch (const std::exception& e) {
      outcome = "undoing the rotation failed (" + std::string(e.what()) + "): revoke " +
                created.key.id + " by hand";
    }
    terminal.err("error: the new key " + created.key.id +
                 " could not be written to standard output, so its secret is lost; " + outcome +
                 "\n");
    return SP_EXIT_FAILURE;
  }
  return SP_EXIT_OK;
}

int keysVerify(const Services& services, const CommandArgs& args, const Terminal& terminal) {
  const OutputFormat format = parseFormat(args.string("format"));
  protectProcessMemory();  // this process holds a secret
  std::string key = args.string("key").value_or("");
  const WipeOnExit wiped(key);
  if (!args.string("key")) {
    if (terminal.stdinIsTerminal()) {
      terminal.err(terminal.hidesSecrets() ? "Paste the key and press Enter (it is not shown): "
                                           : "Paste the key and press Enter: ");
    }
    std::optional<std::string> line = terminal.readSecret("the key");
    if (!line) {
      throw InvalidInput("no key given: pass it as an argument or on standard input");
    }
    const WipeOnExit wiped_line(*line);
    while (!line->empty() && (line->back() == ' ' || line->back() == '\t')) {
      line->pop_back();
    }
    key.assign(*line);
  }
  const KeyValidation v = services.keys.validateKey(key, /*record_use=*/false);
  const TimePoint now = services.clock.now();
  if (format == OutputFormat::kJson) {
    terminal.out(jsonLine(verificationDocument(v, now)));
    return v.valid ? SP_EXIT_OK : SP_EXIT_FAILURE;
  }
  const OutputStyle style = outputStyle(terminal, args.flag("wide"));
  if (v.valid) {
    terminal.out(coloured("valid", Colour::kGreen, style) + "\n" +
                 keyDetails(*v.key, now, services.settings.rate_limit_window_ms, style));
  } else {
    std::string why = keyRejectionName(v.reason);
    if (v.reason == KeyRejection::kMalformed) {
      why += ": wrong prefix, length, characters or checksum";
    } else if (v.reason == KeyRejection::kNotFound) {
      why += ": well-formed, but no such key exists";
    } else if (v.reason == KeyRejection::kInternalError) {
      why += ": the key store could not be read; see the log";
    }
    terminal.out(
        coloured("invalid", Colour::kRed, style) + ": " + why + "\n" +
        (v.key ? keyDetails(*v.key, now, services.settings.rate_limit_window_ms, style) : ""));
  }
  return v.valid ? SP_EXIT_OK : SP_EXIT_FAILURE;
}

}  // namespace api
