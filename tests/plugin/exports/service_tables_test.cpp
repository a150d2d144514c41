// The C tables called directly in-process, as a sibling module calls them, over a real SQLite
// store in a temporary directory: sizes refused and accepted, errors mapped to their
// statuses, authorize's outcome.
#include "exports/service_tables.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "api_module.hpp"
#include "present/documents.hpp"
#include "process.hpp"
#include "services/api_key_service.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "systemprompt/api_services.h"
#include "systemprompt/module.hpp"
#include "util/time_text.hpp"

namespace {

struct Tables {
  testing_support::TempDir dir;
  sp_host_api host{};
  api::ManualClock* time = nullptr;
  std::unique_ptr<api::ApiModule> module;
  sp_api_key_service keys{};
  sp_rate_limit_service limits{};
  sp_error error = systemprompt::makeError();

  explicit Tables(std::int64_t max_keys_per_user = 0) {
    host.size = sizeof(host);
    host.abi_major = SP_ABI_VERSION_MAJOR;
    host.abi_minor = SP_ABI_VERSION_MINOR;
    api::ApiSettings settings;
    settings.store.database_path = dir.path() + "/api.sqlite3";
    settings.keys.max_active_per_user = max_keys_per_user;
    settings.rate_limits.default_limit = 2;
    auto clock = std::make_unique<api::ManualClock>(*api::parseIsoUtc("2026-11-25T06:00:00.000Z"));
    time = clock.get();
    auto store = std::make_unique<api::SqliteStores>(
        api::SqliteStoreOptions{settings.store.database_path, 1000});
    module = std::make_unique<api::ApiModule>(host, settings, std::move(clock), std::move(store));
    keys = api::makeKeyServiceTable(module->services());
    limits = api::makeRateLimitServiceTable(module->services());
  }

  sp_api_key_created create(const char* user = "ann") {
    sp_api_key_create_request request{};
    request.size = sizeof(request);
    request.user_id = user;
    request.name = "k";
    sp_api_key_created created{};
    created.size = sizeof(created);
    BOOST_REQUIRE_MESSAGE(keys.create(keys.ctx, &request, &created, &error) == SP_OK,
                          error.message);
    return created;
  }

  sp_status create(const char* user, sp_api_key_created& out) {
    sp_api_key_create_request request{};
    request.size = sizeof(request);
    request.user_id = user;
    request.name = "k";
    out.size = sizeof(out);
    return keys.create(keys.ctx, &request, &out, &error);
  }

  sp_authorization authorize(const std::string& key, std::int64_t cost = 1) {
    sp_authorization out{};
    out.size = sizeof(out);
    BOOST_REQUIRE_MESSAGE(
        limits.authorize(limits.ctx, key.data(), key.size(), cost, &out, &error) == SP_OK,
        error.message);
    return out;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(service_tables)

BOOST_AUTO_TEST_CASE(a_long_scope_list_is_refused_without_reading_past_its_bound) {
  // The text ends, with no NUL, right before a page nothing may read: a scan past one byte
  // over the bound (strlen) would fault, in any build.
  Tables t;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t text_size = api::kMaxScopesText + 1;
  const size_t span = (text_size / page + 2) * page;
  void* region = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BOOST_TEST_REQUIRE((region != MAP_FAILED));
  char* guard = static_cast<char*>(region) + span - page;
  BOOST_TEST_REQUIRE(::mprotect(guard, page, PROT_NONE) == 0);
  char* text = guard - text_size;
  std::memset(text, 'a', text_size);

  sp_api_key_create_request request{};
  request.size = sizeof(request);
  request.user_id = "ann";
  request.name = "k";
  request.scopes = text;
  sp_api_key_created out{};
  out.size = sizeof(out);
  BOOST_TEST(t.keys.create(t.keys.ctx, &request, &out, &t.error) == SP_ERROR_INVALID);
  BOOST_TEST(std::string(t.error.message)
                     .find("scopes is longer than " + std::to_string(api::kMaxScopesText) +
                           " bytes") != std::string::npos,
             t.error.message);
  ::munmap(region, span);
}

BOOST_AUTO_TEST_CASE(validate_refuses_a_size_below_its_first_layout_and_accepts_a_larger_one) {
  Tables t;
  const sp_api_key_created created = t.create();
  const std::string secret = created.secret;

  sp_api_key_validation small{};
  small.size = SP_API_KEY_VALIDATION_SIZE_1_1 - 1;
  BOOST_TEST(t.keys.validate(t.keys.ctx, secret.data(), secret.size(), &small, &t.error) ==
             SP_ERROR_INVALID);
  BOOST_TEST(std::string(t.error.message).find("first layout") != std::string::npos,
             t.error.message);

  // A caller built against a later header declares more: accepted, the rest left alone.
  struct Grown {
    sp_api_key_validation v;
    unsigned char later[32];
  } grown{};
  std::memset(grown.later, 0x5A, sizeof(grown.later));
  grown.v.size = sizeof(grown);
  BOOST_TEST(t.keys.validate(t.keys.ctx, secret.data(), secret.size(), &grown.v, &t.error) ==
             SP_OK);
  BOOST_TEST(grown.v.valid == 1);
  BOOST_TEST(std::string(grown.v.key_id) == created.key_id);
  for (unsigned char byte : grown.later) {
    BOOST_REQUIRE(byte == 0x5A);
  }
}

BOOST_AUTO_TEST_CASE(every_struct_below_its_first_layout_is_refused_as_invalid) {
  Tables t;
  const sp_api_key_created created = t.create();
  sp_api_key_info info{};
  info.size = SP_API_KEY_INFO_SIZE_1_1 - 1;
  BOOST_TEST(t.keys.get(t.keys.ctx, created.key_id, &info, &t.error) == SP_ERROR_INVALID);
  info.size = SP_API_KEY_INFO_SIZE_1_1;  // a 1.1 caller: served, 1.3 members not written
  BOOST_TEST(t.keys.get(t.keys.ctx, created.key_id, &info, &t.error) == SP_OK);
  BOOST_TEST(std::string(info.key_id) == created.key_id);
  BOOST_TEST(info.metadata_json[0] == '\0');

  sp_rate_limit_status status{};
  status.size = SP_RATE_LIMIT_STATUS_SIZE_1_1 - 8;
  BOOST_TEST(t.limits.status(t.limits.ctx, created.key_id, &status, &t.error) == SP_ERROR_INVALID);
  sp_authorization a{};
  a.size = SP_AUTHORIZATION_SIZE_1_1 - 1;
  BOOST_TEST(t.limits.authorize(t.limits.ctx, "x", 1, 1, &a, &t.error) == SP_ERROR_INVALID);
  sp_health health{};
  health.size = SP_HEALTH_SIZE_1_0 - 1;
  BOOST_TEST(t.keys.health(t.keys.ctx, &health, &t.error) == SP_ERROR_INVALID);
  health.size = sizeof(health);
  BOOST_TEST(t.keys.health(t.keys.ctx, &health, &t.error) == SP_OK);
  BOOST_TEST(health.healthy == 1, health.detail);
}

BOOST_AUTO_TEST_CASE(conflicts_are_told_apart_from_other_failures) {
  Tables t(1 /* max_keys_per_user */);
  const sp_api_key_created created = t.create("ann");

  sp_api_key_created second{};
  BOOST_TEST(t.create("ann", second) == SP_ERROR_CONFLICT);  // ann is at maxKeysPerUser
  BOOST_TEST(std::string(t.error.message).find("maxKeysPerUser") != std::string::npos,
             t.error.message);

  BOOST_TEST(t.keys.revoke(t.keys.ctx, "key_0000000000000000", nullptr, nullptr, &t.error) ==
             SP_ERROR_NOT_FOUND);
  BOOST_TEST(t.keys.revoke(t.keys.ctx, "sk_not-a-key", nullptr, nullptr, &t.error) ==
             SP_ERROR_INVALID);
  BOOST_REQUIRE(t.keys.revoke(t.keys.ctx, created.key_id, "gone", "test", &t.error) == SP_OK);
  BOOST_TEST(t.keys.revoke(t.keys.ctx, created.key_id, "again", "test", &t.error) ==
             SP_ERROR_CONFLICT);
  BOOST_TEST(std::string(t.error.message).find("already revoked") != std::string::npos,
             t.error.message);

  sp_api_key_created rotated{};
  rotated.size = sizeof(rotated);
  BOOST_TEST(t.keys.rotate(t.keys.ctx, created.key_id, 0, "test", &rotated, &t.error) ==
             SP_ERROR_CONFLICT);
  BOOST_TEST(t.limits.reset(t.limits.ctx, created.key_id, "test", &t.error) == SP_ERROR_CONFLICT);
  BOOST_TEST(t.limits.update(t.limits.ctx, created.key_id, 10, "test", &t.error) ==
             SP_ERROR_CONFLICT);
  BOOST_TEST(t.limits.update(t.limits.ctx, created.key_id, 0, "test", &t.error) ==
             SP_ERROR_INVALID);  // a bad limit is refused before the key's state is read
  BOOST_TEST(t.limits.reset(t.limits.ctx, "key_0000000000000000", "test", &t.error) ==
             SP_ERROR_NOT_FOUND);
}

BOOST_AUTO_TEST_CASE(authorize_answers_its_outcome_beside_the_reason) {
  Tables t;  // default limit 2
  const sp_api_key_created created = t.create();
  const std::string secret = created.secret;

  sp_authorization a = t.authorize(secret);
  BOOST_TEST(a.allowed == 1);
  BOOST_TEST(std::string(a.reason) == "ok");
  BOOST_TEST(a.outcome == SP_AUTHORIZE_OK);
  a = t.authorize(secret, 5);
  BOOST_TEST(std::string(a.reason) == "cost_exceeds_limit");
  BOOST_TEST(a.outcome == SP_AUTHORIZE_COST_EXCEEDS_LIMIT);
  t.authorize(secret);
  a = t.authorize(secret);
  BOOST_TEST(a.allowed == 0);
  BOOST_TEST(std::string(a.reason) == "over_limit");
  BOOST_TEST(a.outcome == SP_AUTHORIZE_OVER_LIMIT);
  BOOST_TEST(a.limit.retry_after_ms > 0);
  a = t.authorize("sk_not-a-key");
  BOOST_TEST(a.outcome == SP_AUTHORIZE_MALFORMED);
  BOOST_REQUIRE(t.keys.revoke(t.keys.ctx, created.key_id, "", "test", &t.error) == SP_OK);
  a = t.authorize(secret);
  BOOST_TEST(std::string(a.reason) == "revoked");
  BOOST_TEST(a.outcome == SP_AUTHORIZE_REVOKED);

  // A 1.1 caller's struct ends at `limit`: the outcome is not written past its size.
  struct Old {
    sp_authorization a;
  } old{};
  std::memset(&old, 0x5A, sizeof(old));
  old.a.size = SP_AUTHORIZATION_SIZE_1_1;
  BOOST_REQUIRE(
      t.limits.authorize(t.limits.ctx, secret.data(), secret.size(), 1, &old.a, &t.error) == SP_OK);
  const auto* bytes = reinterpret_cast<const unsigned char*>(&old.a);
  for (size_t i = SP_AUTHORIZATION_SIZE_1_1; i < sizeof(old.a); ++i) {
    BOOST_REQUIRE(bytes[i] == 0x5A);
  }
  BOOST_TEST(std::string(old.a.reason) == "revoked");
}

BOOST_AUTO_TEST_CASE(usage_statistics_are_the_presentation_layers_document) {
  Tables t;
  const sp_api_key_created created = t.create();
  size_t needed = 0;
  char tiny[8];
  BOOST_TEST(t.keys.get_usage_stats(t.keys.ctx, "24h", created.key_id, tiny, sizeof(tiny), &needed,
                                    &t.error) == SP_ERROR_INVALID);
  BOOST_REQUIRE(needed > sizeof(tiny));
  std::vector<char> json(needed);
  BOOST_REQUIRE(t.keys.get_usage_stats(t.keys.ctx, "24h", created.key_id, json.data(), json.size(),
                                       &needed, &t.error) == SP_OK);
  const api::UsageStats stats =
      t.module->services().usage.stats(api::Span{24, 'h'}, std::string(created.key_id));
  BOOST_TEST(std::string(json.data()) == api::jsonText(api::usageObject(stats, "24h")));
  BOOST_TEST(t.keys.get_usage_stats(t.keys.ctx, "30x", nullptr, json.data(), json.size(), &needed,
                                    &t.error) == SP_ERROR_INVALID);
  BOOST_TEST(t.keys.get_usage_stats(t.keys.ctx, "24h", "key_0000000000000000", json.data(),
                                    json.size(), &needed, &t.error) == SP_ERROR_NOT_FOUND);
}

BOOST_AUTO_TEST_SUITE_END()
