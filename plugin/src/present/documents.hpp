// The presentation layer: the documented JSON documents of the api module (a key, an audit
// record, a rate-limit status, a usage report, and the documents of the key commands built
// from them), and their serialisation. The CLI's `--format json` and the C tables' JSON
// (ApiKeyService.get_usage_stats) are both built here, so the two can never drift apart.
//
// What it provides: values in, boost::json values or text out; no I/O, no service call, no
// clock (the caller passes `now`). What it may include: domain/, util/, and the value types
// of services/ and usage/ (KeyValidation, CreatedKey, LimitStatus, UsageStats); never cli/,
// exports/, store/ or api_module.hpp. A new document, or a new field, goes here and in
// README's schema tables together.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/clock.hpp"
#include "domain/records.hpp"
#include "services/api_key_service.hpp"
#include "services/rate_limit_service.hpp"
#include "usage/usage_service.hpp"

namespace api {

// Serialised as Boost.JSON does, except that a number with a fraction is written in plain
// decimal notation ("10.5", "0.0", never "1.05E1"), as the documented schemas show; a
// non-finite double (which no document holds) is written as null.
std::string jsonText(const boost::json::value& value);
// jsonText with a trailing newline, as the CLI prints a document.
std::string jsonLine(const boost::json::value& value);

// A span of ms in the largest whole unit: "1h", "30m", "1500ms".
std::string formatWindow(std::int64_t window_ms);
// The name of a usage series bucket: "hour", "day", or formatWindow of it.
std::string usageBucketName(std::int64_t bucket_ms);

// One key: {"id", "name", "user_id", "key_prefix", "status" (at `now`), "scopes",
// "rate_limit", "created_at", "expires_at", "last_used_at", "revoked_at", "revoked_reason",
// "metadata"}; absent times and reason are null.
boost::json::object keyObject(const KeyRecord& key, TimePoint now);
// {"at", "action", "actor", "reason", "details"}; an empty actor or reason is null.
boost::json::object auditObject(const AuditRecord& record);
// {"limit", "used", "remaining", "window_size", "window_start", "window_end", "reset_at",
// "reset_in", "over_limit"}, then "key_id" when given (api:ratelimit:status adds it).
boost::json::object limitStatusObject(const LimitStatus& status, TimePoint now,
                                      std::optional<std::string_view> key_id = std::nullopt);
// The api:usage document; `period` is the text the period was given as ("24h").
boost::json::object usageObject(const UsageStats& stats, std::string_view period);

// The documents of the key commands (README, "JSON output").
// create: {"secret", "key"}; rotate adds "replaced_key_id" and "replaced_key_revoked_at".
// The caller wipes the secret's copy with wipeSecret once the document is written.
boost::json::object createdKeyDocument(const CreatedKey& created, TimePoint now);
boost::json::object rotatedKeyDocument(const CreatedKey& created, std::string_view replaced_key_id,
                                       TimePoint now);
void wipeSecret(boost::json::object& document) noexcept;
// list: {"keys": [...], "total"}.
boost::json::object keyListDocument(const std::vector<KeyRecord>& keys, TimePoint now);
// info: the key object, then "rate_limit_status" and "usage_24h" when given, then "audit".
boost::json::object keyInfoDocument(const KeyRecord& key, TimePoint now,
                                    const std::optional<LimitStatus>& limit,
                                    const std::optional<UsageStats>& usage_24h,
                                    const std::vector<AuditRecord>& trail);
// verify: {"valid", "reason" (null when valid), "key" (null when not found)}.
boost::json::object verificationDocument(const KeyValidation& validation, TimePoint now);

}  // namespace api
