// ApiKeyService against a real SQLite store in a temporary directory, with simulated time.
#include "services/api_key_service.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <functional>
#include <future>
#include <ostream>
#include <thread>

#include "domain/errors.hpp"
#include "keys/key_codec.hpp"
#include "services/rate_limit_service.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "store_fixture.hpp"
#include "util/time_text.hpp"

namespace {

using namespace std::chrono_literals;
using api::ApiKeyService;
using api::CreateKeyRequest;
using api::KeyRejection;
using testing_support::ServiceNode;

struct Fixture : testing_support::StoreFixture {
  Fixture() : StoreFixture("2026-11-25T06:00:00.000Z") {}

  ServiceNode node{path, settings, clock};
  ApiKeyService& keys = node.keys;

  CreateKeyRequest request(std::string user = "alice@example.com") const {
    CreateKeyRequest r;
    r.user_id = std::move(user);
    r.name = "Production API";
    r.scopes = {"read", "write"};
    r.actor = "test";
    return r;
  }
  // Rows in every key table: changes if anything was written.
  std::string fingerprint() {
    std::string out;
    for (const char* table : {"api_keys", "api_key_audit", "api_rate_limits"}) {
      out += testing_support::queryValue(path, std::string("SELECT count(*) FROM ") + table) + "/";
    }
    for (const auto& row : testing_support::querySql(
             path, "SELECT revoked_at FROM api_keys WHERE revoked_at IS NOT NULL ORDER BY id")) {
      out += row.front() + ",";
    }
    return out;
  }
};

template <typename Exception>
std::string failureOf(const std::function<void()>& action) {
  try {
    action();
  } catch (const Exception& e) {
    return e.what();
  }
  return "(no failure)";
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(api_key_service, Fixture)

BOOST_AUTO_TEST_CASE(a_created_key_validates_with_its_fields_and_only_its_hash_is_stored) {
  auto r = request();
  r.rate_limit = 5000;
  r.expires_in = 30 * 24h;
  r.metadata_json = R"({"team": "billing"})";
  const api::CreatedKey created = keys.createKey(r);
  BOOST_TEST(api::isWellFormedKey(created.secret, "sk_"));
  BOOST_TEST(created.key.key_hash == api::hashKey(created.secret));
  BOOST_TEST(created.key.key_prefix == created.secret.substr(0, 8));
  BOOST_TEST(created.key.id.rfind("key_", 0) == 0);

  const api::KeyValidation v = keys.validateKey(created.secret);
  BOOST_TEST(v.valid);
  BOOST_TEST(v.reason == KeyRejection::kNone);
  BOOST_REQUIRE(v.key != nullptr);
  BOOST_TEST(v.key->id == created.key.id);
  BOOST_TEST(v.key->user_id == "alice@example.com");
  BOOST_TEST((v.key->scopes == std::vector<std::string>{"read", "write"}));
  BOOST_TEST(v.key->rate_limit == 5000);
  BOOST_TEST(api::formatIsoUtc(*v.key->expires_at) == "2026-12-25T06:00:00.000Z");
  BOOST_TEST(v.key->metadata_json == R"({"team":"billing"})");

  BOOST_TEST(testing_support::queryValue(path, "SELECT count(*) FROM api_keys WHERE key_hash = '" +
                                                   api::hashKey(created.secret) + "'") == "1");
}

BOOST_AUTO_TEST_CASE(the_default_limit_comes_from_settings) {
  settings.rate_limits.default_limit = 777;
  BOOST_TEST(keys.createKey(request()).key.rate_limit == 777);
}

BOOST_AUTO_TEST_CASE(validation_answers_malformed_not_found_revoked_expired_in_that_order) {
  BOOST_TEST(keyRejectionName(keys.validateKey("sk_nope").reason) == std::string("malformed"));
  BOOST_TEST(keyRejectionName(keys.validateKey("").reason) == std::string("malformed"));
  BOOST_TEST(keyRejectionName(keys.validateKey(api::generateKey("sk_")).reason) ==
             std::string("not_found"));
  auto r = request();
  r.expires_in = 1h;
  const auto created = keys.createKey(r);
  clock.advance(59min);
  BOOST_TEST(keys.validateKey(created.secret).valid);
  clock.advance(1min);  // expires_at itself is no longer valid
  const auto expired = keys.validateKey(created.secret);
  BOOST_TEST(!expired.valid);
  BOOST_TEST(expired.reason == KeyRejection::kExpired);
  keys.revokeKey(created.key.id, "too late", "test");
  BOOST_TEST(keys.validateKey(created.secret).reason == KeyRejection::kRevoked);  // revoked wins
}

BOOST_AUTO_TEST_CASE(bad_input_is_rejected_clearly_and_writes_nothing) {
  keys.createKey(request());  // something to keep
  const std::string before = fingerprint();
  struct Case {
    std::function<void(CreateKeyRequest&)> change;
    const char* expected;
  };
  const std::vector<Case> cases{
      {[](auto& r) { r.name = ""; }, "name must not be empty"},
      {[](auto& r) { r.name = std::string(201, 'n'); }, "name is 201 characters long; at most 200"},
      {[](auto& r) { r.name = "tab\there"; }, "name must be printable UTF-8"},
      {[](auto& r) { r.name = "\xff\xfe"; }, "name must be printable UTF-8"},
      {[](auto& r) { r.name = "   "; }, "name must not be blank"},
      {[](auto& r) { r.name = "evil\u202Egnp.exe"; }, "without control or bidirectional"},
      {[](auto& r) {
         r.name =
             "csi\xc2\x9b"
             "31m";
       },
       "name must be printable UTF-8"},                                            // C1
      {[](auto& r) { r.name = "\xed\xa0\x80"; }, "name must be printable UTF-8"},  // surrogate
      {[](auto& r) { r.name = "\xe0\x80\xaf"; }, "name must be printable UTF-8"},  // overlong
      {[](auto& r) { r.user_id = ""; }, "user must not be empty"},
      {[](auto& r) { r.user_id = " "; }, "user must not be blank"},
      {[](auto& r) { r.user_id = std::string(201, 'u'); }, "user is 201 characters long"},
      {[](auto& r) { r.scopes = {"Read"}; }, "invalid scope \"Read\""},
      {[](auto& r) { r.scopes = {"a b"}; }, "invalid scope"},
      {[](auto& r) { r.rate_limit = 0; }, "rate limit 0 is out of range: use 1..1000000000"},
      {[](auto& r) { r.rate_limit = 1'000'000'001; }, "rate limit 1000000001 is out of range"},
      {[](auto& r) { r.expires_in = 0ms; }, "expiry of 0 ms is out of range"},
      {[](auto& r) { r.expires_in = -5ms; }, "expiry of -5 ms is out of range"},
      {[](auto& r) { r.metadata_json = "[1]"; }, "metadata must be a JSON object"},
      {[](auto& r) { r.metadata_json = "{"; }, "metadata must be a JSON object"},
      {[](auto& r) { r.metadata_json = "{\"a\":\"" + std::string(5000, 'x') + "\"}"; },
       "metadata is 5008 bytes; at most 4096"},
      {[](auto& r) { r.name = std::string(128 * 1024, 'n'); },
       "name is 131072 bytes long; at most 200 characters"},
      // The actor a sibling module passes is stored and printed: no terminal escapes, no
      // line breaks that could forge an audit row.
      {[](auto& r) { r.actor = "svc\x1b[2J"; }, "actor must be printable UTF-8"},
      {[](auto& r) { r.actor = "svc\nrevoke key_1 by admin"; }, "actor must be printable UTF-8"},
      {[](auto& r) { r.actor = "svc\u202E"; }, "actor must be printable UTF-8"},
      {[](auto& r) { r.actor = std::string(201, 'a'); }, "actor is 201 characters long"},
  };
  for (const Case& c : cases) {
    auto r = request();
    c.change(r);
    const std::string message = failureOf<api::InvalidInput>([&] { keys.createKey(r); });
    BOOST_TEST(message.find(c.expected) != std::string::npos,
               "got: " << message << "; expected: " << c.expected);
  }
  BOOST_TEST(failureOf<api::InvalidInput>([] {
               ApiKeyService::parseScopes("read,,write");
             }).find("invalid scope \"\"") != std::string::npos);
  BOOST_TEST(failureOf<api::InvalidInput>([] {
               ApiKeyService::parseScopes(std::string(size_t{40} * 3, 'a'));
             }).find("each at most 64") != std::string::npos);
  BOOST_TEST(fingerprint() == before);
  // Bounded before any work: a huge list is refused by its length, a long one of many
  // distinct scopes as soon as the 33rd appears.
  BOOST_TEST(failureOf<api::InvalidInput>([] {
               ApiKeyService::parseScopes(std::string(130'000, 'a'));
             }).find("the scope list is 130000 bytes long") != std::string::npos);
  std::string many;
  for (int i = 0; i < 40; ++i) {
    many += (i > 0 ? "," : "") + std::string("s") + std::to_string(i);
  }
  BOOST_TEST(failureOf<api::InvalidInput>([&] {
               ApiKeyService::parseScopes(many);
             }).find("too many scopes (more than 32)") != std::string::npos);
  const auto created = keys.createKey(request());
  const std::string after_create = fingerprint();
  BOOST_TEST(failureOf<api::InvalidInput>([&] {
               keys.revokeKey(created.key.id, "", "x\x1b]0;owned\x07");
             }).find("actor must be printable") != std::string::npos);
  BOOST_TEST(failureOf<api::InvalidInput>([&] {
               keys.rotateKey(created.key.id, 0ms, "\r\n");
             }).find("actor must be printable") != std::string::npos);
  BOOST_TEST(fingerprint() == after_create);
  BOOST_TEST((ApiKeyService::parseScopes("read, write,read,admin:keys") ==
              std::vector<std::string>{"read", "write", "admin:keys"}));
}

BOOST_AUTO_TEST_CASE(a_user_never_exceeds_max_keys_per_user) {
  settings.keys.max_active_per_user = 2;
  const auto first = keys.createKey(request());
  keys.createKey(request());
  const std::string before = fingerprint();
  const std::string message = failureOf<api::Conflict>([&] { keys.createKey(request()); });
  BOOST_TEST(message.find("already has 2 active keys (maxKeysPerUser)") != std::string::npos,
             message);
  BOOST_TEST(fingerprint() == before);
  keys.createKey(request("bob"));  // other users are not affected
  keys.revokeKey(first.key.id, "", "test");
  keys.createKey(request());  // a revoked key frees a place
}

BOOST_AUTO_TEST_CASE(revoke_by_key_or_id_clears_windows_and_refuses_twice) {
  const auto a = keys.createKey(request());
  const auto b = keys.createKey(request());
  testing_support::execSql(
      path, "INSERT INTO api_rate_limits VALUES ('" + a.key.id + "', 0, 60000, 3, 1000)");
  const api::KeyRecord revoked = keys.revokeKey(a.secret, "Security breach", "test");
  BOOST_TEST(revoked.id == a.key.id);
  BOOST_TEST(revoked.revoked_reason.value_or("") == "Security breach");
  BOOST_TEST(fingerprint().find("/0/") != std::string::npos, fingerprint());  // windows cleared
  clock.advance(5min);
  const std::string twice =
      failureOf<api::Conflict>([&] { keys.revokeKey(a.key.id, "again", "test"); });
  BOOST_TEST(
      twice.find("was already revoked at 2026-11-25T06:00:00.000Z (reason: Security breach)") !=
          std::string::npos,
      twice);
  keys.revokeKey(b.key.id, "", "test");
  BOOST_TEST(failureOf<api::NotFound>([&] {
               keys.revokeKey("key_missing", "", "t");
             }).find("no key with id \"key_missing\"") != std::string::npos);
  const std::string malformed =
      failureOf<api::InvalidInput>([&] { keys.revokeKey(a.secret.substr(0, 20), "", "t"); });
  BOOST_TEST(malformed.find("malformed") != std::string::npos);
  BOOST_TEST(malformed.find(a.secret.substr(0, 20)) == std::string::npos);  // never echoed
}

BOOST_AUTO_TEST_CASE(rotation_inherits_everything_and_honours_the_grace_period) {
  auto r = request();
  r.rate_limit = 250;
  r.expires_in = 10 * 24h;
  r.metadata_json = R"({"env":"prod"})";
  const auto old = keys.createKey(r);
  clock.advance(1h);
  const auto fresh = keys.rotateKey(old.key.id, 24h, "test");
  BOOST_TEST(fresh.key.user_id == old.key.user_id);
  BOOST_TEST(fresh.key.name == old.key.name);
  BOOST_TEST(fresh.key.scopes == old.key.scopes);
  BOOST_TEST(fresh.key.rate_limit == 250);
  BOOST_TEST((fresh.key.expires_at == old.key.expires_at));  // never extended
  BOOST_TEST(fresh.key.metadata_json == old.key.metadata_json);
  BOOST_TEST(fresh.secret != old.secret);

  clock.advance(24h - 1ms);
  BOOST_TEST(keys.validateKey(old.secret).valid);
  BOOST_TEST(keys.validateKey(fresh.secret).valid);
  clock.advance(1ms);
  const auto after = keys.validateKey(old.secret);
  BOOST_TEST(after.reason == KeyRejection::kRevoked);
  BOOST_TEST(after.key->revoked_reason.value_or("") == "rotated");
  BOOST_TEST(keys.validateKey(fresh.secret).valid);

  const auto old_trail = keys.auditTrail(old.key.id);
  BOOST_REQUIRE(old_trail.size() == 2u);
  BOOST_TEST(old_trail[1].action == "rotate");
  BOOST_TEST(old_trail[1].details_json.find(fresh.key.id) != std::string::npos);
  const auto new_trail = keys.auditTrail(fresh.key.id);
  BOOST_REQUIRE(new_trail.size() == 1u);
  BOOST_TEST(new_trail[0].details_json.find("\"rotated_from\":\"" + old.key.id + "\"") !=
             std::string::npos);

  BOOST_TEST(failureOf<api::Conflict>([&] {
               keys.rotateKey(old.key.id, 0ms, "t");
             }).find("only an active key can be rotated") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_key_in_its_grace_period_cannot_be_rotated_again) {
  const auto old = keys.createKey(request());
  keys.rotateKey(old.key.id, 1h, "test");
  const std::string before = fingerprint();
  const std::string message =
      failureOf<api::Conflict>([&] { keys.rotateKey(old.key.id, 24h * 365, "test"); });
  BOOST_TEST(message.find("was already rotated; it is revoked at 2026-11-25T07:00:00.000Z") !=
                 std::string::npos,
             message);
  BOOST_TEST(fingerprint() == before);  // the scheduled revocation did not move
}

BOOST_AUTO_TEST_CASE(a_grace_period_counts_against_max_keys_per_user) {
  settings.keys.max_active_per_user = 1;
  const auto old = keys.createKey(request());
  const std::string before = fingerprint();
  const std::string message =
      failureOf<api::Conflict>([&] { keys.rotateKey(old.key.id, 1h, "test"); });
  BOOST_TEST(message.find("already has 1 active keys (maxKeysPerUser)") != std::string::npos,
             message);
  BOOST_TEST(fingerprint() == before);
  const auto fresh = keys.rotateKey(old.key.id, 0ms, "test");  // swaps one for one: allowed
  BOOST_TEST(keys.listKeys(std::string_view(fresh.key.user_id), true).size() == 1u);
}

BOOST_AUTO_TEST_CASE(rotation_without_grace_revokes_at_once_and_keeps_no_expiry) {
  const auto old = keys.createKey(request());
  const auto fresh = keys.rotateKey(old.key.id, 0ms, "test");
  BOOST_TEST(keys.validateKey(old.secret).reason == KeyRejection::kRevoked);
  BOOST_TEST(!fresh.key.expires_at.has_value());
  BOOST_TEST(keys.validateKey(fresh.secret).valid);
}

BOOST_AUTO_TEST_CASE(last_used_is_kept_within_a_minute_without_a_write_per_validation) {
  const auto created = keys.createKey(request());
  const auto stored_last_used = [&] { return keys.getKey(created.key.id).last_used_at; };
  BOOST_TEST(!stored_last_used().has_value());
  keys.validateKey(created.secret);
  const auto first = stored_last_used();
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST(api::formatIsoUtc(*first) == "2026-11-25T06:00:00.000Z");
  clock.advance(59s);
  keys.validateKey(created.secret);
  BOOST_TEST((stored_last_used() == first));  // no write
  clock.advance(1s);
  keys.validateKey(created.secret);
  BOOST_TEST(api::formatIsoUtc(*stored_last_used()) == "2026-11-25T06:01:00.000Z");
}

BOOST_AUTO_TEST_CASE(validation_never_waits_for_another_process_lock_to_record_last_use) {
  // A store that would wait ten minutes for a lock: validation must not use that wait.
  ServiceNode slow(path, settings, clock, 600'000);
  ApiKeyService& slow_keys = slow.keys;
  const auto created = keys.createKey(request());
  // SQLite: the database's write lock; PostgreSQL: the key's row, as a change in progress.
  testing_support::SqlSession locker(path);
  locker.exec(testing_support::onPostgres()
                  ? "BEGIN; SELECT 1 FROM api_keys WHERE id = '" + created.key.id + "' FOR UPDATE"
                  : std::string("BEGIN IMMEDIATE"));
  auto answer =
      std::async(std::launch::async, [&] { return slow_keys.validateKey(created.secret); });
  const bool finished = answer.wait_for(30s) == std::future_status::ready;
  locker.exec("ROLLBACK");
  BOOST_REQUIRE_MESSAGE(finished, "validation waited for the write lock");
  BOOST_TEST(answer.get().valid);
  BOOST_TEST(!keys.getKey(created.key.id).last_used_at.has_value());  // could not be written
  clock.advance(999ms);
  slow_keys.validateKey(created.secret);
  BOOST_TEST(!keys.getKey(created.key.id).last_used_at.has_value());  // no retry within 1 s
  clock.advance(1ms);
  slow_keys.validateKey(created.secret);
  BOOST_TEST(keys.getKey(created.key.id).last_used_at.has_value());  // retried once free
}

BOOST_AUTO_TEST_CASE(validation_never_queues_behind_a_check_waiting_for_a_lock) {
  // As ApiModule builds it: checks on one connection that waits long for another process's
  // write lock, validation on a connection of its own.
  const auto writer_stores = testing_support::openTestStores(path, 600'000);
  const auto lookup_stores = testing_support::openTestStores(path, 600'000);
  api::Stores& writer = *writer_stores;
  ApiKeyService module_keys(settings, writer.keys(), lookup_stores->keys(), writer.windows(), clock,
                            node.logger);
  api::RateLimitService limits(settings, writer, clock, node.logger, module_keys);
  const auto created = keys.createKey(request());
  const auto fresh = keys.createKey(request("bob@example.com"));  // never validated before
  BOOST_REQUIRE(module_keys.validateKey(created.secret).valid);   // cached under this stamp

  // SQLite: the database's write lock; PostgreSQL: the key's window lock, held by a session.
  testing_support::SqlSession locker(path);
  locker.exec(testing_support::onPostgres()
                  ? "SELECT pg_advisory_lock(hashtextextended('" + created.key.id + "', 17))"
                  : std::string("BEGIN IMMEDIATE"));
  auto check = std::async(std::launch::async, [&] { return limits.check(created.key.id); });
  // The check now holds the writer connection while it waits for the lock; validations of
  // this process must still answer, from the cache and from the store alike.
  BOOST_REQUIRE(check.wait_for(200ms) == std::future_status::timeout);
  auto cached =
      std::async(std::launch::async, [&] { return module_keys.validateKey(created.secret); });
  const bool cached_answered = cached.wait_for(30s) == std::future_status::ready;
  auto looked_up =
      std::async(std::launch::async, [&] { return module_keys.validateKey(fresh.secret); });
  const bool lookup_answered = looked_up.wait_for(30s) == std::future_status::ready;
  const bool check_still_waiting = check.wait_for(0ms) == std::future_status::timeout;
  locker.exec(testing_support::onPostgres() ? "SELECT pg_advisory_unlock_all()" : "ROLLBACK");
  BOOST_TEST(check_still_waiting);
  BOOST_REQUIRE_MESSAGE(cached_answered && lookup_answered,
                        "a validation waited behind the check's lock wait");
  BOOST_TEST(cached.get().valid);
  BOOST_TEST(looked_up.get().valid);
  BOOST_TEST(check.get().allowed);
}

BOOST_AUTO_TEST_CASE(an_expiry_or_grace_past_year_9999_is_refused_not_written) {
  clock.set(*api::parseIsoUtc("9990-01-01T00:00:00.000Z"));
  auto r = request();
  r.expires_in = ApiKeyService::kMaxLifetime;
  const std::string before = fingerprint();
  BOOST_TEST(failureOf<api::InvalidInput>([&] {
               keys.createKey(r);
             }).find("past 9999-12-31T23:59:59.999Z") != std::string::npos);
  BOOST_TEST(fingerprint() == before);
  const auto created = keys.createKey(request());
  clock.set(*api::parseIsoUtc("9999-12-01T00:00:00.000Z"));
  BOOST_TEST(failureOf<api::InvalidInput>([&] {
               keys.rotateKey(created.key.id, 60 * 24h, "t");
             }).find("grace period of") != std::string::npos);
  BOOST_TEST(keys.validateKey(created.secret).valid);  // the old key was left as it was
}

BOOST_AUTO_TEST_CASE(an_undelivered_rotation_is_undone_unless_the_old_key_changed_since) {
  const auto old = keys.createKey(request());
  const auto rotated = keys.rotateKey(old.key.id, 0ms, "ops");
  BOOST_TEST(!keys.validateKey(old.secret).valid);
  BOOST_TEST(keys.undoRotation(old.key.id, rotated, "ops"));
  BOOST_TEST(keys.validateKey(old.secret).valid);
  const api::KeyValidation replacement = keys.validateKey(rotated.secret);
  BOOST_TEST(replacement.reason == KeyRejection::kRevoked);
  BOOST_TEST(replacement.key->revoked_reason.value_or("") == "secret_not_delivered");
  const auto trail = keys.auditTrail(old.key.id);
  BOOST_TEST(trail.back().action == "rotation_undone");
  BOOST_TEST(trail.back().reason == "secret_not_delivered");

  // Revoked by someone else meanwhile (here: an operator ended the grace period at once):
  // that revocation stands, and only the new key is revoked.
  const auto second = keys.rotateKey(old.key.id, 1h, "ops");
  keys.revokeKey(old.key.id, "compromised", "ops");
  BOOST_TEST(!keys.undoRotation(old.key.id, second, "ops"));
  BOOST_TEST(keys.getKey(old.key.id).revoked_reason.value_or("") == "compromised");
  BOOST_TEST(keys.validateKey(second.secret).reason == KeyRejection::kRevoked);
}

BOOST_AUTO_TEST_CASE(ids_that_may_be_secrets_are_never_echoed_in_full) {
  const auto created = keys.createKey(request());
  for (const std::string& given : {created.secret, " " + created.secret, created.secret.substr(3),
                                   std::string("key_0123456789abcdef")}) {
    std::string messages = failureOf<api::NotFound>([&] { keys.getKey(given); });
    messages += failureOf<api::NotFound>([&] { keys.rotateKey(given, 0ms, "t"); });
    if (given.rfind("sk_", 0) != 0) {
      messages += failureOf<api::NotFound>([&] { keys.revokeKey(given, "", "t"); });
    }
    BOOST_TEST(messages.find(created.secret.substr(8)) == std::string::npos, messages);
    BOOST_TEST(messages.find("no key with id") != std::string::npos, messages);
  }
  BOOST_TEST(failureOf<api::NotFound>([&] {
               keys.getKey("key_0123456789abcdef");
             }).find("\"key_0123456789abcdef\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_revocation_by_another_connection_is_seen_by_the_next_validation) {
  const auto created = keys.createKey(request());
  ServiceNode other(path, settings, clock);  // as another process would
  BOOST_TEST(keys.validateKey(created.secret).valid);
  other.keys.revokeKey(created.key.id, "from elsewhere", "other");
  BOOST_TEST(keys.validateKey(created.secret).reason == KeyRejection::kRevoked);
}

// SQLite stores times as text, which other software may write in any form.
BOOST_AUTO_TEST_CASE(an_unreadable_revocation_time_fails_closed_and_offsets_are_understood,
                     *boost::unit_test::precondition(testing_support::sqliteOnly)) {
  const auto created = keys.createKey(request());
  const auto set_revoked_at = [&](const std::string& value) {
    api::SqliteDb db(path);
    api::Statement update(db, "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1", "update");
    update.bind(1, created.key.id).bind(2, value).run();
    clock.advance(ApiKeyService::kExternalChangeBound);  // written as other software would
  };
  set_revoked_at("2026-11-25T07:00:00+02:00");  // 05:00Z: an hour before the clock
  BOOST_TEST(keys.validateKey(created.secret).reason == KeyRejection::kRevoked);
  set_revoked_at("2026-11-25 05:30:00");  // as the original system's CURRENT_TIMESTAMP wrote
  BOOST_TEST(keys.validateKey(created.secret).reason == KeyRejection::kRevoked);
  set_revoked_at("2026-11-25T06:30:00-01:00");  // 07:30Z: scheduled, still active
  BOOST_TEST(keys.validateKey(created.secret).valid);
  set_revoked_at("1700000000000");  // not a time this module can read: never "not revoked"
  BOOST_TEST(keys.validateKey(created.secret).reason == KeyRejection::kInternalError);
}

BOOST_AUTO_TEST_CASE(validation_for_an_operator_does_not_count_as_a_use) {
  const auto created = keys.createKey(request());
  BOOST_TEST(keys.validateKey(created.secret, /*record_use=*/false).valid);
  BOOST_TEST(!keys.getKey(created.key.id).last_used_at.has_value());
  BOOST_TEST(keys.validateKey(created.secret).valid);
  BOOST_TEST(keys.getKey(created.key.id).last_used_at.has_value());
}

// SQLite: a change made without this module moves no epoch (PostgreSQL's trigger sees every
// change: the next test).
BOOST_AUTO_TEST_CASE(a_key_changed_by_other_software_is_seen_within_the_stated_bound,
                     *boost::unit_test::precondition(testing_support::sqliteOnly)) {
  const auto created = keys.createKey(request());
  BOOST_TEST(keys.validateKey(created.secret, false).valid);  // now cached
  {
    // As the sqlite3 shell would: no key change epoch moves.
    api::SqliteDb other(path);
    api::Statement revoke(other, "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1", "revoke");
    revoke.bind(1, created.key.id).bind(2, "2026-11-25T05:00:00.000Z").run();
  }
  clock.advance(ApiKeyService::kExternalChangeBound - 1ms);
  BOOST_TEST(keys.validateKey(created.secret, false).valid);  // the cache, within the bound
  clock.advance(1ms);
  BOOST_TEST(keys.validateKey(created.secret, false).reason == KeyRejection::kRevoked);
}

BOOST_AUTO_TEST_CASE(a_key_changed_by_hand_in_sql_is_refused_by_the_next_validation,
                     *boost::unit_test::precondition(testing_support::postgresOnly)) {
  const auto created = keys.createKey(request());
  BOOST_TEST(keys.validateKey(created.secret, false).valid);  // now cached
  // As psql would: the trigger on api_keys raises the epoch and notifies every listener.
  testing_support::execSql(path,
                           "UPDATE api_keys SET revoked_at = '2026-11-25T05:00:00Z'"
                           " WHERE id = '" +
                               created.key.id + "'");
  // No simulated time passes: only the notification (real time, milliseconds) can tell.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (keys.validateKey(created.secret, false).valid &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  BOOST_TEST(keys.validateKey(created.secret, false).reason == KeyRejection::kRevoked);
}

BOOST_AUTO_TEST_CASE(every_key_change_through_any_store_is_seen_by_the_next_validation) {
  // Each kind of change, made by another connection (as another process would), after the
  // key was cached here: no time passes, so only the change epoch can tell.
  const auto created = keys.createKey(request());
  ServiceNode other(path, settings, clock);
  BOOST_TEST(keys.validateKey(created.secret, false).valid);
  api::RateLimitService other_limits(settings, other.store, clock, other.logger, other.keys);
  other_limits.update(created.key.id, 7, "other");
  BOOST_TEST(keys.validateKey(created.secret, false).key->rate_limit == 7);
  const auto rotated = other.keys.rotateKey(created.key.id, 0ms, "other");
  BOOST_TEST(keys.validateKey(created.secret, false).reason == KeyRejection::kRevoked);
  BOOST_TEST(keys.validateKey(rotated.secret, false).valid);
  other.keys.revokeKey(rotated.key.id, "gone", "other");
  BOOST_TEST(keys.validateKey(rotated.secret, false).reason == KeyRejection::kRevoked);
}

BOOST_AUTO_TEST_CASE(validation_fails_closed_when_the_store_breaks) {
  const auto created = keys.createKey(request());
  testing_support::execSql(
      path, testing_support::onPostgres()
                ? "DROP TABLE api_rate_limits, api_requests, api_keys CASCADE"
                : "PRAGMA foreign_keys = OFF; DROP TABLE api_rate_limits; DROP TABLE api_requests;"
                  " DROP TABLE api_keys");
  const auto v = keys.validateKey(created.secret);
  BOOST_TEST(!v.valid);
  BOOST_TEST(v.reason == KeyRejection::kInternalError);
}

BOOST_AUTO_TEST_CASE(every_change_is_audited_without_the_secret) {
  const auto a = keys.createKey(request());
  keys.revokeKey(a.key.id, "gone", "ops");
  const auto b = keys.createKey(request());
  keys.rotateKey(b.key.id, 0ms, "ops");
  std::string actions;
  for (const auto& row :
       testing_support::querySql(path, "SELECT action FROM api_key_audit ORDER BY id")) {
    actions += (actions.empty() ? "" : ",") + row.front();
  }
  BOOST_TEST(actions == "create,revoke,create,rotate,create");
  // Every column of every row (coalesce: a NULL would drop the whole row from the search).
  std::string audit_text;
  const auto rows = testing_support::querySql(
      path,
      "SELECT key_id || coalesce(actor, '') || coalesce(reason, '') || details FROM api_key_audit");
  for (const auto& row : rows) {
    audit_text += row.front() + "|";
  }
  BOOST_TEST(rows.size() == 5u);
  BOOST_TEST(audit_text.find(a.secret) == std::string::npos);
  BOOST_TEST(audit_text.find(b.secret) == std::string::npos);
  const auto trail = keys.auditTrail(a.key.id);
  BOOST_REQUIRE(trail.size() == 2u);
  BOOST_TEST(trail[1].reason == "gone");
  BOOST_TEST(trail[1].actor == "ops");
}

BOOST_AUTO_TEST_CASE(listing_filters_by_user_and_activity) {
  const auto a = keys.createKey(request("u1"));
  clock.advance(1s);
  keys.createKey(request("u1"));
  clock.advance(1s);
  keys.createKey(request("u2"));
  keys.revokeKey(a.key.id, "", "t");
  BOOST_TEST(keys.listKeys(std::nullopt, false).size() == 3u);
  BOOST_TEST(keys.listKeys(std::string_view("u1"), false).size() == 2u);
  BOOST_TEST(keys.listKeys(std::string_view("u1"), true).size() == 1u);
  BOOST_TEST(keys.listKeys(std::nullopt, false).front().user_id == "u2");  // newest first
}

BOOST_AUTO_TEST_SUITE_END()
