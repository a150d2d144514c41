// Keys the original TypeScript system issued (its prefix and 43 base64url characters, no
// checksum), on a SQLite database it built: their whole life cycle through the services.
#include <boost/test/unit_test.hpp>
#include <ostream>
#include <string>

#include "domain/errors.hpp"
#include "keys/key_codec.hpp"
#include "services/api_key_service.hpp"
#include "services/rate_limit_service.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "store_fixture.hpp"
#include "usage/usage_service.hpp"
#include "util/span.hpp"

namespace {

using namespace std::chrono_literals;
using api::KeyRejection;

// Two keys as the original system issued them (32 random bytes each, base64url).
const std::string kLegacy = "sk_q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8A";
const std::string kOther = "sk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

// The original system's tables and two of its keys, as it left them: TEXT ids, SQLite's
// CURRENT_TIMESTAMP, no migrations table.
void buildOriginalDatabase(const std::string& path) {
  api::SqliteDb db(path);
  db.exec(
      "CREATE TABLE api_keys (id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE,"
      " key_prefix TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL, scopes TEXT,"
      " rate_limit INTEGER DEFAULT 1000, expires_at DATETIME, last_used_at DATETIME,"
      " created_at DATETIME DEFAULT CURRENT_TIMESTAMP, revoked_at DATETIME,"
      " revoked_reason TEXT, metadata TEXT);"
      "CREATE TABLE api_requests (id TEXT PRIMARY KEY, key_id TEXT NOT NULL,"
      " endpoint TEXT NOT NULL, method TEXT NOT NULL, status_code INTEGER NOT NULL,"
      " response_time INTEGER NOT NULL, ip_address TEXT, user_agent TEXT,"
      " timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
      " FOREIGN KEY (key_id) REFERENCES api_keys(id) ON DELETE CASCADE);"
      "CREATE TABLE api_rate_limits (key_id TEXT NOT NULL, window_start DATETIME NOT NULL,"
      " window_size INTEGER NOT NULL, request_count INTEGER DEFAULT 0,"
      " rate_limit INTEGER NOT NULL, PRIMARY KEY (key_id, window_start));",
      "building the original schema");
  api::Statement insert(db,
                        "INSERT INTO api_keys (id, key_hash, key_prefix, user_id, name, scopes,"
                        " rate_limit, created_at) VALUES (?1, ?2, ?3, 'ann', ?4, '[\"read\"]', 2,"
                        " '2026-11-01 09:00:00')",
                        "inserting an original key");
  insert.bind(1, "4f1c2a9e-0b7d-4c55-9a3e-1d2b3c4d5e6f")
      .bind(2, api::hashKey(kLegacy))
      .bind(3, kLegacy.substr(0, 8))
      .bind(4, "original")
      .run();
  insert.bind(1, "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d")
      .bind(2, api::hashKey(kOther))
      .bind(3, kOther.substr(0, 8))
      .bind(4, "other original")
      .run();
  // Its request log: times as its CURRENT_TIMESTAMP wrote them (UTC, text).
  db.exec(
      "INSERT INTO api_requests (id, key_id, endpoint, method, status_code, response_time,"
      " timestamp) VALUES"
      " ('r1', '4f1c2a9e-0b7d-4c55-9a3e-1d2b3c4d5e6f', '/v1/a', 'GET', 200, 40,"
      "  '2026-11-25 05:10:00'),"
      " ('r2', '4f1c2a9e-0b7d-4c55-9a3e-1d2b3c4d5e6f', '/v1/a', 'GET', 500, 60,"
      "  '2026-11-25 05:20:00'),"
      " ('r3', '9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d', '/v1/b', 'POST', 201, 10,"
      "  '2026-11-24 07:00:00'),"
      " ('r4', '4f1c2a9e-0b7d-4c55-9a3e-1d2b3c4d5e6f', '/v1/a', 'GET', 200, 5,"
      "  '2026-11-20 00:00:00'),"
      " ('r5', '4f1c2a9e-0b7d-4c55-9a3e-1d2b3c4d5e6f', '/v1/a', 'GET', 200, 5, 'yesterday'),"
      // A response time past what a histogram holds, a lower-case method: as this module
      // would have written them.
      " ('r6', '9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d', '/v1/b', 'get', 200, 999999999999,"
      "  '2026-11-25 05:40:00')",
      "writing the original request log");
  // Its rate-limit windows (fixed, an hour long, started at a text time): one request of the
  // other key in the hour now running; a row whose time cannot be read and one of a key that
  // no longer exists, which nothing can honour.
  db.exec(
      "INSERT INTO api_rate_limits VALUES"
      " ('9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d', '2026-11-25 05:30:00', 3600000, 1, 2),"
      " ('9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d', 'soon', 3600000, 1, 2),"
      " ('0000aaaa-gone', '2026-11-25 05:30:00', 3600000, 5, 2)",
      "writing the original rate-limit windows");
}

struct Fixture : testing_support::StoreFixture {
  Fixture() : StoreFixture("2026-11-25T06:00:00.000Z") {}
  const bool original = (buildOriginalDatabase(path), true);  // before any node migrates it
  testing_support::ServiceNode node{path, settings, clock};
  api::RateLimitService limits{settings, node.store, clock, node.logger, node.keys};
};

}  // namespace

// SQLite only, every test: each one starts from a database the original system built, and
// the original system only ever ran on SQLite; the PostgreSQL store has nothing to adopt (no
// path brings the original keys or rows onto it).
BOOST_FIXTURE_TEST_SUITE(legacy_keys, Fixture,
                         *boost::unit_test::precondition(testing_support::sqliteOnly))

BOOST_AUTO_TEST_CASE(a_legacy_key_validates_authorizes_and_counts_against_its_limit) {
  BOOST_REQUIRE(api::isLegacyKey(kLegacy, "sk_") && api::isLegacyKey(kOther, "sk_"));
  const auto v = node.keys.validateKey(kLegacy);
  BOOST_REQUIRE(v.valid);
  BOOST_TEST(v.key->name == "original");
  BOOST_TEST(v.key->user_id == "ann");
  BOOST_TEST(v.key->scopes.size() == 1u);
  BOOST_TEST(limits.authorize(kLegacy).allowed);
  BOOST_TEST(limits.authorize(kLegacy).allowed);
  const auto third = limits.authorize(kLegacy);  // its own limit of 2
  BOOST_TEST(!third.allowed);
  BOOST_TEST(std::string(third.reason) == "over_limit");
}

BOOST_AUTO_TEST_CASE(a_legacy_key_is_revoked_by_full_key_and_rotated_to_a_checksummed_one) {
  const api::KeyRecord revoked = node.keys.revokeKey(kOther, "leaked", "test");
  BOOST_TEST(revoked.id == "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d");
  BOOST_TEST(node.keys.validateKey(kOther).reason == KeyRejection::kRevoked);

  const auto v = node.keys.validateKey(kLegacy);
  BOOST_REQUIRE(v.key != nullptr);
  const auto rotated = node.keys.rotateKey(v.key->id, 0ms, "test");
  BOOST_TEST(api::isWellFormedKey(rotated.secret, "sk_"));  // the new key carries a checksum
  BOOST_TEST(rotated.key.name == "original");
  BOOST_TEST(rotated.key.rate_limit == 2);
  BOOST_TEST(node.keys.validateKey(rotated.secret).valid);
  BOOST_TEST(node.keys.validateKey(kLegacy).reason == KeyRejection::kRevoked);
}

BOOST_AUTO_TEST_CASE(with_legacy_keys_refused_they_are_malformed_and_nothing_is_read) {
  api::ApiSettings strict = settings;
  strict.keys.accept_legacy = false;
  testing_support::ServiceNode strict_node(path, strict, clock);
  BOOST_TEST(strict_node.keys.validateKey(kLegacy).reason == KeyRejection::kMalformed);
  BOOST_CHECK_THROW(strict_node.keys.revokeKey(kLegacy, "r", "test"), api::InvalidInput);
  BOOST_TEST(node.keys.validateKey(kLegacy).valid);  // still active: nothing was changed
}

BOOST_AUTO_TEST_CASE(text_of_neither_shape_is_refused_before_any_lookup) {
  BOOST_TEST(node.keys.validateKey(kLegacy.substr(0, kLegacy.size() - 1)).reason ==
             KeyRejection::kMalformed);
  BOOST_TEST(node.keys.validateKey(kLegacy + "A").reason == KeyRejection::kMalformed);
  const std::string unknown = "sk_" + std::string(42, 'A') + "E";  // legacy shape, no such key
  BOOST_TEST(node.keys.validateKey(unknown).reason == KeyRejection::kNotFound);
}

BOOST_AUTO_TEST_CASE(the_original_rate_limit_counts_are_honoured_where_they_can_be_read) {
  // The other key's one request of the running hour counts: one more fits its limit of 2.
  const auto first = limits.authorize(kOther);
  BOOST_TEST(first.allowed);
  BOOST_TEST(first.limit.remaining == 0);
  BOOST_TEST(std::string(limits.authorize(kOther).reason) == "over_limit");
  const std::string other_id = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d";
  BOOST_TEST(limits.status(other_id).used == 2);
  // Adopted once: another connection opening the file does not count it twice.
  testing_support::ServiceNode again(path, settings, clock);
  api::RateLimitService other(settings, again.store, clock, again.logger, again.keys);
  BOOST_TEST(other.status(other_id).used == 2);
  // Counted at the last millisecond of its hour (06:29:59.999): it slides out a window after
  // that, the one admitted at 06:00 a window after 06:00.
  clock.set(*api::parseIsoUtc("2026-11-25T07:00:00.000Z"));
  BOOST_TEST(other.status(other_id).used == 1);
  clock.set(*api::parseIsoUtc("2026-11-25T07:28:59.999Z"));
  BOOST_TEST(other.status(other_id).used == 1);
  clock.set(*api::parseIsoUtc("2026-11-25T07:29:00.000Z"));
  BOOST_TEST(other.status(other_id).used == 0);
  // What cannot be read is left as it was.
  api::SqliteDb raw(path);
  api::Statement left(raw, "SELECT count(*) FROM api_rate_limits WHERE window_start >= ''",
                      "counting");
  BOOST_REQUIRE(left.step());
  BOOST_TEST(left.columnInt(0) == 2);
}

BOOST_AUTO_TEST_CASE(the_original_request_log_counts_in_statistics_once) {
  api::UsageService usage{settings, node.store.usage(), node.store.keys(), clock};
  const auto day = usage.stats(api::parseSpan("24h"), std::nullopt);
  BOOST_TEST(day.total_requests == 4);  // r1, r2, r3, r6; r4 is older, r5's time unreadable
  BOOST_TEST(day.errors == 1);
  BOOST_TEST(day.unique_keys == 2);
  BOOST_TEST(day.p50_ms == 40);
  BOOST_TEST(day.p99_ms == api::kMaxHistogramValue);  // r6, clamped
  const auto one = usage.stats(api::parseSpan("24h"), "4f1c2a9e-0b7d-4c55-9a3e-1d2b3c4d5e6f");
  BOOST_TEST(one.total_requests == 2);
  BOOST_TEST(usage.stats(api::parseSpan("7d"), std::nullopt).total_requests == 5);

  // Another process adopts nothing more: every row counts once.
  testing_support::ServiceNode other(path, settings, clock);
  api::UsageService again{settings, other.store.usage(), other.store.keys(), clock};
  BOOST_TEST(again.stats(api::parseSpan("7d"), std::nullopt).total_requests == 5);
  BOOST_TEST(usage.stats(api::parseSpan("7d"), std::nullopt).total_requests == 5);
  api::SqliteDb db(path);
  {
    // The raw row says what its rollups say: a period starting inside its hour reads it raw.
    api::Statement r6(db, "SELECT method, response_time FROM api_requests WHERE id = 'r6'", "r6");
    BOOST_REQUIRE(r6.step());
    BOOST_TEST(r6.columnText(0) == "GET");
    BOOST_TEST(r6.columnInt(1) == api::kMaxHistogramValue);
  }
  api::Statement left(db,
                      "SELECT group_concat(id) FROM api_requests WHERE typeof(timestamp) ="
                      " 'text'",
                      "reading");
  BOOST_REQUIRE(left.step());
  BOOST_TEST(left.columnText(0) == "r5");  // the one time nothing can read stays as it was
}

BOOST_AUTO_TEST_SUITE_END()
