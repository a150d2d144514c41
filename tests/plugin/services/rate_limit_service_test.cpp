// RateLimitService against a real store (SQLite or PostgreSQL, see test_database.hpp) with
// simulated time, checked against a brute-force reference model (tests/support/window_oracle.hpp):
// the list of admitted requests.
#include "services/rate_limit_service.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <ostream>
#include <thread>

#include "domain/errors.hpp"
#include "limit_answers.hpp"
#include "store_fixture.hpp"
#include "util/time_text.hpp"
#include "window_oracle.hpp"

namespace api {
std::ostream& operator<<(std::ostream& os, LimitOutcome outcome) {
  return os << limitOutcomeName(outcome);
}
}  // namespace api

namespace {

using namespace std::chrono_literals;
using api::LimitOutcome;
using testing_support::execSql;
using testing_support::onPostgres;
using testing_support::queryValue;

// Holds every other connection off api_rate_limits until released: SQLite's own lock on the
// whole file (EXCLUSIVE, or IMMEDIATE: writers only), or, on PostgreSQL, an ACCESS EXCLUSIVE
// lock on the table, which a store's read of the table waits for as SQLite's writers wait for
// the file.
struct WindowLock {
  WindowLock(const std::string& location, const char* sqlite_begin) : connection(location) {
    connection.exec(onPostgres() ? "BEGIN; LOCK TABLE api_rate_limits IN ACCESS EXCLUSIVE MODE"
                                 : sqlite_begin);
  }
  void release() { connection.exec("ROLLBACK"); }
  testing_support::SqlSession connection;
};

struct Fixture : testing_support::StoreFixture {
  Fixture() : StoreFixture("2026-01-01T10:00:00.000Z") {}

  testing_support::ServiceNode node{path, settings, clock};
  api::Stores& store = node.store;
  api::HostLogger& logger = node.logger;
  api::ApiKeyService& keys = node.keys;
  api::RateLimitService limits{settings, store, clock, logger, keys};

  std::string newKey(std::int64_t limit) {
    api::CreateKeyRequest r;
    r.user_id = "u";
    r.name = "k";
    r.rate_limit = limit;
    return keys.createKey(r).key.id;
  }
  // A key with `limit` that expires an hour from now.
  std::string newExpiringKey(std::int64_t limit) {
    api::CreateKeyRequest r;
    r.user_id = "u";
    r.name = "short-lived";
    r.rate_limit = limit;
    r.expires_in = std::chrono::hours(1);
    return keys.createKey(r).key.id;
  }
  void window(std::int64_t window_ms, std::int64_t sub_windows) {
    settings.rate_limits.window_ms = window_ms;
    settings.rate_limits.sub_windows = sub_windows;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(rate_limit_service, Fixture)

// The limiter on SQLite, one key per sequence, as the system under test of window_oracle.hpp.
struct ServiceUnderTest {
  Fixture& f;
  const testing_support::WindowSequence& sequence;
  std::string key;

  void setNow(std::int64_t ms) { f.clock.set(api::TimePoint(std::chrono::milliseconds(ms))); }
  void updateLimit(std::int64_t limit) { f.limits.update(key, limit, "test"); }
  void reset() { f.limits.reset(key, "test"); }
  void cleanup() {  // what ApiModule::cleanup runs
    f.store.windows().deleteEnded(
        f.clock.now() - std::chrono::milliseconds(sequence.sub_ms * sequence.n), sequence.sub_ms);
  }
  testing_support::WindowAnswer decide(std::int64_t cost, bool consume) {
    return testing_support::windowAnswerOf(consume ? f.limits.check(key, cost)
                                                   : f.limits.peek(key, cost));
  }
  testing_support::WindowStatusAnswer status() {
    const api::LimitStatus s = f.limits.status(key);
    BOOST_REQUIRE(s.window_size_ms == sequence.sub_ms * sequence.n);
    return testing_support::windowStatusOf(s);
  }
};

BOOST_AUTO_TEST_CASE(agrees_with_the_reference_model_on_random_sequences) {
  const char* seed_text = std::getenv("RATE_LIMIT_SEED");
  const std::uint64_t seed =
      seed_text != nullptr ? std::strtoull(seed_text, nullptr, 10) : 20261125;
  testing_support::WindowSequenceGenerator generator(seed);
  long decisions = 0;
  for (int sequence = 0; sequence < 2000; ++sequence) {
    const testing_support::WindowSequence s =
        generator.next(clock.now().time_since_epoch().count());
    window(s.sub_ms * s.n, s.n);
    ServiceUnderTest service{*this, s, newKey(s.limit)};
    const std::string failure = testing_support::runWindowSequence(s, service, decisions);
    BOOST_REQUIRE_MESSAGE(
        failure.empty(), "RATE_LIMIT_SEED=" << seed << " sequence " << sequence << ": " << failure);
  }
  BOOST_TEST(decisions > 50'000);
}

BOOST_AUTO_TEST_CASE(a_full_window_before_a_fixed_boundary_stays_full_after_it) {
  window(3'600'000, 60);
  const std::string key = newKey(100);
  clock.set(*api::parseIsoUtc("2026-01-01T10:59:59.000Z"));
  for (int i = 0; i < 100; ++i) {
    BOOST_REQUIRE(limits.check(key).allowed);
  }
  BOOST_TEST(!limits.check(key).allowed);
  clock.set(*api::parseIsoUtc("2026-01-01T11:00:00.500Z"));  // a fixed window would reopen here
  const api::LimitDecision d = limits.check(key);
  BOOST_TEST(!d.allowed);
  BOOST_TEST(d.remaining == 0);
  BOOST_TEST(api::formatIsoUtc(d.reset_at) == "2026-01-01T11:59:00.000Z");
  BOOST_REQUIRE(d.retry_after.has_value());
  BOOST_TEST(d.retry_after->count() == (58 * 60 + 59) * 1000 + 500);
  clock.set(*api::parseIsoUtc("2026-01-01T11:59:00.000Z"));  // the 10:59 sub-window slides out
  BOOST_TEST(limits.check(key).allowed);
}

BOOST_AUTO_TEST_CASE(peek_counts_nothing_and_cost_is_checked) {
  window(60'000, 60);
  const std::string key = newKey(3);
  BOOST_TEST(limits.peek(key, 3).allowed);
  BOOST_TEST(limits.peek(key, 3).allowed);
  BOOST_TEST(limits.check(key, 2).remaining == 1);
  BOOST_TEST(!limits.check(key, 2).allowed);
  const api::LimitDecision too_big = limits.check(key, 4);
  BOOST_TEST(too_big.outcome == LimitOutcome::kCostExceedsLimit);
  BOOST_TEST(!too_big.retry_after.has_value());
  BOOST_CHECK_THROW(limits.check(key, 0), api::InvalidInput);
  BOOST_CHECK_THROW(limits.check(key, -1), api::InvalidInput);
  BOOST_TEST(limits.check("key_unknown").outcome == LimitOutcome::kUnknownKey);
}

BOOST_AUTO_TEST_CASE(status_reset_and_update_are_reported_and_audited) {
  window(3'600'000, 60);
  const std::string key = newKey(10);
  for (int i = 0; i < 8; ++i) {
    limits.check(key);
  }
  api::LimitStatus s = limits.status(key);
  BOOST_TEST(s.used == 8);
  BOOST_TEST(s.remaining == 2);
  BOOST_TEST(api::formatIsoUtc(s.window_start) == "2026-01-01T09:01:00.000Z");
  BOOST_TEST(api::formatIsoUtc(s.window_end) == "2026-01-01T10:01:00.000Z");
  BOOST_TEST(api::formatIsoUtc(s.reset_at) == "2026-01-01T11:00:00.000Z");
  BOOST_TEST(limits.update(key, 5, "ops") == 10);
  s = limits.status(key);
  BOOST_TEST(s.used == 8);  // above the new limit: shown, and the next check is refused
  BOOST_TEST(s.remaining == 0);
  BOOST_TEST(!limits.check(key).allowed);
  BOOST_TEST(limits.reset(key, "ops") == 8);
  BOOST_TEST(limits.status(key).used == 0);
  BOOST_TEST(limits.check(key).allowed);
  const auto trail = keys.auditTrail(key);
  BOOST_REQUIRE(trail.size() == 3u);
  BOOST_TEST(trail[1].action == "update_limit");
  BOOST_TEST(trail[1].details_json == R"({"old_limit":10,"new_limit":5})");
  BOOST_TEST(trail[2].action == "reset_rate_limit");
  BOOST_CHECK_THROW(limits.update(key, 0, "ops"), api::InvalidInput);
  BOOST_CHECK_THROW(limits.status("key_unknown"), api::NotFound);
  BOOST_CHECK_THROW(limits.reset("key_unknown", "ops"), api::NotFound);
  const size_t audited = keys.auditTrail(key).size();
  BOOST_CHECK_THROW(limits.update(key, 9, "ops\x1b[1A"), api::InvalidInput);
  BOOST_CHECK_THROW(limits.reset(key, "ops\n2026-01-01 revoke"), api::InvalidInput);
  BOOST_TEST(keys.auditTrail(key).size() == audited);
  BOOST_TEST(limits.status(key).limit == 5);
}

BOOST_AUTO_TEST_CASE(changes_from_another_connection_apply_to_the_next_check) {
  window(3'600'000, 60);
  const std::string key = newKey(2);
  testing_support::ServiceNode other_node(path, settings, clock);
  api::RateLimitService other(settings, other_node.store, clock, logger, other_node.keys);
  BOOST_TEST(limits.check(key).allowed);
  BOOST_TEST(other.check(key).allowed);
  BOOST_TEST(!limits.check(key).allowed);  // one window, shared across connections
  other.reset(key, "cli");
  BOOST_TEST(limits.check(key).allowed);
  other.update(key, 1, "cli");
  BOOST_TEST(!limits.check(key).allowed);
}

BOOST_AUTO_TEST_CASE(a_locked_or_broken_store_fails_closed_unless_fail_open) {
  window(60'000, 60);
  const std::string key = newKey(5);
  // No busy wait on SQLite; on PostgreSQL a lock timeout of 100 ms.
  testing_support::ServiceNode impatient(path, settings, clock, 0);
  api::RateLimitService gate(settings, impatient.store, clock, logger, impatient.keys);
  // Served before the lock, so that on PostgreSQL the check below has its statements prepared
  // and waits inside its transaction, on reading the windows.
  BOOST_TEST(gate.check(key).allowed);
  {
    WindowLock locker(path, "BEGIN EXCLUSIVE");
    const api::LimitDecision closed = gate.check(key);
    BOOST_TEST(!closed.allowed);
    BOOST_TEST(closed.outcome == LimitOutcome::kStoreError);
    BOOST_TEST(!closed.failed_open);
    settings.rate_limits.fail_open = true;
    const api::LimitDecision open = gate.check(key);
    BOOST_TEST(open.allowed);
    BOOST_TEST(open.failed_open);
    BOOST_TEST(gate.failOpenCount() == 1u);
    locker.release();
  }
  settings.rate_limits.fail_open = false;
  BOOST_TEST(gate.check(key).allowed);  // the lock is gone: normal service
  BOOST_TEST(gate.failOpenCount() == 1u);
  execSql(path, "DROP TABLE api_rate_limits");  // breaking the store
  const api::LimitDecision broken = gate.check(key);
  BOOST_TEST(!broken.allowed);
  BOOST_TEST(broken.outcome == LimitOutcome::kStoreError);
}

BOOST_AUTO_TEST_CASE(cleanup_while_checks_run_keeps_every_decision_exact) {
  window(1'000, 10);  // 100 ms sub-windows
  const std::string key = newKey(50);
  clock.set(*api::parseIsoUtc("2026-01-01T10:00:00.000Z"));
  // Old rows that cleanup may delete, next to the live ones it must not touch.
  execSql(path, "INSERT INTO api_rate_limits VALUES ('" + key + "', 1000, 100, 7, 50), ('" + key +
                    "', 1100, 100, 7, 50)");
  const auto cleaner_stores = testing_support::openTestStores(path, 5000);
  api::Stores& cleaner_store = *cleaner_stores;
  std::atomic<bool> done{false};
  std::atomic<long> deleted{0};
  std::atomic<long> passes{0};
  std::thread cleaner([&] {
    do {
      deleted += cleaner_store.windows().deleteEnded(clock.now() - 1000ms, 100);
      ++passes;
    } while (!done || passes < 20);
  });
  while (passes == 0) {
    std::this_thread::yield();
  }
  int admitted = 0;
  for (int i = 0; i < 200; ++i) {
    admitted += limits.check(key).allowed ? 1 : 0;
  }
  done = true;
  cleaner.join();
  BOOST_TEST(admitted == 50);
  BOOST_TEST(deleted.load() == 2);
  BOOST_TEST(limits.status(key).used == 50);
}

BOOST_AUTO_TEST_CASE(after_a_clock_step_back_retry_after_looks_past_every_counted_request) {
  window(20'000, 2);  // 10 s sub-windows
  const std::string key = newKey(1);
  const std::int64_t k = clock.now().time_since_epoch().count() / 10'000;
  // Admitted before the clock stepped back: requests in sub-windows k+1 and k+3.
  execSql(path, "INSERT INTO api_rate_limits VALUES ('" + key + "', " +
                    std::to_string((k + 1) * 10'000) + ", 10000, 1, 1), ('" + key + "', " +
                    std::to_string((k + 3) * 10'000) + ", 10000, 1, 1)");
  const api::LimitDecision d = limits.check(key);
  BOOST_TEST(!d.allowed);
  BOOST_TEST(d.outcome == LimitOutcome::kOverLimit);
  // k+1 .. k+4 each share a run with a counted sub-window; the first clear one is k+5.
  BOOST_REQUIRE(d.retry_after.has_value());
  BOOST_TEST(d.retry_after->count() == (k + 5) * 10'000 - clock.now().time_since_epoch().count());
}

BOOST_AUTO_TEST_CASE(the_decision_time_is_read_once_the_lock_is_held) {
  window(10'000, 10);  // 1 s sub-windows
  const std::string key = newKey(5);
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(limits.check(key).allowed);
  }
  BOOST_TEST(!limits.check(key).allowed);
  // SQLite: the check waits for the write lock. PostgreSQL: it takes its key's lock, then
  // waits to read the key's windows; the time must be read after both.
  WindowLock locker(path, "BEGIN IMMEDIATE");
  api::LimitDecision late;
  std::thread waiting([&] { late = limits.check(key); });  // waits for the lock
  std::this_thread::sleep_for(200ms);
  clock.advance(13s);  // the whole window passes while the check waits
  locker.release();
  waiting.join();
  // Decided and counted at the time the lock was obtained, not at the time it was asked for:
  // a request counted 13 s in the past would have counted for nothing from then on.
  BOOST_TEST(late.allowed);
  BOOST_TEST(late.remaining == 4);
  BOOST_TEST(queryValue(path, "SELECT max(window_start) FROM api_rate_limits WHERE key_id = '" +
                                  key + "'") ==
             std::to_string(clock.now().time_since_epoch().count() / 1000 * 1000));
}

BOOST_AUTO_TEST_CASE(a_revoked_or_expired_key_is_refused_and_not_counted) {
  window(60'000, 60);
  const std::string revoked = newKey(5);
  BOOST_TEST(limits.check(revoked).allowed);
  keys.revokeKey(revoked, "test", "test");
  const api::LimitDecision r = limits.check(revoked);
  BOOST_TEST(!r.allowed);
  BOOST_TEST(r.outcome == LimitOutcome::kKeyRevoked);
  BOOST_TEST(limits.status(revoked).used == 0);  // revocation cleared it; nothing new counted

  const std::string expiring = newExpiringKey(5);
  BOOST_TEST(limits.check(expiring).allowed);
  clock.advance(2h);
  const api::LimitDecision e = limits.check(expiring);
  BOOST_TEST(!e.allowed);
  BOOST_TEST(e.outcome == LimitOutcome::kKeyExpired);
  // The check before expiry, and nothing after.
  BOOST_TEST(queryValue(path, "SELECT sum(request_count) FROM api_rate_limits WHERE key_id = '" +
                                  expiring + "'") == "1");
}

BOOST_AUTO_TEST_CASE(fail_open_never_admits_a_key_whose_state_cannot_be_read) {
  window(60'000, 60);
  settings.rate_limits.fail_open = true;
  const std::string key = newKey(5);
  keys.revokeKey(key, "test", "test");
  // The store answers, but the revocation time it holds cannot be read: that is no reason
  // to admit the request as if the store were unreachable. SQLite's column holds any text;
  // PostgreSQL's timestamptz only times, but '-infinity' is none this module can represent.
  execSql(path, std::string("UPDATE api_keys SET revoked_at = ") +
                    (onPostgres() ? "'-infinity'" : "'garbage'") + " WHERE id = '" + key + "'");
  const api::LimitDecision d = limits.check(key);
  BOOST_TEST(!d.allowed);
  BOOST_TEST(!d.failed_open);
  BOOST_TEST(d.outcome == LimitOutcome::kStoreError);
  BOOST_TEST(limits.failOpenCount() == 0u);
}

BOOST_AUTO_TEST_CASE(fail_open_never_admits_on_a_store_that_answers_but_is_broken) {
  window(60'000, 60);
  settings.rate_limits.fail_open = true;
  const std::string key = newKey(5);
  BOOST_TEST(limits.check(key).allowed);
  // A corrupt store (a table gone) answers: it is refused, not taken for an unreachable one.
  execSql(path, "DROP TABLE api_rate_limits");
  const api::LimitDecision broken = limits.check(newKey(5));
  BOOST_TEST(!broken.allowed);
  BOOST_TEST(!broken.failed_open);
  BOOST_TEST(broken.outcome == LimitOutcome::kStoreError);
  BOOST_TEST(limits.failOpenCount() == 0u);
}

BOOST_AUTO_TEST_CASE(reset_and_update_refuse_a_revoked_or_expired_key_and_write_nothing) {
  window(60'000, 60);
  const std::string revoked = newKey(5);
  keys.revokeKey(revoked, "test", "test");
  const std::string expired = newExpiringKey(5);
  clock.advance(2h);
  const auto audit_rows = [&](const std::string& id) { return keys.auditTrail(id).size(); };
  const size_t revoked_audit = audit_rows(revoked);
  const size_t expired_audit = audit_rows(expired);
  const auto conflict = [](const std::string& state) {
    return [state](const api::Conflict& e) {
      const std::string message = e.what();
      BOOST_TEST_INFO(message);
      return message.find("is " + state + " (at ") != std::string::npos &&
             message.find("refusing to") != std::string::npos;
    };
  };
  BOOST_CHECK_EXCEPTION(limits.update(revoked, 10, "test"), api::Conflict, conflict("revoked"));
  BOOST_CHECK_EXCEPTION(limits.reset(revoked, "test"), api::Conflict, conflict("revoked"));
  BOOST_CHECK_EXCEPTION(limits.update(expired, 10, "test"), api::Conflict, conflict("expired"));
  BOOST_CHECK_EXCEPTION(limits.reset(expired, "test"), api::Conflict, conflict("expired"));
  BOOST_TEST(keys.getKey(revoked).rate_limit == 5);
  BOOST_TEST(keys.getKey(expired).rate_limit == 5);
  BOOST_TEST(audit_rows(revoked) == revoked_audit);
  BOOST_TEST(audit_rows(expired) == expired_audit);
  BOOST_CHECK_THROW(limits.update("key_0000000000000000", 10, "test"), api::NotFound);
}

BOOST_AUTO_TEST_SUITE_END()
